"""The Hypothesis state machine that drives a binding core against the simulator.

Rules are synchronous and run coroutines on a loop the machine owns (a looptime
loop in-process, so everything shares virtual time). Each example gets a fresh
world (provider + core + temp database). Rules: bursts of concurrent operations
with drawn start offsets (so in-flight operations overlap), fault rules added
and removed, core crash and restart, gray-list changes, time advancing, and a
settle step that heals the provider, waits for quiescence, places calls and
checks every invariant. Legal transitions are checked after every step.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, TypeVar

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from .budget import SearchBudget, WallGuardExpired, run_guarded
from .checkers import CHECKS, CheckResult, run_checks
from .checkers.registry import Violation
from .dialect_ops import translate_rule
from .driver import Step
from .example_log import machine_telemetry
from .fault_library import fault_rules
from .scenario_file import Scenario
from .world import NumbersUsedUp, World

T = TypeVar("T")
ADVANCE_CHOICES = (0.5, 2.0, 10.0, 60.0, 300.0)
OFFSET_SLOTS = 10
# The sweep's race (rebind_at_doubt_end): how long the provider holds the first create (past the core's timeout,
# within the provider's request deadline) and when X is bound again, relative to the end of that bind's doubt.
HOLD_CHOICES = (5.0, 10.0, 20.0)
REBIND_LEADS = (-1.0, 0.5, 1.0, 2.0, 3.0, 8.0)
SETTLE_EVERY = 3  # at least this many steps between settles, so work piles up between checks
STOP_WORLD_WITHIN = 30.0  # seconds (virtual in-process) to stop a world after Ctrl-C or a harness error


class ChaosViolation(AssertionError):
    """Raised inside a rule when a check fails: Hypothesis shrinks towards the smallest program that raises it."""

    def __init__(self, results: list[CheckResult]) -> None:
        self.results = results
        names = ", ".join(f"{r.name}: {r.violation.title}" for r in results if r.violation)
        super().__init__(f"invariant violated: {names}")


class HarnessAbort(KeyboardInterrupt):
    """The harness itself failed inside an example (a server down, an adapter returning nonsense): not a
    violation. A KeyboardInterrupt, the one exception Hypothesis lets through untouched, so it neither shrinks
    it nor prints a blob for it; `error` is the cause. (Ctrl-C itself is told apart: runner.py.)"""

    def __init__(self, error: BaseException) -> None:
        super().__init__(f"{type(error).__name__}: {error}")
        self.error = error


@dataclass
class MachineLog:
    """Shared between the machine's examples and the runner: counts, telemetry, callbacks."""

    on_step: Callable[[int, int, str, float], None] | None = None
    on_example: Callable[[int, int, float], None] | None = None
    examples: int = 0
    steps: int = 0
    virtual_time: float = 0.0
    counts: dict[str, int] = field(default_factory=lambda: {"ok": 0, "fail": 0, "info": 0})
    telemetry: dict[str, Any] = field(default_factory=dict)
    last_results: list[CheckResult] = field(default_factory=list)
    check_names: tuple[str, ...] | None = None
    # Called with the machine at the end of every failing example (the last call is the reported, shrunk
    # one): the runner keeps what it needs to write the example's provider trace.
    on_failure: Callable[[Any], None] | None = None
    # When the search stops (time budget, numbers used up; shrinking's end).
    budget: SearchBudget = field(default_factory=SearchBudget)
    # Set by the runner on Ctrl-C: the example in progress stops its world without settling or checking.
    interrupted: bool = False
    # Writes sent to the service and BIND statuses seen, over every example: none means nothing was checked.
    writes: int = 0
    binds_seen: int = 0
    # When a list: every rule call as (example, rule, its drawn arguments), in order. Two runs at one seed must
    # draw the same (tests/scenarios/test_determinism.py).
    drawn: list[tuple[int, str, str]] | None = None
    # Real seconds one in-process wait (a step, a settle, a stop) may take before the service counts as not going
    # quiet (budget.py, DEFAULT_WALL_GUARD); None: no bound (a service by URL waits in real time anyway).
    wall_guard: float | None = None
    # The longest real time one guarded wait took, and in what: how close a run came to the guard.
    longest_wait: float = 0.0
    longest_wait_in: str = ""


