"""Runs scenario files and emits events; the CLI and the report writers subscribe.

Deterministic: one seed fixes the data (seeded Faker), the faults (the
provider's seeded engine) and the interleavings (drawn start offsets in virtual
time). A scenario first runs fast with shrinking off; a failure is run again
with shrinking on to get the minimal failing sequence, and the report gets the
one command that replays that sequence exactly (`--replay` carries Hypothesis's
reproduction blob).

In real time (`--sut`) a scenario runs once with shrinking on, since running
its examples again would cost real time and need not fail again. Exit codes
(`exit_code`): 0 every check held, 1 a check was violated (in-process, a wait that
outlasts the wall-clock guard is one: the service is not going quiet), 2 a harness error or
a vacuous run (nothing was checked), 130 interrupted (Ctrl-C; the reports hold
what ran).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shlex
import signal
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import hypothesis
from hypothesis import HealthCheck, Phase, settings
from hypothesis.errors import DidNotReproduce
from hypothesis.reporting import with_reporter
from hypothesis.stateful import run_state_machine_as_test

from .budget import SearchBudget, StopSearch, wall_guard_seconds
from .checkers import CHECKS, CheckResult
from .determinism import seed_only_draws
from .events import (
    CheckFailed, CheckPassed, EventBus, ExampleDone, RunFinished, RunStarted, ScenarioFinished, ScenarioStarted,
    StepDone,
)
from .machine import ChaosViolation, HarnessAbort, MachineLog, build_machine
from .scenario_file import Scenario, default_suite, load_scenario
from .verdicts import (
    EXIT_HARNESS, EXIT_INTERRUPTED, EXIT_PASSED, EXIT_VIOLATION, cause, exit_code, falsifying_program,
    replay_blob_problem, vacuous, violation_in,
)
from .world import HarnessError, InProcessWorld, NumberChoice, RemoteWorld, World

__all__ = ["DEFAULT_SEED", "EXIT_HARNESS", "EXIT_INTERRUPTED", "EXIT_PASSED", "EXIT_VIOLATION", "RunOptions",
           "RunResult", "Runner", "ScenarioOutcome", "exit_code", "replay_blob_problem"]

DEFAULT_SEED = 7
# looptime idles this many loop cycles before jumping the clock (default 42); loopback I/O is ready at once.
NOOP_CYCLES = 5
# --time-budget without --examples: time alone ends the search.
UNBOUNDED_EXAMPLES = 1_000_000
# Health checks that do not apply here: examples drive real servers (slow by design), bursts draw long lists,
# and preconditions (settle every few steps, crashes) filter rules. Deadlines are off for the same reason.
SUPPRESSED_HEALTH_CHECKS = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example,
                            HealthCheck.filter_too_much]


@dataclass
class RunOptions:
    seed: int = DEFAULT_SEED
    report_dir: Path = Path("reports")
    provider_url: str | None = None
    sut_url: str | None = None
    examples: int | None = None  # overrides every scenario's budget
    steps: int | None = None
    shrink: bool = True
    replay: str | None = None  # "<hypothesis version>:<blob>" from a failure's replay command
    checks: tuple[str, ...] | None = None
    run_id: str | None = None
    # The wire the core speaks to the provider (native, aliyun, tencent); None: each file's [core] provider.dialect.
    dialect: str | None = None
    # Tests plant bugs through this: called like binding_core.app.Core(config, **kwargs).
    core_factory: Callable[..., Any] | None = None
    # Wall seconds for the whole run, shared out among the scenarios (None: the example counts bound it).
    time_budget: float | None = None
    # How `--sut` is reached: a scenarios.adapters.ServiceAdapter subclass (None: the bundled core's API), and
    # the --adapter argument that named it (the replay command carries it).
    adapter: Any = None
    adapter_spec: str | None = None
    # Real time: the numbers every example takes (a replay uses the failing example's own: the provider's fault
    # decisions follow the number). None: numbers nothing holds, least used first.
    numbers: tuple[str, ...] | None = None
    # Keep every rule call and its drawn arguments in each scenario's MachineLog.drawn (determinism tests).
    record_draws: bool = False
    # Real seconds one in-process wait may take before the service counts as not going quiet (a liveness
    # violation); None: $PSTNSIM_WALL_GUARD, else budget.DEFAULT_WALL_GUARD; 0: no guard. Unused in real time.
    wall_guard: float | None = None

    @property
    def mode(self) -> str:
        return "real-time" if self.sut_url else "in-process"


@dataclass
class ScenarioOutcome:
    scenario: Scenario
    passed: bool
    results: list[CheckResult] = field(default_factory=list)
    steps: tuple[str, ...] = ()
    replay_command: str = ""
    error: str = ""  # a harness error or a vacuous run: why (its last line is the cause)
    failure_trace: str = ""  # the failing example's provider trace (`pstnsim replay` reproduces it)
    verdict: str = ""  # see events.ScenarioFinished.verdict
    note: str = ""


@dataclass
class RunResult:
    run_id: str
    passed: bool
    violations: int
    report_dir: Path
    outcomes: list[ScenarioOutcome]
    harness_errors: int = 0
    interrupted: bool = False

    @property
    def exit_code(self) -> int:
        return exit_code(self.violations, self.harness_errors, self.interrupted)


def raise_outside_tasks(error: type[BaseException]) -> None:
    """From a signal handler: raise `error` now, or, when the handler interrupted an event loop, from a callback of
    that loop. Raised inside a task's step it would also be stored on that task, which asyncio then reports as a
    "Task exception was never retrieved" traceback when the abandoned task is collected."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # no event loop is running: raise it here, as a plain handler would
        raise error from None

    def raise_it() -> None:
        raise error

    loop.call_soon_threadsafe(raise_it)


