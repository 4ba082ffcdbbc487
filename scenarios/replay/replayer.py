"""`replay_trace`: a recorded incident replayed against a binding service while the provider answers as
recorded, checked as a chaos run is checked, reported through the same events and writers.

In-process (the default) the bundled core speaks the trace's dialect to an in-process replay provider,
both in one looptime loop: a recorded 20-minute brown-out replays in seconds, and a trace written by a
failing chaos example replays with that example's core configuration, seed, crashes and gray changes.
With `sut_url` the replay provider listens on 127.0.0.1:`provider_port`, the team's service (pointed
at it) is driven by URL, and time is real (offsets and latencies divided by `speed`).
"""

from __future__ import annotations

import asyncio
import shlex
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from simulator.traces.format import TraceError, read_trace
from simulator.traces.recording import to_trace_exchange

from ..checkers import CHECKS, CheckResult
from ..events import (
    CheckFailed, CheckPassed, EventBus, ReplayCompared, RunFinished, RunStarted, ScenarioFinished, ScenarioStarted,
    StepDone,
)
from ..world import InProcessWorld, RemoteWorld, World
from .compare import Comparison, compare, service_calls
from .drive import Driven, drive
from .plan import ReplayError, ReplayPlan, plan_replay
from .telemetry import replay_telemetry

NOOP_CYCLES = 5  # as the chaos runner: looptime idles this many loop cycles before jumping the clock
UNRECORDED_MODES = ("ledger", "error")


@dataclass
class ReplayOptions:
    report_dir: Path = Path("reports")
    run_id: str | None = None
    sut_url: str | None = None  # None: the bundled core in-process, virtual time
    provider_port: int = 8090  # where the replay provider listens for a service by URL
    speed: float = 1.0  # real-time replays only: offsets and recorded latencies are divided by it
    seed: int | None = None  # None: the trace's (a chaos failure records its seed), else 7
    unrecorded: str = "ledger"  # a request the trace lacks: answered by the ledger, or refused ("error")
    # Tests plant bugs through this: called like binding_core.app.Core(config, **kwargs).
    core_factory: Callable[..., Any] | None = None

    @property
    def mode(self) -> str:
        return "real-time" if self.sut_url else "in-process"


@dataclass
class ReplayResult:
    run_id: str
    report_dir: Path
    trace: Path
    results: list[CheckResult]
    recorded_violations: tuple[str, ...]
    comparison: Comparison | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def violations(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.results if r.status == "failed")

    @property
    def passed(self) -> bool:
        return not self.violations

    @property
    def verdict(self) -> str:
        if self.recorded_violations:
            return "reproduced" if self.violations else "no longer reproduces"
        return "violated" if self.violations else "passed"

    @property
    def exit_code(self) -> int:
        return 1 if self.violations else 0

    def message(self) -> str:
        """The one line a person reads: reproduced, no longer reproduces, violated, or no violation."""
        recorded = ", ".join(self.recorded_violations)
        now = ", ".join(self.violations)
        if self.recorded_violations and self.violations:
            same = set(self.violations) == set(self.recorded_violations)
            return f"reproduced: {now}" + ("" if same else f" (recorded: {recorded})")
        if self.recorded_violations:
            return f"the incident no longer reproduces (recorded: {recorded})"
        return f"violated: {now}" if self.violations else "no check violated"


def replay_trace(path: str | Path, options: ReplayOptions | None = None, bus: EventBus | None = None) -> ReplayResult:
    """Replay one trace. Raises TraceError / ReplayError (naming the file) for a trace that cannot be
    replayed and RuntimeError when the harness cannot run (a service that does not answer)."""
    options = options or ReplayOptions()
    bus = bus or EventBus()
    _check_options(options)
    path = Path(path)
    trace = read_trace(path)
    plan = plan_replay(trace, seed=options.seed)
    return _Replay(plan, options, bus).run()


def _check_options(options: ReplayOptions) -> None:
    if options.unrecorded not in UNRECORDED_MODES:
        raise ValueError(f"unrecorded must be one of {', '.join(UNRECORDED_MODES)}, not {options.unrecorded!r}")
    if not options.speed > 0:
        raise ValueError(f"speed must be a number > 0, not {options.speed!r}")
    if not 0 <= options.provider_port <= 65535:
        raise ValueError(f"provider port must be in 0..65535, not {options.provider_port}")