# Distributions are pooled over every example; the timeline shows one example (the failing one, else the busiest).
POOLED = ("latencies", "settle_times")
POOLED_COUNTS = ("attempts", "fault_counts", "fault_operations")
MAX_POOLED = 5000


def merge_telemetry(log: MachineLog, example: dict[str, Any], failed: bool) -> None:
    current = log.telemetry
    pooled = {k: (current.get(k, []) + example.get(k, []))[-MAX_POOLED:] for k in POOLED}
    counts: dict[str, dict[str, int]] = {}
    for key in POOLED_COUNTS:
        merged = dict(current.get(key, {}))
        for name, n in example.get(key, {}).items():
            merged[name] = merged.get(name, 0) + n
        counts[key] = merged
    busier = sum(map(len, (lane for x in example.get("timelines", {}).values() for lane in x.values()))) >= \
        sum(map(len, (lane for x in current.get("timelines", {}).values() for lane in x.values())))
    keep_example = failed or (not current.get("failing") and busier)
    base = dict(example) if keep_example else dict(current)
    if keep_example:
        base["failing"] = failed
        base["label"] = f"(example {log.examples}{', the failing one' if failed else ''})"
    log.telemetry = {**base, **pooled, **counts}


def parties_for(seed: int, count: int, avoid: set[str]) -> list[str]:
    """A/B numbers from a seeded Faker (mainland mobiles), never one of the virtual numbers."""
    from faker import Faker

    from simulator.numbers import is_national

    fake = Faker("zh_CN")
    fake.seed_instance(f"parties:{seed}")
    out: list[str] = []
    while len(out) < count:
        number = fake.phone_number()
        if is_national(number) and number not in avoid and number not in out:
            out.append(number)
    return out


