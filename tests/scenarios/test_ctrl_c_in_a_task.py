"""Ctrl-C while the harness's event loop runs a task: the interrupt must end the run without leaving a task that
holds it (asyncio prints such a task as a "Task exception was never retrieved" traceback when it is collected)."""
import asyncio
import signal

import pytest

from scenarios.runner import raise_outside_tasks


def test_ctrl_c_during_a_task_step_stops_the_loop_and_leaves_the_task_clean():
    loop = asyncio.new_event_loop()
    previous = signal.signal(signal.SIGINT, lambda signum, frame: raise_outside_tasks(KeyboardInterrupt))

    async def step_that_gets_ctrl_c() -> str:
        signal.raise_signal(signal.SIGINT)  # the handler runs here, inside this task's step
        return "step finished"

    try:
        task = loop.create_task(step_that_gets_ctrl_c())
        with pytest.raises(KeyboardInterrupt):
            loop.run_until_complete(task)
        assert task.done() and task.exception() is None, "the interrupt was stored on the task"
        assert task.result() == "step finished"
    finally:
        signal.signal(signal.SIGINT, previous)
        loop.close()


def test_ctrl_c_outside_any_loop_raises_at_once():
    with pytest.raises(KeyboardInterrupt):
        raise_outside_tasks(KeyboardInterrupt)
