"""Driving a replay plan against a world: every event at its recorded offset, then quiescence and the checks.

The same driver and checks as a chaos run (scenarios.driver, scenarios.checkers): each business operation
is started at `t0 + offset / speed` in recorded order (operations at one instant start in the order the
trace lists them), a crash kills and restarts the in-process core, a gray change and a provider-side
expiry happen as they did. After the last one the harness waits for quiescence, observes, and runs the
checks, exactly as a chaos run's settle step does.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Callable

from ..checkers import CHECKS, CheckResult, run_checks
from ..history import Operation
from ..world import World
from .plan import Event, ReplayPlan

EXPIRE_IN = 1  # seconds: a chaos run's provider-side expiry (driver.expire_and_unbind)


@dataclass
class Driven:
    t0: float  # the loop's clock when the first event was due
    end: float
    results: list[CheckResult]
    answers: dict[int, Operation] = field(default_factory=dict)  # business seq -> the history operation
    quiescent: bool = True
    notes: list[str] = field(default_factory=list)


async def drive(plan: ReplayPlan, world: World, *, speed: float = 1.0,
                on_event: Callable[[int, Event, float], None] | None = None) -> Driven:
    """Run `plan` against a started `world`; the world's driver keeps the history the checks read."""
    driver = world.driver
    driver.managed_xs = set(plan.numbers)
    await driver.record_initial(plan.numbers)
    driver.downtime += plan.outage_downtime
    t0 = driver.now()
    answers: dict[int, Operation] = {}
    notes: list[str] = []
    tasks: list[asyncio.Task[None]] = []

    async def do(event: Event) -> None:
        if event.kind in ("bind", "unbind"):
            op = event.operation
            assert op is not None
            if op.op == "bind":
                answers[op.seq] = await driver.bind(op.x, op.mode, op.a, op.b)
            else:
                answers[op.seq] = await driver.unbind(op.x, op.mode)
        elif event.kind == "read":
            await driver.read(str(event.x))
        elif event.kind == "crash":
            if world.can_crash:
                await world.crash_and_restart(event.downtime)
            else:
                notes.append(f"the recorded core crash at {event.offset:g}s was not replayed: a service by URL "
                             "cannot be crashed by the harness")
        elif event.kind == "gray":
            await world.set_gray(event.gray_all, list(event.numbers))
        elif event.kind == "expire" and event.binding_id:
            await driver.provider.expire_soon(event.binding_id, seconds=EXPIRE_IN)

    current = 0  # the recorded rule whose events are being started

    async def end_rules(until: int) -> None:
        """What the machine did between rules: wait for the rule's work, read the finished operations and
        the transitions (the per-step check), and for a settle wait for quiescence."""
        nonlocal current
        for step in plan.steps[current:until]:
            await asyncio.gather(*tasks)
            await driver.refresh_tracked()
            await driver.core_transitions()
            if step.rule == "settle":
                await driver.wait_quiescent(driver.policy.quiet_within() + driver.downtime)
        current = max(current, until)

    for index, event in enumerate(plan.events):
        if event.step is not None and event.step > current:
            await end_rules(event.step)
        delay = t0 + event.offset / speed - driver.now()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(do(event)))
        if on_event is not None:
            on_event(index, event, driver.now() - t0)
    await asyncio.gather(*tasks)
    await driver.refresh_tracked()
    quiescent = await driver.wait_quiescent(driver.policy.quiet_within() + driver.downtime)
    observation = await driver.observe(calls=plan.scenario.workload.calls, callers=plan.parties)
    results = run_checks(observation, CHECKS.select(plan.checks))
    return Driven(t0, driver.now(), results, answers, quiescent, notes)