def build_machine(
    scenario: Scenario,
    seed: int,
    world_factory: Callable[[], World],
    log: MachineLog,
    new_loop: Callable[[], asyncio.AbstractEventLoop],
) -> type[RuleBasedStateMachine]:
    """A machine class for one scenario: the workload, fault kinds and switches come from the file."""
    w = scenario.workload
    weighted = scenario.weighted_operations()
    span = w.burst[1] / w.rate  # seconds over which a burst's operations start
    check_names = log.check_names or (scenario.checks or None)
    settle_checks = CHECKS.select(check_names)
    step_checks = [c for c in CHECKS.select(check_names, phase="step")]
    # Start offsets fall on a coarse grid of OFFSET_SLOTS, so requests often arrive at the very same instant.
    burst_steps = st.lists(
        st.tuples(st.sampled_from(weighted), st.integers(0, w.numbers - 1), st.integers(0, w.parties - 1),
                  st.integers(0, w.parties - 2), st.integers(0, OFFSET_SLOTS)),
        min_size=w.burst[0], max_size=w.burst[1],
    )

    def traced(function: Callable[..., None]) -> Callable[..., None]:
        """Record the rule call and its drawn arguments in `log.drawn` (when it is a list) before running it."""
        @functools.wraps(function)
        def run_rule(self: Any, **arguments: Any) -> None:
            if log.drawn is not None:
                log.drawn.append((self.example, function.__name__, repr(sorted(arguments.items()))))
            self.waiting_in = function.__name__
            return function(self, **arguments)

        return run_rule

    class ChaosMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.loop = new_loop()
            self.world = world_factory()
            self.example = log.examples
            self.step_count = 0
            self.started = False
            self.failed = False
            self.fault_serial = 0
            self.settled_at = 0
            self.violated: list[str] = []  # the checks the failing step violated
            self.aborted = False  # a harness error ended this example
            self.dry = False  # shrinking is over: this example only draws (see _dry_start)
            # Per step: (rule, virtual end, operations, crashes and gray changes so far): a failing example's
            # trace keeps the rule boundaries, since a replay must wait where the machine waited.
            self.step_log: list[tuple[str, float, int, int, int]] = []
            self.waiting_in = "start_world"  # the rule (or phase) whose waits run now: the guard's report names it
            self.not_quiet: ChaosViolation | None = None  # the wall-clock guard ended a wait of this example

        def run(self, work: Awaitable[T]) -> T:
            """Run a coroutine on the machine's loop; an exception from the systems is a harness error, a wait
            that outlasts the wall-clock guard a liveness violation (_not_going_quiet)."""
            began, virtual_began = time.perf_counter(), self.loop.time()
            try:
                return self._guarded(work)
            except WallGuardExpired as expired:
                raise self._not_going_quiet(expired, self.loop.time() - virtual_began) from None
            except Exception as exc:  # noqa: BLE001 - ChaosViolation is raised by the checks, never in here
                self.aborted = True
                raise HarnessAbort(exc) from exc
            finally:
                took = time.perf_counter() - began
                if took > log.longest_wait:
                    log.longest_wait, log.longest_wait_in = took, self.waiting_in

        def _guarded(self, work: Awaitable[T]) -> T:
            """`work` run on the machine's loop, bounded in real time unless the world waits in real time."""
            return run_guarded(self.loop, work, None if self.world.real_time else log.wall_guard)

        def _not_going_quiet(self, expired: WallGuardExpired, virtual: float) -> ChaosViolation:
            """The service kept a wait going past the wall-clock guard: in virtual time that means it never let
            the loop idle (so the clock hardly moved), or never went quiet. A liveness violation naming what was
            still open, not a hang and not a harness error."""
            if self.not_quiet is not None:  # a later wait of the same example (its report, its clean-up)
                return self.not_quiet
            pending: list[dict[str, Any]] | None = None
            driver = getattr(self.world, "driver", None)
            try:
                if driver is not None:
                    pending, _ = self._guarded(driver._open_work())
            except (Exception, asyncio.CancelledError):  # noqa: BLE001 - the listing is evidence, not the verdict
                logging.getLogger("scenarios").warning("could not list the open work after the wall-clock guard",
                                                       exc_info=True)
            listed = ("no operation open (the wait was for something else, or a provider request in flight)"
                      if pending == []
                      else "what was open could not be listed" if pending is None
                      else f"{len(pending)} operation(s) still open")
            violation = Violation(
                "service not going quiet",
                f"{self.waiting_in} was still waiting after {expired.seconds:g} s of real time (the wall-clock "
                f"guard), in which virtual time advanced only {virtual:.1f} s: the service keeps the loop busy "
                f"(a retry at once, a poll without pause) or never goes quiet; {listed}",
                {"step": self.waiting_in, "wall_guard_seconds": expired.seconds,
                 "virtual_seconds": round(virtual, 3), "operations": (pending or [])[:20]},
            )
            result = CheckResult("liveness", "failed", violation)
            log.last_results = [result]
            self.failed = True
            log.budget.failure()
            self.violated = ["liveness"]
            self.not_quiet = ChaosViolation([result])
            return self.not_quiet

        @initialize()
        def start_world(self) -> None:
            if log.budget.before_example():
                return self._dry_start()
            self.run(self.world.start())
            self.started = True
            # Set before anything else can fail: accounting and telemetry read it, and an AttributeError there
            # would hide the harness error that ended the example.
            self.t0 = self.world.driver.now()
            virtual_began = self.loop.time()
            try:
                self.xs = self._guarded(self.world.pick_numbers(w.numbers))
            except WallGuardExpired as expired:
                raise self._not_going_quiet(expired, self.loop.time() - virtual_began) from None
            except NumbersUsedUp as exc:
                self.started = False  # nothing ran: nothing to account for
                log.budget.stop(str(exc))  # while searching, the search ends here
                return self._dry_start()
            except Exception as exc:  # noqa: BLE001
                self.aborted = True
                raise HarnessAbort(exc) from exc
            self.parties = parties_for(seed, w.parties, set(self.xs))
            self.world.driver.managed_xs = set(self.xs)
            self.run(self.world.driver.record_initial(self.xs))
            self.t0 = self.world.driver.now()
            if w.gray == "switch":
                self.run(self.world.set_gray(False, self.xs[: len(self.xs) // 2 + 1]))

        def _dry_start(self) -> None:
            """Shrinking is over (or no numbers are left while shrinking): this example only draws its steps and
            keeps the state the preconditions read, touching no system, so it ends at once and passes. (Rejecting
            it instead would make Hypothesis see a known prefix behave differently, and call the run flaky.)"""
            self.dry = True
            self.xs = [f"dry-{i}" for i in range(w.numbers)]
            self.parties = [f"dry-party-{i}" for i in range(w.parties)]

        def _elapsed(self) -> float:
            return self.world.driver.now() - self.t0

        def _stepped(self, name: str) -> None:
            self.step_count += 1
            if self.dry:
                return
            self.step_log.append((name, self._elapsed(), len(self.world.driver.history), len(self.world.crashes),
                                  len(self.world.gray_changes)))
            self.run(self.world.driver.refresh_tracked())
            if log.on_step:
                log.on_step(self.example, self.step_count, name, self._elapsed())

        # ---- workload ------------------------------------------------------

        def _steps(self, ops: list[tuple[tuple[str, str], int, int, int, int]], only_x: int | None = None) -> list[Step]:
            steps = []
            for (kind, mode), xi, ai, bi, offset in ops:
                a = self.parties[ai]
                b = self.parties[bi if bi < ai else bi + 1]  # never a == b
                x = self.xs[xi if only_x is None else only_x]
                steps.append(Step(kind, mode, x, a if mode == "AXB" else None, b, span * offset / OFFSET_SLOTS))
            return steps

        @rule(ops=burst_steps)
        @traced
        def burst(self, ops: list[tuple[tuple[str, str], int, int, int, int]]) -> None:
            if self.dry:
                return self._stepped("burst")
            self.run(self.world.driver.run_burst(self._steps(ops)))
            self._stepped("burst")

        @rule(ops=burst_steps, x=st.integers(0, w.numbers - 1))
        @traced
        def burst_one_number(self, ops: list[tuple[tuple[str, str], int, int, int, int]], x: int) -> None:
            """Every operation of the burst on one X: the most contention."""
            if self.dry:
                return self._stepped("burst_one_number")
            self.run(self.world.driver.run_burst(self._steps(ops, only_x=x)))
            self._stepped("burst_one_number")

        @rule(seconds=st.sampled_from(ADVANCE_CHOICES))
        @traced
        def advance_time(self, seconds: float) -> None:
            """Let time pass; past the scenario's [run] duration, not at all. (A precondition on the elapsed
            time would make a replay's rule choices depend on how the service behaved: a fixed service would
            no longer fit the recorded blob.) In real time the wait also stops at the duration."""
            if self.dry:
                return self._stepped("advance_time")
            if self._elapsed() >= scenario.duration:
                seconds = 0.0
            elif self.world.real_time:
                seconds = min(seconds, scenario.duration - self._elapsed())
            self.run(asyncio.sleep(seconds))
            self._stepped("advance_time")

        # ---- faults ----------------------------------------------------------

        if w.fault_kinds:
            @rule(rule=fault_rules(w.fault_kinds, list(range(w.numbers))))
            @traced
            def add_fault(self, rule: dict[str, Any]) -> None:
                """`rule` is in the provider's format; a match on `x` holds an index into the machine's numbers."""
                self.fault_serial += 1
                candidate = {"id": f"chaos-{self.fault_serial}", **rule}
                if "x" in rule.get("match", {}):
                    candidate["match"] = {**rule["match"], "x": self.xs[rule["match"]["x"]]}
                if self.dry:  # what remove_fault's precondition reads, without the provider
                    translated = translate_rule(candidate, self.world.dialect)
                    if translated is not None:
                        self.world.dynamic_faults[translated["id"]] = translated
                    return self._stepped("add_fault")
                self.run(self.world.add_fault(candidate))
                self._stepped("add_fault")

            @precondition(lambda self: bool(self.world.dynamic_faults))
            @rule(index=st.integers(0, 20))
            @traced
            def remove_fault(self, index: int) -> None:
                ids = sorted(self.world.dynamic_faults)
                if self.dry:
                    self.world.dynamic_faults.pop(ids[index % len(ids)])
                    return self._stepped("remove_fault")
                self.run(self.world.remove_fault(ids[index % len(ids)]))
                self._stepped("remove_fault")

        if w.crashes:
            @precondition(lambda self: self.world.can_crash)
            @rule(ops=st.one_of(st.just([]), burst_steps), crash_at=st.sampled_from((0.0, 0.3, 1.0, 2.5)),
                  downtime=st.sampled_from((0.0, 1.0, 30.0)))
            @traced
            def crash_during_burst(self, ops: list[Any], crash_at: float, downtime: float) -> None:
                """Kill the core `crash_at` seconds into a burst (mid-request, mid-call or mid-backoff), restart it."""
                if self.dry:
                    return self._stepped("crash_during_burst")

                async def crash_later() -> None:
                    await asyncio.sleep(crash_at)
                    await self.world.crash_and_restart(downtime)

                async def both() -> None:
                    await asyncio.gather(self.world.driver.run_burst(self._steps(ops)), crash_later())

                self.run(both())
                self._stepped("crash_during_burst")

            @precondition(lambda self: self.world.can_crash)
            @rule(wait=st.sampled_from((0.5, 2.0, 5.0)), downtime=st.sampled_from((0.0, 1.0, 30.0)))
            @traced
            def crash_during_backoff(self, wait: float, downtime: float) -> None:
                """Let retries wait a while (backoff, calls in flight), then kill and restart the core."""
                if self.dry:
                    return self._stepped("crash_during_backoff")
                self.run(asyncio.sleep(wait))
                self.run(self.world.crash_and_restart(downtime))
                self._stepped("crash_during_backoff")

        if w.expiries:
            @rule(x=st.integers(0, w.numbers - 1), mode=st.sampled_from(w.modes))
            @traced
            def expire_at_provider(self, x: int, mode: str) -> None:
                """The provider expires a binding by itself; the business reacts to the notice with an unbind."""
                if self.dry:
                    return self._stepped("expire_at_provider")
                self.run(self.world.driver.expire_and_unbind(self.xs[x], mode))
                self._stepped("expire_at_provider")

        if w.rebind_at_doubt_end:
            race = st.tuples(st.integers(0, w.numbers - 1), st.sampled_from(w.modes), st.integers(0, w.parties - 1),
                             st.integers(0, w.parties - 2), st.booleans(), st.sampled_from(HOLD_CHOICES),
                             st.sampled_from(REBIND_LEADS))

            @rule(races=st.lists(race, min_size=1, max_size=w.numbers * len(w.modes), unique_by=lambda r: r[:2]))
            @traced
            def rebind_at_doubt_end(self, races: list[tuple[int, str, int, int, bool, float, float]]) -> None:
                """The sweep's race, on each drawn (X, mode) at once: a bind whose first create the provider holds
                `hold` seconds (it times out, then lands late), unbound as soon as it is bound, then X bound again
                `lead` seconds after that bind's in-doubt window ends, while a sweep looks its stray up (slow
                lookups) and deletes it: with the same numbers (`same`), else with another party as B."""
                if self.dry:
                    return self._stepped("rebind_at_doubt_end")
                holds: dict[str, dict[str, Any]] = {}  # per X: its first creates (one per race on it) are held
                for xi, _mode, _ai, _bi, _same, hold, _lead in races:
                    if self.xs[xi] in holds:
                        holds[self.xs[xi]]["when"]["first"] += 1
                        continue
                    self.fault_serial += 1
                    holds[self.xs[xi]] = {"id": f"sweep-race-hold-{self.fault_serial}", "when": {"first": 1},
                                          "match": {"operation": "create_binding", "x": self.xs[xi]},
                                          "action": {"kind": "latency", "distribution": "fixed", "seconds": hold}}

                async def race_all() -> None:
                    for held in holds.values():
                        await self.world.add_fault(held)
                    jobs = []
                    for xi, mode, ai, bi, same, _hold, lead in races:
                        a, b = self.parties[ai], self.parties[bi if bi < ai else bi + 1]
                        other = next(p for p in self.parties[::-1] if p not in (a, b))
                        jobs.append(self.world.driver.rebind_at_doubt_end(
                            self.xs[xi], mode, a if mode == "AXB" else None, b, b if same else other, lead))
                    try:
                        await asyncio.gather(*jobs)
                    finally:
                        for held in holds.values():
                            await self.world.remove_fault(held["id"])

                self.run(race_all())
                self._stepped("rebind_at_doubt_end")

        if w.gray == "switch":
            @rule(all_numbers=st.booleans(), mask=st.integers(0, 2 ** w.numbers - 1))
            @traced
            def switch_gray(self, all_numbers: bool, mask: int) -> None:
                if self.dry:
                    return self._stepped("switch_gray")
                chosen = [x for i, x in enumerate(self.xs) if mask >> i & 1]
                self.run(self.world.set_gray(all_numbers, chosen))
                self._stepped("switch_gray")

        @precondition(lambda self: self.step_count - self.settled_at >= SETTLE_EVERY)
        @rule()
        @traced
        def settle(self) -> None:
            self.settled_at = self.step_count
            if self.dry:
                return self._stepped("settle")
            self._settle_and_check()
            self.run(self.world.install_faults())
            self._stepped("settle")

        # ---- checks --------------------------------------------------------------

        def _settle_and_check(self) -> None:
            driver = self.world.driver
            self.run(self.world.heal())
            self.run(driver.wait_quiescent(driver.policy.quiet_within() + driver.downtime))
            observation = self.run(driver.observe(calls=w.calls, callers=self.parties))
            results = run_checks(observation, settle_checks)
            log.last_results = results
            if any(r.status == "failed" for r in results):
                self.failed = True
                log.budget.failure()
                self.violated = [r.name for r in results if r.status == "failed"]
                raise ChaosViolation([r for r in results if r.status == "failed"])

        @invariant()
        def transitions_legal(self) -> None:
            if not self.started or not step_checks:
                return
            from .checkers import Observation

            transitions = self.run(self.world.driver.core_transitions())
            from binding_core.transitions import LEGAL_MOVES

            observation = Observation(now=self.world.driver.now(), transitions=transitions,
                                      legal_transitions=set(LEGAL_MOVES))
            failed = [r for r in run_checks(observation, step_checks) if r.status == "failed"]
            if failed:
                self.failed = True
                log.budget.failure()
                self.violated = [r.name for r in failed]
                raise ChaosViolation(failed)

        def teardown(self) -> None:
            stopping = log.interrupted or self.aborted
            try:
                if self.started:
                    try:
                        # A rule already failed: its violation is the one reported. Ctrl-C or a harness error:
                        # nothing to settle for.
                        if not self.failed and not stopping:
                            self.waiting_in = "final settle"
                            self._settle_and_check()
                    finally:
                        self._account()
                        if self.failed and self.violated and log.on_failure:
                            log.on_failure(self)
            finally:
                try:
                    self.waiting_in = "stopping the example's systems"
                    work = self.world.stop()
                    self._guarded(asyncio.wait_for(work, STOP_WORLD_WITHIN) if stopping or self.not_quiet else work)
                except Exception:  # noqa: BLE001 - never hide the example's own result behind its clean-up
                    logging.getLogger("scenarios").warning("could not stop the example's systems", exc_info=True)
                finally:
                    self.loop.close()

        def _account(self) -> None:
            driver = self.world.driver
            log.examples += 1
            log.steps += self.step_count
            log.virtual_time += self._elapsed()
            for op in driver.history:
                if op.outcome is not None:
                    log.counts[op.outcome.value] = log.counts.get(op.outcome.value, 0) + 1
            log.writes += driver.writes_sent
            log.binds_seen += driver.binds_seen + sum(
                1 for op in driver.history if op.kind == "bind" and op.outcome is not None and op.outcome.value == "ok")
            try:
                merge_telemetry(log, machine_telemetry(self), failed=self.failed)
            except (Exception, HarnessAbort) as exc:  # telemetry is for the report; never hide the run's own result
                log.telemetry = {"error": f"telemetry unavailable: {exc}"}
            if log.on_example:
                log.on_example(self.example, self.step_count, self._elapsed())

    ChaosMachine.__name__ = ChaosMachine.__qualname__ = "ChaosMachine"
    return ChaosMachine
