"""`pstnsim chaos cluster`: one run per scenario file against N core replicas as real processes.

Per scenario: the run's own database (and broker namespace), the provider and the
replicas started, the traffic and the nemesis actions planned from the seed (or
read from a replay file), both played out in real time, then the provider healed,
the replicas given (bounded) time to finish, and every check run on what they
did. Transitions are checked after every burst too. The replay file (the schedule
of traffic and nemesis actions) is written before anything runs, so even a run
that crashes leaves it behind. Events go to the same report writers as
`pstnsim chaos run`; the cluster's facts ride in the scenario's telemetry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import shlex
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..alert_sink import AlertRecorder
from ..checkers import CHECKS, CheckResult, Observation, run_checks
from ..driver import Step
from ..events import (
    CheckFailed, CheckPassed, EventBus, ExampleDone, RunFinished, RunStarted, ScenarioFinished, ScenarioStarted,
    StepDone,
)
from ..example_log import remote_telemetry
from ..machine import MachineLog, parties_for
from ..scenario_file import Scenario, ScenarioError, load_scenario
from ..verdicts import EXIT_HARNESS, EXIT_PASSED, EXIT_VIOLATION, exit_code, vacuous
from ..world import HarnessError, NumbersUsedUp
from . import backends
from .cluster_world import ClusterWorld
from .config_files import write_toml
from .nemesis_plan import actions_from_json, actions_to_json, parse_specs, plan_actions
from .processes import Cluster, ProcessError, start_provider
from .schedule import Burst, ReplayFile, plan_traffic, read_replay

__all__ = ["ClusterOptions", "ClusterRunner", "EXIT_HARNESS", "EXIT_PASSED", "EXIT_VIOLATION"]

log = logging.getLogger("scenarios.cluster")

DEFAULT_REPLICAS = 2
DEFAULT_DURATION = 20.0
DEFAULT_SETTLE = 60.0
STEP_CHECK_WITHIN = 10.0  # seconds a per-burst transitions check may take before it is skipped
BURSTS_END_WITHIN = 90.0  # seconds after the schedule for the bursts' last answers
UNSUPPORTED_WORKLOAD = ("crashes", "expiries", "rebind_at_doubt_end", "fault_kinds")


@dataclass
class ClusterOptions:
    files: list[Path]
    db: str
    replicas: int | None = None
    broker: str | None = None
    seed: int = 7
    time_budget: float | None = None
    report_dir: Path = Path("reports")
    run_id: str | None = None
    replay: Path | None = None
    keep_db: bool = False
    checks: tuple[str, ...] | None = None


@dataclass
class Plan:
    """One scenario's run, decided before anything starts."""

    scenario: Scenario
    replicas: int
    duration: float
    settle_timeout: float
    traffic: list[Burst]
    actions: list[Any]
    replay_path: Path


@dataclass
class Outcome:
    scenario: Scenario
    passed: bool
    results: list[CheckResult] = field(default_factory=list)
    error: str = ""
    verdict: str = ""
    note: str = ""
    counts: dict[str, int] = field(default_factory=lambda: {"ok": 0, "fail": 0, "info": 0})
    telemetry: dict[str, Any] = field(default_factory=dict)
    bursts: int = 0
    elapsed: float = 0.0


def validate_for_cluster(scenario: Scenario) -> None:
    """What a cluster run cannot do (the in-process machine's own rules) is refused, not silently dropped."""
    w = scenario.workload
    where = f"{scenario.source or scenario.name}: [workload]"
    for key in UNSUPPORTED_WORKLOAD:
        if getattr(w, key):
            raise ScenarioError(f"{where} {key} is not used by cluster runs (the nemesis kills, pauses and cuts; "
                                "[[faults]] holds the provider's faults); remove it or use `pstnsim chaos run`")
    if w.gray == "switch":
        raise ScenarioError(f"{where} gray = \"switch\" is not used by cluster runs; use \"all\" or \"none\"")


