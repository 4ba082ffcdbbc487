"""Ctrl-C while the harness's event loop runs a task: the interrupt must end the run without leaving a task that
holds it (asyncio prints such a task as a "Task exception was never retrieved" traceback when it is collected)."""
import asyncio
import gc
import signal

import pytest

from scenarios.budget import run_guarded
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


@pytest.mark.parametrize("guard", [None, 30.0], ids=["no-guard", "wall-guard"])
def test_work_cut_off_by_ctrl_c_is_cancelled_and_nothing_is_reported_when_the_loop_runs_again(guard):
    # As in `pstnsim chaos run`: Ctrl-C while the machine installs faults, then the teardown runs the loop again
    # (closing clients). The cut-off work must not resume against them, or asyncio prints its error on collection.
    loop = asyncio.new_event_loop()
    reported: list[dict] = []
    loop.set_exception_handler(lambda _loop, context: reported.append(context))

    async def install_faults() -> None:
        loop.call_soon(raise_outside_tasks, KeyboardInterrupt)  # Ctrl-C lands while this waits
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise RuntimeError("Connector is closed") from None  # what a resumed call met after the teardown

    async def teardown() -> None:
        pass

    try:
        with pytest.raises(KeyboardInterrupt):
            run_guarded(loop, install_faults(), guard)
        loop.run_until_complete(teardown())
        assert asyncio.all_tasks(loop) == set(), "the cut-off work is still waiting"
        gc.collect()
        assert reported == []
    finally:
        loop.close()
