"""Runs scenario files and emits events; the CLI and the report writers subscribe.

Deterministic: one seed fixes the data (seeded Faker), the faults (the
provider's seeded engine) and the interleavings (drawn start offsets in virtual
time). A scenario first runs fast with shrinking off; a failure is run again
with shrinking on to get the minimal failing sequence, and the report gets the
one command that replays that sequence exactly (`--replay` carries Hypothesis's
reproduction blob).
"""

from __future__ import annotations

import asyncio
import logging
import re
import shlex
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import hypothesis
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from .checkers import CHECKS, CheckResult
from .events import (
    CheckFailed, CheckPassed, EventBus, ExampleDone, RunFinished, RunStarted, ScenarioFinished, ScenarioStarted,
    StepDone,
)
from .machine import ChaosViolation, MachineLog, build_machine
from .scenario_file import Scenario, default_suite, load_scenario
from .world import InProcessWorld, RemoteWorld, World

DEFAULT_SEED = 7
# looptime idles this many loop cycles before jumping the clock (default 42); loopback I/O is ready at once.
NOOP_CYCLES = 5
BLOB = re.compile(r"@reproduce_failure\('([^']+)', (b'[^']*'|b\"[^\"]*\")\)")


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
    error: str = ""
    failure_trace: str = ""  # the failing example's provider trace (`pstnsim replay` reproduces it)


@dataclass
class RunResult:
    run_id: str
    passed: bool
    violations: int
    report_dir: Path
    outcomes: list[ScenarioOutcome]