class _Replay:
    def __init__(self, plan: ReplayPlan, options: ReplayOptions, bus: EventBus) -> None:
        self.plan, self.options, self.bus = plan, options, bus
        self.wall0 = time.perf_counter()
        self.speed = options.speed if options.sut_url else 1.0  # in-process time is virtual: nothing to scale

    def wall(self) -> float:
        return time.perf_counter() - self.wall0

    def run(self) -> ReplayResult:
        plan, o = self.plan, self.options
        run_id = o.run_id or datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S") + "-replay"
        report_dir = o.report_dir / run_id
        self.bus.emit(RunStarted(self.wall(), run_id, plan.seed, (plan.name,), o.mode, str(report_dir), plan.dialect))
        self.bus.emit(ScenarioStarted(self.wall(), plan.name, plan.seed, plan.scenario.description or
                                      f"replay of {plan.path}", 1, len(plan.events), plan.dialect))
        loop = asyncio.new_event_loop() if o.sut_url else _virtual_loop()
        try:
            driven, comparison, telemetry = loop.run_until_complete(self._replay())
        except BaseException as exc:
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            self._finish(run_id, report_dir, [], {}, 0.0, _harness_error(exc))
            raise
        finally:
            loop.close()
        notes = [*plan.notes, *driven.notes]
        result = ReplayResult(run_id, report_dir, plan.path, driven.results, plan.recorded_violations, comparison,
                              notes)
        self._emit_checks(driven.results)
        self.bus.emit(ReplayCompared(
            self.wall(), plan.name, str(plan.path), plan.dialect, plan.business_source, comparison.steps,
            comparison.unrecorded, comparison.never_asked, plan.recorded_violations, result.violations,
            result.verdict, tuple(notes),
        ))
        self._finish(run_id, report_dir, driven.results, telemetry, driven.end - driven.t0, "")
        return result

    async def _replay(self) -> tuple[Driven, Comparison, dict[str, Any]]:
        plan, o = self.plan, self.options
        provider: Any = None
        world: World
        if o.sut_url:
            from simulator.config import ProviderConfig
            from simulator.server import Provider

            provider = Provider(ProviderConfig(host="127.0.0.1", port=o.provider_port, seed=plan.seed,
                                               replay_file=plan.path, replay_unrecorded=o.unrecorded,
                                               replay_speed=self.speed, **plan.scenario.provider), port=None)
            await provider.start()
            world = RemoteWorld(plan.scenario, plan.seed, provider.url, o.sut_url, plan.dialect)
        else:
            world = InProcessWorld(plan.scenario, plan.seed, core_factory=o.core_factory, dialect=plan.dialect,
                                   provider_overrides={"replay_file": plan.path, "replay_unrecorded": o.unrecorded,
                                                       "replay_speed": 1.0})
        try:
            await world.start()
            provider = provider or world.provider  # type: ignore[attr-defined]
            driven = await drive(plan, world, speed=self.speed, on_event=self._on_event)
            started_at = await _provider_time_at(provider, driven.t0)
            entries = service_calls(provider.journal.entries(), plan.dialect)
            sent = [to_trace_exchange(entry, started_at, seq=i) for i, entry in enumerate(entries, start=1)]
            comparison = compare(plan, sent, driven.answers, self.speed)
            telemetry = replay_telemetry(world, provider, plan.dialect)
            return driven, comparison, telemetry
        finally:
            await world.stop()
            if o.sut_url and provider is not None:
                await provider.stop()

    def _on_event(self, index: int, event: Any, elapsed: float) -> None:
        self.bus.emit(StepDone(self.wall(), self.plan.name, 0, index + 1, event.kind, elapsed))

    def _emit_checks(self, results: list[CheckResult]) -> None:
        steps = tuple(_step_text(op) for op in self.plan.business)
        command = self.command()
        for result in results:
            check = CHECKS.checks[result.name]
            if result.status == "failed" and result.violation is not None:
                v = result.violation
                self.bus.emit(CheckFailed(self.wall(), self.plan.name, result.name, check.description, v.title,
                                          v.message, _jsonable(v.details), steps, command))
            else:
                self.bus.emit(CheckPassed(self.wall(), self.plan.name, result.name, check.description,
                                          skipped=result.status == "skipped", reason=result.reason))

    def _finish(self, run_id: str, report_dir: Path, results: list[CheckResult], telemetry: dict[str, Any],
                virtual: float, error: str) -> None:
        plan = self.plan
        failed = any(r.status == "failed" for r in results)
        passed = not failed and not error
        self.bus.emit(ScenarioFinished(self.wall(), plan.name, plan.seed, passed, 1, len(plan.events), virtual,
                                       self.wall(), {}, telemetry, error))
        self.bus.emit(RunFinished(self.wall(), run_id, passed, 1, sum(r.status == "failed" for r in results),
                                  self.wall(), virtual, str(report_dir)))

    def command(self) -> str:
        """The command that replays this trace again, as run."""
        o = self.options
        parts = ["pstnsim", "replay", str(self.plan.path)]
        if o.sut_url:
            parts += ["--sut", o.sut_url, "--provider-port", str(o.provider_port)]
            if o.speed != 1.0:
                parts += ["--speed", f"{o.speed:g}"]
        if o.seed is not None:
            parts += ["--seed", str(o.seed)]
        if o.unrecorded != "ledger":
            parts += ["--unrecorded", o.unrecorded]
        return shlex.join(parts)


def _virtual_loop() -> asyncio.AbstractEventLoop:
    import looptime

    return looptime.new_event_loop(noop_cycles=NOOP_CYCLES)


async def _provider_time_at(provider: Any, loop_time: float) -> float:
    """The provider's clock (epoch seconds) when the loop's clock read `loop_time`."""
    return loop_time + (provider.ledger.clock.now() - asyncio.get_running_loop().time())


def _step_text(op: Any) -> str:
    numbers = ", ".join(f"{k}={v}" for k, v in (("a", op.a), ("b", op.b)) if v)
    return f"{op.offset:9.3f}s  {op.op} {op.mode} x={op.x}" + (f" {numbers}" if numbers else "")


def _harness_error(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))[-8000:]


def _jsonable(value: Any) -> Any:
    import json

    return json.loads(json.dumps(value, default=str))


__all__ = ["ReplayOptions", "ReplayResult", "ReplayError", "TraceError", "replay_trace"]