class Runner:
    def __init__(self, options: RunOptions, bus: EventBus | None = None) -> None:
        self.options = options
        self.bus = bus or EventBus()
        self._wall0 = time.perf_counter()
        self._failures: dict[str, Any] = {}  # scenario name -> replay.capture.FailureMaterial
        self._active_log: MachineLog | None = None  # the attempt in progress (Ctrl-C tells it to stop)
        self._numbers = NumberChoice()  # real time: which numbers the run's examples took
        self._failing_numbers: dict[str, list[str]] = {}  # scenario -> the last failing example's numbers
        # Raises budget.BadWallGuard (a ScenarioError: the CLI exits 2) for a guard that is not a number of seconds.
        self.wall_guard = None if options.sut_url else wall_guard_seconds(options.wall_guard)

    def wall(self) -> float:
        return time.perf_counter() - self._wall0

    def run(self, files: list[str | Path] | None = None) -> RunResult:
        paths = [Path(p) for p in files] if files else default_suite()
        scenarios = [load_scenario(p) for p in paths]
        run_id = self.options.run_id or datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S") + f"-seed{self.options.seed}"
        report_dir = self.options.report_dir / run_id
        self.report_dir = report_dir
        self.bus.emit(RunStarted(self.wall(), run_id, self.options.seed, tuple(s.name for s in scenarios),
                                 self.options.mode, str(report_dir), self.options.dialect))
        outcomes: list[ScenarioOutcome] = []
        virtual, interrupted = 0.0, False
        with self._ctrl_c():
            try:
                for index, scenario in enumerate(scenarios):
                    outcome, log = self.run_scenario(scenario, share=self._share(len(scenarios) - index))
                    outcomes.append(outcome)
                    virtual += log.virtual_time
            except KeyboardInterrupt:
                interrupted = True
        violations = sum(1 for o in outcomes for r in o.results if r.status == "failed")
        harness_errors = sum(1 for o in outcomes if o.error)
        passed = all(o.passed for o in outcomes) and not interrupted
        code = exit_code(violations, harness_errors, interrupted)
        self.bus.emit(RunFinished(self.wall(), run_id, passed, len(outcomes), violations, self.wall(), virtual,
                                  str(report_dir), interrupted=interrupted, harness_errors=harness_errors,
                                  exit_code=code))
        return RunResult(run_id, passed, violations, report_dir, outcomes, harness_errors, interrupted)

    def _share(self, scenarios_left: int) -> float | None:
        """This scenario's wall seconds: what is left of --time-budget, shared among the scenarios left."""
        budget = self.options.time_budget
        if budget is None or self.options.replay:
            return None
        return max(0.0, budget - self.wall()) / max(1, scenarios_left)

    @contextlib.contextmanager
    def _ctrl_c(self):  # type: ignore[no-untyped-def]
        """Ctrl-C stops the example in progress without settling it; a second Ctrl-C ends the process at once."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def interrupted(signum: int, frame: Any) -> None:
            if self._active_log is not None:
                self._active_log.interrupted = True
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            raise_outside_tasks(KeyboardInterrupt)

        previous = signal.signal(signal.SIGINT, interrupted)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    # ---- one scenario ---------------------------------------------------------

    def run_scenario(self, scenario: Scenario, share: float | None = None) -> tuple[ScenarioOutcome, MachineLog]:
        started = self.wall()
        o = self.options
        examples = o.examples or (UNBOUNDED_EXAMPLES if share is not None else scenario.budget.examples)
        steps = o.steps or scenario.budget.steps
        self.bus.emit(ScenarioStarted(self.wall(), scenario.name, o.seed, scenario.description,
                                      1 if o.replay else examples, steps, self.dialect(scenario), time_budget=share))
        log = self._log(scenario, share)
        try:
            error = self._preflight(scenario)
            if error is None:
                error = self._search(scenario, log, examples, steps)
                if isinstance(error, ChaosViolation) and o.shrink and not o.replay and not o.sut_url:
                    log = self._log(scenario, None)  # the shrunk run's numbers replace the fast pass's
                    error = self._attempt(scenario, log, examples, steps, shrink=True) or error
        except KeyboardInterrupt:
            outcome = ScenarioOutcome(scenario, False, list(log.last_results), verdict="interrupted",
                                      note=f"interrupted (Ctrl-C) after {log.examples} example(s)")
            self._finish(scenario, outcome, log, started)
            raise
        outcome = self._outcome(scenario, log, error)
        if outcome.verdict in ("violated", "reproduced"):
            outcome.failure_trace = self._write_failure_trace(scenario)
        self._emit_checks(scenario, outcome)
        self._finish(scenario, outcome, log, started)
        return outcome, log

    def _finish(self, scenario: Scenario, outcome: ScenarioOutcome, log: MachineLog, started: float) -> None:
        logging.getLogger("scenarios").info("%s: the longest wait took %.2f s of real time (%s; guard %s)",
                                            scenario.name, log.longest_wait, log.longest_wait_in or "none",
                                            f"{self.wall_guard:g} s" if self.wall_guard else "off")
        self.bus.emit(ScenarioFinished(
            self.wall(), scenario.name, self.options.seed, outcome.passed, log.examples, log.steps, log.virtual_time,
            self.wall() - started, log.counts, log.telemetry, outcome.error, outcome.failure_trace,
            verdict=outcome.verdict, note=outcome.note,
        ))

    def _preflight(self, scenario: Scenario) -> BaseException | None:
        """Real time: the servers answer and the provider has numbers, before Hypothesis starts."""
        if not self.options.sut_url:
            return None
        world = self._world_factory(scenario)()
        assert isinstance(world, RemoteWorld)
        try:
            asyncio.run(world.preflight(scenario.workload.numbers))
        except HarnessError as exc:
            return HarnessAbort(exc)
        return None

    def _search(self, scenario: Scenario, log: MachineLog, examples: int, steps: int) -> BaseException | None:
        o = self.options
        if o.replay:
            return self._attempt(scenario, log, examples, steps, shrink=False, replay=o.replay)
        # Real time: one pass, shrinking included (a second pass would run every example again, for real).
        return self._attempt(scenario, log, examples, steps, shrink=bool(o.sut_url and o.shrink))

    def _write_failure_trace(self, scenario: Scenario) -> str:
        """The provider trace of the reported (last) failing example, beside the reports; "" when none."""
        from .replay.capture import write_failure_trace

        material = self._failures.pop(scenario.name, None)
        directory = getattr(self, "report_dir", None)
        if material is None or directory is None:
            return ""
        return str(write_failure_trace(material, directory))

    def _log(self, scenario: Scenario, share: float | None) -> MachineLog:
        def on_step(example: int, step: int, rule: str, virtual: float) -> None:
            self.bus.emit(StepDone(self.wall(), scenario.name, example, step, rule, virtual))

        def on_example(example: int, steps: int, virtual: float) -> None:
            self.bus.emit(ExampleDone(self.wall(), scenario.name, example, steps, virtual))

        def on_failure(machine: Any) -> None:
            from .replay.capture import capture

            self._failing_numbers[scenario.name] = list(getattr(machine, "xs", []))

            try:
                material = capture(machine, scenario, self.options.seed, self.dialect(scenario),
                                   self.options.checks or (scenario.checks or None))
            except (Exception, HarnessAbort):  # the trace is a by-product: never let it replace the violation
                logging.getLogger("scenarios").exception("could not keep the failing example's trace")
                material = None
            if material is not None:
                self._failures[scenario.name] = material  # the last failing example is the reported one

        log = MachineLog(on_step=on_step, on_example=on_example, check_names=self.options.checks,
                         on_failure=on_failure, budget=SearchBudget(share),
                         drawn=[] if self.options.record_draws else None, wall_guard=self.wall_guard)
        log.budget.start()
        self._active_log = log
        return log

    def dialect(self, scenario: Scenario) -> str:
        """The wire of this scenario's run: the option, else the file's `[core] provider.dialect`, else native."""
        return self.options.dialect or scenario.dialect

    def _world_factory(self, scenario: Scenario) -> Callable[[], World]:
        o = self.options
        dialect = self.dialect(scenario)
        if o.sut_url:
            if not o.provider_url:
                raise ValueError("--sut needs --provider-url: the provider the service under test talks to")
            return lambda: RemoteWorld(scenario, o.seed, o.provider_url, o.sut_url, dialect,  # type: ignore[arg-type]
                                       adapter=o.adapter, numbers=self._numbers, fixed_numbers=o.numbers)
        return lambda: InProcessWorld(scenario, o.seed, core_factory=o.core_factory, dialect=dialect)

    def _new_loop(self) -> Callable[[], asyncio.AbstractEventLoop]:
        if self.options.sut_url:
            return asyncio.new_event_loop
        import looptime

        return lambda: looptime.new_event_loop(noop_cycles=NOOP_CYCLES)

    def _attempt(self, scenario: Scenario, log: MachineLog, examples: int, steps: int, *, shrink: bool,
                 replay: str | None = None) -> BaseException | None:
        """One Hypothesis run; what ended it: None (no failure), a ChaosViolation (or Flaky around one),
        HarnessAbort, or DidNotReproduce (a replay)."""
        machine = build_machine(scenario, self.options.seed, self._world_factory(scenario), log, self._new_loop())
        machine = hypothesis.seed(self.options.seed)(machine)
        if replay:
            version, blob = replay.split(":", 1)
            machine = hypothesis.reproduce_failure(version, blob.encode())(machine)
        phases = [Phase.explicit, Phase.generate] + ([Phase.shrink] if shrink else [])
        config = settings(
            max_examples=examples, stateful_step_count=steps, deadline=None, database=None, phases=phases,
            suppress_health_check=SUPPRESSED_HEALTH_CHECKS, print_blob=True, report_multiple_bugs=False,
            derandomize=False,
        )
        chatter: list[str] = []  # Hypothesis's own messages: kept for the log, never printed over the summary
        try:
            with with_reporter(chatter.append), seed_only_draws():
                run_state_machine_as_test(machine, settings=config)
        except StopSearch:
            return None  # log.budget.stopped says why
        except HarnessAbort as exc:
            return exc
        except BaseException as exc:  # noqa: BLE001 - a failing example is data here
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            return exc
        finally:
            for line in chatter:
                logging.getLogger("scenarios.hypothesis").info("%s", line)
        return None

    def _outcome(self, scenario: Scenario, log: MachineLog, error: BaseException | None) -> ScenarioOutcome:
        violation = violation_in(error)
        steps, blob = falsifying_program(error, violation) if error is not None else ((), None)
        replay = self.replay_command(scenario, blob or self.options.replay)
        note = log.budget.stopped and f"the search ended after {log.examples} example(s): {log.budget.stopped}"
        checked = bool(log.last_results) and not any(r.status == "failed" for r in log.last_results)
        if isinstance(error, DidNotReproduce) and "completed successfully" in str(error):
            return ScenarioOutcome(scenario, True, log.last_results, replay_command=replay,
                                   verdict="no longer reproduces",
                                   note="the replayed example ran and every check held: the failure it recorded "
                                        "no longer reproduces")
        if isinstance(error, DidNotReproduce) and "shape" in str(error) and checked:
            # The example failed part-way before, so its blob ends there; a service that no longer fails goes on
            # and asks for steps the blob does not have. Every step it has ran, then the final checks held.
            return ScenarioOutcome(scenario, True, log.last_results, replay_command=replay,
                                   verdict="no longer reproduces",
                                   note="every recorded step ran and the checks held afterwards (the example "
                                        "failed part-way before; now it went on): the failure no longer reproduces")
        if isinstance(error, DidNotReproduce):
            return ScenarioOutcome(scenario, False, [], replay_command=replay, verdict="harness error",
                                   error=f"--replay: the blob does not fit {scenario.source or scenario.name} as it "
                                         f"is now (was the file, --steps or --examples changed?): {error}")
        if violation is not None:
            failed = {r.name for r in violation.results}
            results = [r for r in log.last_results if r.name not in failed] + violation.results
            if not log.last_results:
                results = violation.results
            if violation is not error:  # Hypothesis ran it again and it held: a timing-dependent failure
                note = "the failing example did not fail again when Hypothesis re-ran it (timing-dependent)"
            return ScenarioOutcome(scenario, False, results, steps, replay,
                                   verdict="reproduced" if self.options.replay else "violated", note=note)
        if error is not None:
            return ScenarioOutcome(scenario, False, [], (), "", error=cause(error), verdict="harness error")
        why_vacuous = None if self.options.replay else vacuous(log)
        if why_vacuous:
            return ScenarioOutcome(scenario, False, log.last_results, error=f"vacuous run: {why_vacuous}",
                                   verdict="vacuous", note=note)
        return ScenarioOutcome(scenario, True, log.last_results, replay_command=replay, verdict="passed", note=note)

    def _emit_checks(self, scenario: Scenario, outcome: ScenarioOutcome) -> None:
        for result in outcome.results:
            check = CHECKS.checks[result.name]
            if result.status == "failed" and result.violation is not None:
                v = result.violation
                self.bus.emit(CheckFailed(self.wall(), scenario.name, result.name, check.description, v.title,
                                          v.message, _jsonable(v.details), outcome.steps, outcome.replay_command))
            else:
                self.bus.emit(CheckPassed(self.wall(), scenario.name, result.name, check.description,
                                          skipped=result.status == "skipped", reason=result.reason))

    def replay_command(self, scenario: Scenario, blob: str | None) -> str:
        o = self.options
        target = str(scenario.source) if scenario.source else scenario.name
        parts = ["pstnsim", "chaos", "run", target, "--seed", str(o.seed), "--dialect", self.dialect(scenario)]
        if o.examples:
            parts += ["--examples", str(o.examples)]
        if o.steps:
            parts += ["--steps", str(o.steps)]
        if o.sut_url:
            parts += ["--sut", o.sut_url, "--provider-url", o.provider_url or ""]
            if o.adapter_spec:
                parts += ["--adapter", o.adapter_spec]
            numbers = self._failing_numbers.get(scenario.name) if blob else None
            if numbers or o.numbers:
                parts += ["--numbers", ",".join(numbers or o.numbers or ())]
        if blob:
            parts += ["--replay", blob]
        return shlex.join(parts)


def _jsonable(value: Any) -> Any:
    import json

    return json.loads(json.dumps(value, default=str))