class ClusterRunner:
    def __init__(self, options: ClusterOptions, bus: EventBus | None = None) -> None:
        self.options = options
        self.bus = bus or EventBus()
        self._wall0 = time.perf_counter()
        self.replay_files: list[Path] = []

    def wall(self) -> float:
        return time.perf_counter() - self._wall0

    # ---- planning (no I/O but reading files) ------------------------------------------

    def plans(self, report_dir: Path) -> list[Plan]:
        """Every scenario's plan; ScenarioError for a file or replay that cannot be used."""
        o = self.options
        replay = None
        if o.replay is not None:
            try:
                replay = read_replay(o.replay)
            except ValueError as exc:
                raise ScenarioError(str(exc)) from None
        files = list(o.files) or ([Path(replay.scenario)] if replay else [])
        if not files:
            raise ScenarioError("name at least one scenario FILE (or --replay FILE)")
        scenarios = [load_scenario(p) for p in files]
        for scenario in scenarios:
            validate_for_cluster(scenario)
        plans = []
        for index, scenario in enumerate(scenarios):
            specs = parse_specs(scenario)  # refused before anything starts, even on a replay
            _require(scenario, specs, o)
            table = scenario.cluster
            replicas = o.replicas or (replay.replicas if replay else table.get("replicas", DEFAULT_REPLICAS))
            duration = float(table.get("duration", DEFAULT_DURATION))
            if o.time_budget is not None and not replay:
                duration = min(duration, o.time_budget / len(scenarios))
            settle = float(table.get("settle_timeout", DEFAULT_SETTLE))
            path = report_dir / f"{scenario.name}.cluster-replay.json"
            if replay is not None:
                if replicas != replay.replicas and any(a.get("replica") is not None for a in replay.nemesis):
                    raise ScenarioError(f"--replay {o.replay}: recorded with {replay.replicas} replicas; "
                                        f"--replicas {replicas} would aim its nemesis actions elsewhere")
                traffic, duration = replay.traffic, replay.duration
                try:
                    actions = actions_from_json(replay.nemesis)
                except (TypeError, ValueError) as exc:
                    raise ScenarioError(f"--replay {o.replay}: its nemesis actions do not load ({exc})") from None
            else:
                rng = random.Random(f"cluster-traffic:{o.seed}:{index}")
                traffic = plan_traffic(scenario, duration, rng)
                try:
                    actions = plan_actions(specs, replicas, duration, o.seed + index)
                except ValueError as exc:
                    raise ScenarioError(f"{scenario.source or scenario.name}: [[nemesis]] {exc}") from None
            plans.append(Plan(scenario, replicas, duration, settle, traffic, actions, path))
        return plans

    # ---- the run ---------------------------------------------------------------

    def run(self) -> int:
        o = self.options
        run_id = o.run_id or datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S") + f"-seed{o.seed}-cluster"
        report_dir = o.report_dir / run_id
        plans = self.plans(report_dir)  # ScenarioError goes to the CLI (exit 2) before any event
        self.bus.emit(RunStarted(self.wall(), run_id, o.seed, tuple(p.scenario.name for p in plans), "cluster",
                                 str(report_dir), None))
        outcomes: list[Outcome] = []
        interrupted = False
        try:
            for plan in plans:
                outcomes.append(self._scenario(plan, report_dir))
        except KeyboardInterrupt:
            interrupted = True
        violations = sum(1 for out in outcomes for r in out.results if r.status == "failed")
        errors = sum(1 for out in outcomes if out.error)
        code = exit_code(violations, errors, interrupted)
        self.bus.emit(RunFinished(self.wall(), run_id, code == EXIT_PASSED, len(outcomes), violations, self.wall(),
                                  sum(out.elapsed for out in outcomes), str(report_dir), interrupted=interrupted,
                                  harness_errors=errors, exit_code=code))
        return code

    def _scenario(self, plan: Plan, report_dir: Path) -> Outcome:
        scenario, o = plan.scenario, self.options
        started = self.wall()
        self.bus.emit(ScenarioStarted(self.wall(), scenario.name, o.seed, scenario.description, 1, len(plan.traffic),
                                      scenario.dialect, time_budget=plan.duration))
        ReplayFile(str(scenario.source or scenario.name), o.seed, plan.replicas, plan.duration, plan.traffic,
                   actions_to_json(plan.actions)).write(plan.replay_path)
        self.replay_files.append(plan.replay_path)
        try:
            outcome = asyncio.run(self._run_cluster(plan, report_dir / scenario.name))
        except KeyboardInterrupt:
            outcome = Outcome(scenario, False, verdict="interrupted", note="interrupted (Ctrl-C)")
            self._finish(plan, outcome, started)
            raise
        self._emit_checks(plan, outcome)
        self._finish(plan, outcome, started)
        return outcome

    def _finish(self, plan: Plan, outcome: Outcome, started: float) -> None:
        self.bus.emit(ScenarioFinished(
            self.wall(), plan.scenario.name, self.options.seed, outcome.passed, 1, outcome.bursts, outcome.elapsed,
            self.wall() - started, outcome.counts, outcome.telemetry, outcome.error, "",
            verdict=outcome.verdict, note=outcome.note))

    def replay_command(self, plan: Plan) -> str:
        """The command that runs the plan again (passwords in URLs shown as ***: reports are shared)."""
        o = self.options
        parts = ["pstnsim", "chaos", "cluster", str(plan.scenario.source or plan.scenario.name),
                 "--replicas", str(plan.replicas), "--db", backends.masked(o.db), "--seed", str(o.seed)]
        if o.broker:
            parts += ["--broker", backends.masked(o.broker)]
        parts += ["--replay", str(plan.replay_path)]
        return shlex.join(parts)

    def _emit_checks(self, plan: Plan, outcome: Outcome) -> None:
        from ..runner import _jsonable

        for result in outcome.results:
            check = CHECKS.checks[result.name]
            if result.status == "failed" and result.violation is not None:
                v = result.violation
                self.bus.emit(CheckFailed(self.wall(), plan.scenario.name, result.name, check.description, v.title,
                                          v.message, _jsonable(v.details), (), self.replay_command(plan)))
            else:
                self.bus.emit(CheckPassed(self.wall(), plan.scenario.name, result.name, check.description,
                                          skipped=result.status == "skipped", reason=result.reason))

    async def _run_cluster(self, plan: Plan, work_dir: Path) -> Outcome:
        """Start everything, play the plan, check, and always clean up (database dropped unless --keep-db)."""
        o, scenario = self.options, plan.scenario
        outcome = Outcome(scenario, False)
        facts: dict[str, Any] = {"replicas": plan.replicas, "duration": plan.duration, "seed": o.seed,
                                 "replay_file": str(plan.replay_path), "replay_command": self.replay_command(plan),
                                 "nemesis_planned": actions_to_json(plan.actions), "nemesis_log": []}
        database = provider = cluster = world = sink = None
        namespace = backends.broker_namespace(o.seed) if o.broker else None
        try:
            try:
                database = backends.open_database(o.db, o.seed)
                facts["backend"] = {"database": database.kind, "database_name": database.name,
                                    "broker": "rabbitmq" if o.broker else None, "broker_namespace": namespace}
                if o.broker:
                    await backends.check_broker(o.broker)
            except backends.BackendError as exc:
                raise HarnessError(str(exc)) from None
            sink = await AlertRecorder().start()  # every replica posts its alerts here (alerts_delivered_once)
            core_table = {**scenario.core, "alerts": {**scenario.core.get("alerts", {}), "webhook_url": sink.url}}
            core_table["provider"] = {**scenario.core.get("provider", {}), "dialect": scenario.dialect}
            if scenario.workload.gray == "none":  # every number on the old path, as in `pstnsim chaos run`
                core_table["gray"] = {"all": False, "numbers": []}
            config = write_toml(core_table, work_dir / "core.toml")
            provider_config = write_toml(scenario.provider, work_dir / "provider.toml") if scenario.provider else None
            provider = await start_provider(o.seed, work_dir, provider_config)
            lease = _lease(scenario.core)
            cluster = Cluster(replicas=plan.replicas,
                              db_urls=[database.for_replica(i) for i in range(plan.replicas)],
                              db_url=database.url, admin_db_url=database.admin_url, provider_url=provider.url,
                              config_path=config, log_dir=work_dir, lease=lease, broker_url=o.broker,
                              broker_namespace=namespace, seed=o.seed)
            facts["lease"] = lease
            facts["logs"] = str(work_dir)
            await cluster.start()
            world = ClusterWorld(scenario, o.seed, cluster, provider.url, scenario.dialect)
            world.alert_recorder, world.alert_sink_wired, sink = sink, True, None  # the world stops it now
            world.gray_timeline = _gray_timeline(core_table)
            await world.start()
            await self._play(plan, cluster, world, outcome, facts)
        except (HarnessError, ProcessError, NumbersUsedUp, OSError) as exc:
            outcome.error, outcome.verdict = str(exc), "harness error"
        except Exception as exc:  # noqa: BLE001 - a server answering nonsense, an adapter error: exit 2, said why
            log.warning("cluster run failed", exc_info=True)
            outcome.error, outcome.verdict = f"{type(exc).__name__}: {exc}", "harness error"
        finally:
            if world is not None:
                with contextlib.suppress(Exception):
                    await world.stop()
            if cluster is not None:
                stopping = time.perf_counter()
                await cluster.stop()
                facts["stop_took"] = round(time.perf_counter() - stopping, 3)
                facts["process_events"] = [{**e, "t": round(e["t"] - facts.get("t0", e["t"]), 3)}
                                           for e in cluster.events]
            if provider is not None:
                await provider.stop()
            if sink is not None:
                await sink.stop()
            await self._clean_up(database, namespace, facts)
            facts.pop("t0", None)  # a reading of this process's loop clock: meaningless in a report
        outcome.telemetry = {**outcome.telemetry, "cluster": facts}
        return outcome

    async def _clean_up(self, database: Any, namespace: str | None, facts: dict[str, Any]) -> None:
        o = self.options
        if database is not None and database.kind == "postgresql":
            if o.keep_db:
                facts["kept_database"] = database.url
                print(f"pstnsim chaos cluster: kept the database {database.url}", flush=True)
            else:
                try:
                    await asyncio.to_thread(backends.drop_database, database)
                    facts["database_dropped"] = True
                except Exception as exc:  # noqa: BLE001 - reported; the run's verdict stands
                    facts["database_dropped"] = False
                    facts.setdefault("notes", []).append(f"could not drop {database.name}: {exc}")
        if o.broker and namespace:
            problem = await backends.delete_broker_topology(o.broker, namespace)
            facts["broker_topology_deleted"] = not problem
            if problem:
                facts.setdefault("notes", []).append(problem)

    async def _play(self, plan: Plan, cluster: Cluster, world: ClusterWorld, outcome: Outcome,
                    facts: dict[str, Any]) -> None:
        scenario, o = plan.scenario, self.options
        w = scenario.workload
        driver = world.driver
        xs = await world.pick_numbers(w.numbers)
        parties = parties_for(o.seed, w.parties, set(xs))
        driver.managed_xs = set(xs)
        await driver.record_initial(xs)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        facts["t0"] = t0
        facts["numbers"] = xs
        step_checks = CHECKS.select(self._check_names(scenario), phase="step")
        step_failures: list[CheckResult] = []
        nemesis_log: list[dict[str, Any]] = facts["nemesis_log"]

        async def burst(index: int, planned: Burst) -> None:
            await asyncio.sleep(max(0.0, t0 + planned.at - loop.time()))
            steps = [Step(op.kind, op.mode, xs[op.x], parties[op.a] if op.mode == "AXB" else None, parties[op.b],
                          op.offset) for op in planned.ops]
            await driver.run_burst(steps)
            outcome.bursts += 1
            self.bus.emit(StepDone(self.wall(), scenario.name, 0, index + 1, "burst", loop.time() - t0))
            if step_checks and not step_failures:
                failed = await _step_check(driver, step_checks)
                step_failures.extend(failed)

        nemesis = asyncio.create_task(self._nemesis(cluster, plan.actions, t0, nemesis_log))
        bursts = [asyncio.create_task(burst(i, b)) for i, b in enumerate(plan.traffic)]
        try:
            await asyncio.sleep(max(0.0, t0 + plan.duration - loop.time()))
            done, pending = await asyncio.wait(bursts, timeout=BURSTS_END_WITHIN) if bursts else (set(), set())
            for task in pending:
                task.cancel()
            for task in done:
                if task.exception() is not None:
                    raise HarnessError(f"a burst failed: {task.exception()!r}")
            await nemesis  # the nemesis leaves every replica running and resumed
        finally:
            for task in [*bursts, nemesis]:
                if not task.done():
                    task.cancel()
            await asyncio.gather(*bursts, nemesis, return_exceptions=True)
        gone = cluster.exited()
        if gone:
            names = ", ".join(f"{r.name} (log {r.log_path})" for r in gone)
            raise HarnessError(f"replica(s) exited by themselves during the run: {names}")
        down = [r for r in cluster.replicas if not r.running]
        if down:
            names = ", ".join(f"{r.name} (log {r.log_path})" for r in down)
            raise HarnessError(f"replica(s) not running after the nemesis (a restart failed): {names}")
        world.note_outages(cluster.events)
        traffic_end = loop.time()
        await driver.refresh_tracked()
        await world.heal()
        limit = min(plan.settle_timeout, driver.policy.quiet_within() + driver.downtime)
        quiet = await driver.wait_quiescent(limit)
        facts["settle"] = {"limit": round(limit, 3), "quiet": quiet, "took": round(loop.time() - traffic_end, 3)}
        observation = await driver.observe(calls=w.calls, callers=parties)
        results = run_checks(observation, CHECKS.select(self._check_names(scenario)))
        outcome.results = _merge(results, step_failures)
        outcome.elapsed = loop.time() - t0
        for op in driver.history:
            if op.outcome is not None:
                outcome.counts[op.outcome.value] = outcome.counts.get(op.outcome.value, 0) + 1
        facts["requests_per_replica"] = {f"replica-{i}": n for i, n in (world.http.served if world.http else {}).items()}
        facts["requests_over_time"] = {f"replica-{i}": [round(t - t0, 3) for t in times]
                                       for i, times in (world.http.answered_at if world.http else {}).items()}
        facts["failovers"] = world.http.failovers if world.http else 0
        facts["crashes"] = [{"at": round(at - t0, 3), "lasted": round(d, 3)} for at, d in world.crashes]
        try:
            outcome.telemetry = await remote_telemetry(world, t0)
        except Exception as exc:  # noqa: BLE001 - telemetry is for the report; never hide the verdict
            outcome.telemetry = {"error": f"telemetry unavailable: {exc}"}
        self.bus.emit(ExampleDone(self.wall(), scenario.name, 0, outcome.bursts, outcome.elapsed))
        self._verdict(outcome, driver)

    def _verdict(self, outcome: Outcome, driver: Any) -> None:
        if any(r.status == "failed" for r in outcome.results):
            outcome.passed, outcome.verdict = False, "violated"
            return
        machine_log = MachineLog(examples=1, last_results=outcome.results)
        machine_log.writes = driver.writes_sent
        machine_log.binds_seen = driver.binds_seen + sum(
            1 for op in driver.history if op.kind == "bind" and op.outcome is not None and op.outcome.value == "ok")
        why = vacuous(machine_log).replace("1 example(s) ", "the run ").replace(
            "raise --steps, --examples or --time-budget", "raise [cluster] duration or --time-budget")
        if why:
            outcome.passed, outcome.verdict, outcome.error = False, "vacuous", f"vacuous run: {why}"
            return
        outcome.passed, outcome.verdict = True, "passed"

    async def _nemesis(self, cluster: Cluster, actions: list[Any], t0: float, nemesis_log: list[dict[str, Any]]) -> None:
        if not actions:
            return
        from .nemesis_plan import nemesis_module

        await nemesis_module().run_nemesis(cluster, actions, t0, nemesis_log)

    def _check_names(self, scenario: Scenario) -> tuple[str, ...] | None:
        return self.options.checks or (scenario.checks or None)