class Runner:
    def __init__(self, options: RunOptions, bus: EventBus | None = None) -> None:
        self.options = options
        self.bus = bus or EventBus()
        self._wall0 = time.perf_counter()
        self._failures: dict[str, Any] = {}  # scenario name -> replay.capture.FailureMaterial

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
        outcomes, virtual = [], 0.0
        for scenario in scenarios:
            outcome, log = self.run_scenario(scenario)
            outcomes.append(outcome)
            virtual += log.virtual_time
        violations = sum(1 for o in outcomes for r in o.results if r.status == "failed")
        passed = all(o.passed for o in outcomes)
        self.bus.emit(RunFinished(self.wall(), run_id, passed, len(outcomes), violations, self.wall(), virtual,
                                  str(report_dir)))
        return RunResult(run_id, passed, violations, report_dir, outcomes)

    # ---- one scenario ---------------------------------------------------------

    def run_scenario(self, scenario: Scenario) -> tuple[ScenarioOutcome, MachineLog]:
        started = self.wall()
        examples = self.options.examples or scenario.budget.examples
        steps = self.options.steps or scenario.budget.steps
        self.bus.emit(ScenarioStarted(self.wall(), scenario.name, self.options.seed, scenario.description, examples, steps,
                                      self.dialect(scenario)))
        log = self._log(scenario)
        replay = self.options.replay
        error = self._attempt(scenario, log, examples, steps, shrink=False, replay=replay)
        steps_text: tuple[str, ...] = ()
        blob = replay
        if error is not None and isinstance(error, ChaosViolation) and self.options.shrink and replay is None:
            log = self._log(scenario)  # the shrunk run's numbers replace the fast pass's
            error = self._attempt(scenario, log, examples, steps, shrink=True, replay=None) or error
        if error is not None:
            steps_text, found_blob = _falsifying_program(error)
            blob = found_blob or blob
        outcome = self._outcome(scenario, log, error, steps_text, blob)
        if isinstance(error, ChaosViolation):
            outcome.failure_trace = self._write_failure_trace(scenario)
        self._emit_checks(scenario, outcome)
        self.bus.emit(ScenarioFinished(
            self.wall(), scenario.name, self.options.seed, outcome.passed, log.examples, log.steps, log.virtual_time,
            self.wall() - started, log.counts, log.telemetry, outcome.error, outcome.failure_trace,
        ))
        return outcome, log

    def _write_failure_trace(self, scenario: Scenario) -> str:
        """The provider trace of the reported (last) failing example, beside the reports; "" when none."""
        from .replay.capture import write_failure_trace

        material = self._failures.pop(scenario.name, None)
        directory = getattr(self, "report_dir", None)
        if material is None or directory is None:
            return ""
        return str(write_failure_trace(material, directory))

    def _log(self, scenario: Scenario) -> MachineLog:
        def on_step(example: int, step: int, rule: str, virtual: float) -> None:
            self.bus.emit(StepDone(self.wall(), scenario.name, example, step, rule, virtual))

        def on_example(example: int, steps: int, virtual: float) -> None:
            self.bus.emit(ExampleDone(self.wall(), scenario.name, example, steps, virtual))

        def on_failure(machine: Any) -> None:
            from .replay.capture import capture

            try:
                material = capture(machine, scenario, self.options.seed, self.dialect(scenario),
                                   self.options.checks or (scenario.checks or None))
            except Exception:  # the trace is a by-product: never let it replace the example's violation
                logging.getLogger("scenarios").exception("could not keep the failing example's trace")
                material = None
            if material is not None:
                self._failures[scenario.name] = material  # the last failing example is the reported one

        return MachineLog(on_step=on_step, on_example=on_example, check_names=self.options.checks,
                          on_failure=on_failure)

    def dialect(self, scenario: Scenario) -> str:
        """The wire of this scenario's run: the option, else the file's `[core] provider.dialect`, else native."""
        return self.options.dialect or scenario.dialect

    def _world_factory(self, scenario: Scenario) -> Callable[[], World]:
        o = self.options
        dialect = self.dialect(scenario)
        if o.sut_url:
            if not o.provider_url:
                raise ValueError("--sut needs --provider-url: the provider the service under test talks to")
            return lambda: RemoteWorld(scenario, o.seed, o.provider_url, o.sut_url, dialect)  # type: ignore[arg-type]
        return lambda: InProcessWorld(scenario, o.seed, core_factory=o.core_factory, dialect=dialect)

    def _new_loop(self) -> Callable[[], asyncio.AbstractEventLoop]:
        if self.options.sut_url:
            return asyncio.new_event_loop
        import looptime

        return lambda: looptime.new_event_loop(noop_cycles=NOOP_CYCLES)

    def _attempt(self, scenario: Scenario, log: MachineLog, examples: int, steps: int, *, shrink: bool,
                 replay: str | None) -> BaseException | None:
        machine = build_machine(scenario, self.options.seed, self._world_factory(scenario), log, self._new_loop())
        machine = hypothesis.seed(self.options.seed)(machine)
        if replay:
            version, blob = replay.split(":", 1)
            machine = hypothesis.reproduce_failure(version, blob.encode())(machine)
        phases = [Phase.explicit, Phase.generate] + ([Phase.shrink] if shrink else [])
        config = settings(
            max_examples=examples, stateful_step_count=steps, deadline=None, database=None, phases=phases,
            suppress_health_check=list(HealthCheck), print_blob=True, report_multiple_bugs=False, derandomize=False,
        )
        try:
            run_state_machine_as_test(machine, settings=config)
        except BaseException as exc:  # noqa: BLE001 - a failing example is data here
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            return exc
        return None

    def _outcome(self, scenario: Scenario, log: MachineLog, error: BaseException | None, steps: tuple[str, ...],
                 blob: str | None) -> ScenarioOutcome:
        replay = self.replay_command(scenario, blob)
        if error is None:
            return ScenarioOutcome(scenario, True, log.last_results, replay_command=replay)
        if isinstance(error, ChaosViolation):
            failed = {r.name for r in error.results}
            results = [r for r in log.last_results if r.name not in failed] + error.results
            if not log.last_results:
                results = error.results
            return ScenarioOutcome(scenario, False, results, steps, replay)
        text = "".join(traceback.format_exception(error))
        return ScenarioOutcome(scenario, False, [], steps, replay, error=text[-8000:])

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
        if blob:
            parts += ["--replay", blob]
        return shlex.join(parts)


def _falsifying_program(error: BaseException) -> tuple[tuple[str, ...], str | None]:
    """The shrunk rule calls Hypothesis attached to the error, and its reproduction blob as `version:blob`."""
    notes = list(getattr(error, "__notes__", []) or [])
    lines: list[str] = []
    for note in notes:
        lines.extend(note.splitlines())
    program: list[str] = []
    for line in lines:
        if line.startswith("state = "):
            program = [line]  # the last printed program is the minimal one
        elif program and (line.startswith("state.") or line[:1].isspace() or line[:1] in ")]}"):
            if line.strip() != "state.transitions_legal()":  # the per-step invariant: noise in a replay
                program.append(line)
        elif program and line.startswith("You can reproduce"):
            continue
    blob = None
    for line in lines:
        found = BLOB.search(line)
        if found:
            blob = f"{found.group(1)}:{found.group(2)[2:-1]}"
    return tuple(program), blob


def _jsonable(value: Any) -> Any:
    import json

    return json.loads(json.dumps(value, default=str))