async def _step_check(driver: Any, checks: list[Any]) -> list[CheckResult]:
    """The transitions so far are all legal moves (bounded: a slow read skips this round, never the run)."""
    from binding_core.transitions import LEGAL_MOVES

    try:
        transitions = await asyncio.wait_for(driver.core_transitions(), STEP_CHECK_WITHIN)
    except asyncio.TimeoutError:
        return []
    if transitions is None:
        return []
    observation = Observation(now=driver.now(), transitions=transitions, legal_transitions=set(LEGAL_MOVES))
    return [r for r in run_checks(observation, checks) if r.status == "failed"]


def _merge(results: list[CheckResult], step_failures: list[CheckResult]) -> list[CheckResult]:
    """The end's results, with a check that failed after some burst reported as failed."""
    failed = {r.name: r for r in step_failures}
    merged = [failed.pop(r.name, r) if r.status != "failed" else r for r in results]
    return merged + list(failed.values())


def _require(scenario: Scenario, specs: list[Any], options: ClusterOptions) -> None:
    """A nemesis action the run's backends cannot take (cut_db on SQLite, broker actions without --broker)."""
    from .nemesis_plan import nemesis_module

    if not specs:
        return
    needs = nemesis_module().requirements(specs)
    where = f"{scenario.source or scenario.name}: [[nemesis]]"
    if "postgres" in needs and not options.db.lower().startswith(("postgresql:", "postgres:")):
        raise ScenarioError(f"{where} cut_db needs a postgresql:// --db")
    if "broker" in needs and not options.broker:
        actions = sorted({s.action for s in specs if s.needs == "broker"})
        raise ScenarioError(f"{where} {', '.join(actions)} need(s) --broker amqp://...")


def _gray_timeline(core: dict[str, Any]) -> list[dict[str, Any]]:
    """The replicas' gray list as their config file sets it (the harness never changes it in a cluster run)."""
    from binding_core.config import parse_config

    gray = parse_config(core).gray
    return [{"at": None, "begun": None, "applied": None, "enabled": gray is not None, "all": bool(gray and gray.all),
             "numbers": sorted(gray.numbers) if gray else []}]


def _lease(core: dict[str, Any]) -> float:
    from binding_core.config import parse_config

    return float(parse_config(core).lease)
