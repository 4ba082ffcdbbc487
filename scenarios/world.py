"""The systems a scenario runs against: in-process (fresh provider + core + temp DB, one loop) or by URL.

`InProcessWorld` owns everything and can crash and restart the core; the loop
is the machine's looptime loop, so hours of backoff take milliseconds.
`RemoteWorld` talks to servers started elsewhere (a team's own service, through
its adapter), in real time, and can only do what their APIs offer. Examples
stay apart there: each takes numbers nothing holds (or starts from the
adapter's reset), and checks only what happened on them since it started.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

import aiohttp

from simulator.clock import FIXED_EPOCH  # the epoch every in-process run starts at (provider and core agree)

from . import example_log
from .alert_sink import AlertRecorder, configured_port
from .call_recorder import RecordingClient
from .adapters import CoreApiAdapter, ServiceAdapter, offers
from .checkers import RetryPolicy
from .checkers.wire import core_calls as wire_core_calls
from .clients import Http, ProviderClient, items
from .dialect_ops import SETTLE_LOOKUPS, blocks_settling, core_operations, translate_rule, translate_rules
from .driver import Driver
from .scenario_file import Scenario

POLL = 0.5  # seconds between quiescence polls


class HarnessError(RuntimeError):
    """The harness cannot go on (a server down, a refusal it cannot work around): exit 2, not a violation."""


class NumbersUsedUp(HarnessError):
    """No more numbers that nothing holds: the run stops there (a bigger provider pool, or an adapter reset)."""


def retry_policy(core_table: dict[str, Any], dialect: str = "native") -> RetryPolicy:
    """The liveness bound and alert rule implied by the core's configuration (the scenario's [core])."""
    from binding_core.config import parse_config

    config = parse_config(core_table)
    retry, provider = config.retry, config.provider
    per_attempt_wait = max(retry.max_delay, provider.breaker_cooldown)
    # Settling a dead operation takes a query round; polls add their interval. Where the lookup is itself
    # a create (NPP's probe, an Aliyun XB's BindXB), it meets the creates' faults: allow as many rounds as
    # the attempts had.
    rounds = retry.max_attempts if "create_binding" in SETTLE_LOOKUPS[dialect] else 1
    return RetryPolicy(
        max_attempts=retry.max_attempts,
        alert_threshold=min(retry.alert_threshold, retry.max_attempts),
        provider_timeout=provider.timeout,
        max_delay=per_attempt_wait,
        in_doubt_window=provider.in_doubt_window,
        slack=rounds * (provider.timeout + per_attempt_wait) + config.worker.poll_interval + 2 * POLL,
        base_delay=retry.base_delay,
        backoff_cap=retry.max_delay,
        breaker_threshold=provider.breaker_threshold,
        breaker_cooldown=provider.breaker_cooldown,
        lease=config.lease,
    )


class World:
    """What a machine needs from the systems: a driver, fault control, and optional crash/gray/telemetry."""

    can_crash = False
    can_switch_gray = True
    real_time = False  # waiting is real (a service by URL): the machine keeps its waits short
    driver: Driver

    def __init__(self, scenario: Scenario, seed: int, dialect: str = "native") -> None:
        self.scenario = scenario
        self.seed = seed
        # The wire the core speaks to the provider: every fault rule is moved onto it (dialect_ops.py).
        self.dialect = dialect
        self.session: aiohttp.ClientSession | None = None
        self.fault_plan: list[dict[str, Any]] = translate_rules([dict(r) for r in scenario.faults], dialect)
        self.dynamic_faults: dict[str, dict[str, Any]] = {}
        # Installed rules that are hard outages of the settling lookups (dialect_ops.blocks_settling), and since
        # when at least one has been: that time is added to the driver's downtime.
        self._blocking: dict[str, bool] = {}
        self._outages: set[str] = set()
        self._outage_since = 0.0
        self.crash_times: list[float] = []
        # (when, downtime) of each crash and (when, all, numbers) of each gray change: a failing example's
        # trace carries them so that a replay does the same at the same offsets.
        self.crashes: list[tuple[float, float]] = []
        self.gray_changes: list[tuple[float, bool, tuple[str, ...]]] = []
        # Fault rules the machine added or removed, when (loop time): report.html tells them in words.
        self.fault_log: list[dict[str, Any]] = []
        # The gray configuration in force, as the harness set it (None: unknown until it sets one).
        self.gray_timeline: list[dict[str, Any]] | None = None
        # The recording alert sink (scenarios/alert_sink.py); None: none in this run, and why.
        self.alert_recorder: AlertRecorder | None = None
        self.alert_sink_wired = False
        self.no_alert_sink = "no recording alert sink in this run"

    async def start(self) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None
        if self.alert_recorder is not None:
            await self.alert_recorder.stop()
            self.alert_recorder = None

    async def crash_and_restart(self, downtime: float) -> None:
        raise RuntimeError("this world cannot crash the core")

    async def pick_numbers(self, count: int) -> list[str]:
        answer = await self.driver.provider.numbers()
        if not answer.ok:
            raise HarnessError(f"the provider at {self.driver.provider.base_url} did not list its numbers: "
                               f"{answer.describe()}")
        numbers = [n["x"] for n in items(answer.body, "numbers") if isinstance(n, dict) and "x" in n]
        if len(numbers) < count:
            raise HarnessError(f"the provider lists {len(numbers)} virtual numbers; the scenario needs {count}")
        return numbers[:count]

    # ---- faults -----------------------------------------------------------

    async def install_faults(self) -> None:
        rules = [*self.fault_plan, *self.dynamic_faults.values()]
        answer = await self.driver.provider.replace_faults(rules)
        if not answer.ok:
            raise HarnessError(f"the provider refused the fault rules: {answer.describe()} {answer.body}")
        for i, rule in enumerate(self.scenario.faults):
            self._installed(f"plan:{rule.get('id', i)}", blocks_settling(dict(rule), self.dialect))
        for rule_id in self.dynamic_faults:
            self._installed(rule_id, self._blocking.get(rule_id, False))

    async def add_fault(self, rule: dict[str, Any]) -> None:
        """`rule` names native operations; it is installed on the core's wire (not at all if it has nothing there)."""
        translated = translate_rule(rule, self.dialect)
        self.fault_log.append({"t": self.driver.now(), "change": "added", "id": rule.get("id"), "rule": rule,
                               "installed": translated is not None})
        if translated is None:
            return
        self._blocking[translated["id"]] = blocks_settling(rule, self.dialect)
        self.dynamic_faults[translated["id"]] = translated
        answer = await self.driver.provider.add_fault(translated)
        if not answer.ok:
            raise HarnessError(f"the provider refused fault rule {translated}: {answer.body}")
        self._installed(translated["id"], self._blocking[translated["id"]])

    async def remove_fault(self, rule_id: str) -> None:
        self.fault_log.append({"t": self.driver.now(), "change": "removed", "id": rule_id})
        if self.dynamic_faults.pop(rule_id, None) is not None:
            await self.driver.provider.remove_fault(rule_id)
            self._installed(rule_id, False)

    async def heal(self) -> None:
        """No faults at all: what quiescence is measured under."""
        answer = await self.driver.provider.replace_faults([])
        if not answer.ok:
            raise HarnessError(f"the provider refused to clear its faults: {answer.describe()}")
        for rule_id in list(self._outages):
            self._installed(rule_id, False)

    def _installed(self, rule_id: str, blocking: bool) -> None:
        """Track hard outages of the settling lookups; their union in time counts as downtime."""
        was_out = bool(self._outages)
        if blocking:
            self._outages.add(rule_id)
        else:
            self._outages.discard(rule_id)
        if not was_out and self._outages:
            self._outage_since = self.driver.now()
        elif was_out and not self._outages:
            self.driver.downtime += self.driver.now() - self._outage_since

    async def set_gray(self, all_numbers: bool, numbers: list[str]) -> bool:
        """Gray switching through the adapter; False (nothing done) when it offers no set_gray()."""
        if not offers(self.driver.core, "set_gray"):
            return False
        at, begun = self.driver.now(), self.driver.tick()
        self.gray_changes.append((at, all_numbers, tuple(numbers)))
        applied = bool(await self.driver.core.set_gray(all_numbers, numbers))
        if applied:
            self.gray_timeline = [*(self.gray_timeline or []), {"at": at, "begun": begun, "applied": self.driver.tick(),
                                                                "enabled": True, "all": all_numbers,
                                                                "numbers": sorted(numbers)}]
        return applied

    async def observations(self) -> dict[str, Any]:
        """What only the world knows, for the checks (Observation fields; see Driver.observe)."""
        data: dict[str, Any] = {"crash_times": list(self.crash_times), "gray_timeline": self.gray_timeline,
                                "alert_sink_wired": self.alert_sink_wired, "unavailable": {}}
        if self.alert_recorder is None:
            data["unavailable"]["alert_deliveries"] = self.no_alert_sink
        else:
            data["alert_deliveries"] = [d for d in self.alert_recorder.deliveries
                                        if d.get("x") is None or d["x"] in self.driver.managed_xs]
        wire = await self.wire_observations()
        data["unavailable"].update(wire.pop("unavailable", {}))
        data.update(wire)
        calls, why = await self.write_calls(data.get("wire_calls"))
        data["write_calls"] = calls
        if calls is None:
            data["unavailable"]["write_calls"] = why
        return data

    async def wire_observations(self) -> dict[str, Any]:
        """Every call of the core from the provider's journal (admin API) and what ties the clocks together, for
        the breaker, retry-gap and refusal checks (Observation fields; loop times)."""
        data: dict[str, Any] = {"crashes": list(self.crashes), "dialect": self.dialect, "unavailable": {
            "breaker_refusals": "the service's breaker refusals are not observable from outside it"}}
        entries: list[dict[str, Any]] = []
        after = 0
        for _ in range(50):  # the journal is a bounded ring: a few pages at most
            page = await self.driver.provider.journal(after=after, limit=1000)
            if not page.ok or not isinstance(page.body, dict):
                data["unavailable"]["wire_calls"] = f"the provider's journal could not be read: {page.describe()}"
                return data
            entries.extend(items(page.body, "entries"))
            after = page.body.get("next")
            if not after:
                break
        ledger = await self.driver.provider.ledger(released=True)
        now = ledger.body.get("now") if ledger.ok and isinstance(ledger.body, dict) else None
        if not isinstance(now, (int, float)):
            data["unavailable"]["wire_calls"] = "the provider's ledger does not say its time (now)"
            return data
        data["wire_calls"] = wire_core_calls(entries, core_operations(self.dialect), self.dialect,
                                             items(ledger.body, "bindings"), float(now) - self.driver.now())
        return data

    async def write_calls(self, wire_calls: list[dict[str, Any]] | None) -> tuple[list[dict[str, Any]] | None, str]:
        """The core's creates and deletes in the provider's journal, with their Idempotency-Key (loop times);
        `wire_calls`: every call of the core, already read from the journal (None: it could not be)."""
        if wire_calls is None:
            return None, "the provider's journal could not be read"
        return self._keyed_calls([{"dialect": self.dialect, **c} for c in wire_calls], 0.0)

    def _keyed_calls(self, entries: list[dict[str, Any]], offset: float) -> tuple[list[dict[str, Any]] | None, str]:
        """Journal rows (at in provider time = loop time + `offset`) -> the core's keyed write calls."""
        if self.dialect != "native":
            return None, (f"the {self.dialect} wire carries no idempotency key: the provider's journal cannot tell "
                          "one operation's calls from another's")
        calls = [{"at": float(e["at"]) - offset, "end": float(e["at"]) - offset + float(e.get("latency") or 0.0),
                  "operation": e["operation"], "key": e.get("key"), "status": e.get("status"), "x": e.get("x")}
                 for e in entries
                 if e.get("dialect") == "native" and e.get("operation") in ("create_binding", "delete_binding")
                 and e.get("direction", "inbound") == "inbound"]
        return calls, ""

    def telemetry(self) -> dict[str, Any]:
        return {}

    async def collect_telemetry(self, since: float) -> dict[str, Any]:
        """This example's telemetry for report.html; `since`: the example's start (loop time). A world by URL
        reads what its servers offer; an in-process one has it at hand."""
        return self.telemetry()


class InProcessWorld(World):
    """A fresh provider and core, both on loopback in the current (looptime) loop, a temp database."""

    can_crash = True

    def __init__(self, scenario: Scenario, seed: int, core_factory: Any = None, dialect: str = "native",
                 provider_overrides: dict[str, Any] | None = None) -> None:
        super().__init__(scenario, seed, dialect)
        # ProviderConfig fields set on top of the scenario's (a replay serves a trace: replay_file, ...).
        self.provider_overrides = dict(provider_overrides or {})
        self.provider: Any = None
        self.core: Any = None
        self.tmpdir: Path | None = None
        # Tests plant bugs by passing their own factory: (config, provider_url, db_path, clock, rng) -> Core.
        self.core_factory = core_factory
        # Over a vendor's wire: the core's creates and deletes as they left it (scenarios/call_recorder.py).
        self.client_calls: list[dict[str, Any]] = []
        self.restarts = 0
        # Breaker refusals and call outcomes (core clock) of the core's earlier process lives.
        self._refused_before: list[float] = []
        self._outcomes_before: list[tuple[float, float, bool]] = []

    async def start(self) -> None:
        from binding_core.config import parse_config
        from simulator.config import ProviderConfig
        from simulator.numbers import PoolSpec
        from simulator.server import Provider

        shm = Path("/dev/shm")
        self.tmpdir = Path(tempfile.mkdtemp(prefix="pstnsim-chaos-", dir=shm if shm.is_dir() else None))
        self.provider = Provider(ProviderConfig(seed=self.seed, epoch=FIXED_EPOCH,
                                                pool=PoolSpec(seed=self.seed, per_city=5, stock_per_city=0),
                                                **self.scenario.provider), **self.provider_overrides)
        await self.provider.start()
        core_table = dict(self.scenario.core)
        core_table["provider"] = {**core_table.get("provider", {}), "dialect": self.dialect}
        self.config = parse_config({**core_table, "seed": self.seed})
        if self.scenario.workload.gray == "none":
            from binding_core.config import GraySettings

            self.config = self.config.replace(gray=GraySettings(all=False, numbers=()))
        gray = self.config.gray
        self.gray_timeline = [{"at": None, "begun": None, "applied": None, "enabled": gray is not None,
                               "all": bool(gray and gray.all), "numbers": sorted(gray.numbers) if gray else []}]
        # Every alert the core raises goes to the harness's recording sink too (the delivery check).
        self.alert_recorder = await AlertRecorder().start()
        self.config = self.config.replace(alerts=dataclasses.replace(self.config.alerts,
                                                                     webhook_url=self.alert_recorder.url))
        self.alert_sink_wired = True
        self.core = await self._new_core()
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False))
        self.driver = Driver(CoreApiAdapter(self.core.url, Http(self.session, self.core.url)),
                             ProviderClient(self.session, self.provider.url),
                             retry_policy(self.scenario.core, self.dialect), loop=asyncio.get_running_loop())
        self.driver.world_data = self.observations
        await self.install_faults()

    async def wire_observations(self) -> dict[str, Any]:
        """The journal read in-process (no scrubbing), the core's breaker refusals, its clock (FIXED_EPOCH based)."""
        offset = self.provider.ledger.clock.now() - self.driver.now()
        calls = wire_core_calls(self.provider.journal.entries(), core_operations(self.dialect), self.dialect,
                                self.provider.ledger.snapshot(released=True)["bindings"], offset)
        guarded = self.core.parts.provider
        refusals = [at - FIXED_EPOCH for at in [*self._refused_before, *guarded.refused_at]]
        outcomes = [(start - FIXED_EPOCH, end - FIXED_EPOCH, failed)
                    for start, end, failed in [*self._outcomes_before, *guarded.outcomes]]
        return {"wire_calls": calls, "breaker_refusals": refusals, "breaker_calls": outcomes,
                "core_epoch": FIXED_EPOCH, "crashes": list(self.crashes), "dialect": self.dialect}

    async def write_calls(self, wire_calls: list[dict[str, Any]] | None) -> tuple[list[dict[str, Any]] | None, str]:
        """In-process: the journal's own entries (headers unscrubbed); over a vendor's wire, the recorded calls."""
        if self.dialect != "native":
            return [{**c, "end": c["at"] if c["end"] is None else c["end"]} for c in self.client_calls], ""
        offset = self.provider.ledger.clock.now() - self.driver.now()
        rows = [{"at": e.at, "latency": e.latency, "dialect": e.dialect, "operation": e.operation, "x": e.x,
                 "status": e.status, "direction": getattr(e, "direction", "inbound"),
                 "key": _header(e.request_headers, "idempotency-key")}
                for e in self.provider.journal.entries()]
        return self._keyed_calls(rows, offset)

    async def _new_core(self) -> Any:
        from binding_core.app import Core
        from binding_core.clock import LoopClock

        assert self.tmpdir is not None
        rng = random.Random(f"chaos-core:{self.seed}:{self.restarts}")
        kwargs: dict[str, Any] = dict(provider_url=self.provider.url, db_path=self.tmpdir / "core.db",
                                      clock=LoopClock(epoch=FIXED_EPOCH), rng=rng)
        if self.dialect != "native":  # no idempotency key on the wire: record the calls as they leave the core
            from binding_core.provider import make_client

            settings = dataclasses.replace(self.config.provider, url=self.provider.url)
            kwargs["provider"] = RecordingClient(make_client(settings, kwargs["clock"]).inner, self.client_calls)
        factory = self.core_factory or Core
        core = factory(self.config, **kwargs)
        return await core.start()

    async def crash_and_restart(self, downtime: float) -> None:
        """Kill the core without draining (nothing more is written), wait, reopen the same database."""
        gray = self.core.parts.gray.current
        self.crash_times.append(self.driver.now())
        self.crashes.append((self.driver.now(), downtime))
        self._refused_before.extend(self.core.parts.provider.refused_at)  # a restarted core's breaker starts anew
        self._outcomes_before.extend(self.core.parts.provider.outcomes)
        await self.core.abort()
        await asyncio.sleep(downtime)
        self.restarts += 1
        self.core = await self._new_core()
        if gray.enabled:
            self.core.parts.gray.set(_gray_settings(gray))
        self.driver.core.base_url = self.driver.core.http.base_url = self.core.url
        # Claims the dead process held become free when their lease runs out.
        self.driver.downtime += downtime + self.core.config.lease

    async def stop(self) -> None:
        """Stop everything; the temp directory goes even when stopping is cut short (the wall-clock guard)."""
        try:
            await super().stop()
            if self.core is not None:
                await self.core.stop()
            if self.provider is not None:
                await self.provider.stop()
        finally:
            if self.tmpdir is not None:
                shutil.rmtree(self.tmpdir, ignore_errors=True)

    def telemetry(self) -> dict[str, Any]:
        """Timelines, faults, latencies, retries and alerts of this example, for report.html."""
        epoch = FIXED_EPOCH
        store = self.core.store
        timelines: dict[str, dict[str, list[list[Any]]]] = {}
        for t in store.transitions():
            lane = timelines.setdefault(t["x"], {"XB": [], "AXB": []})
            lane[t["mode"]].append([round(t["at"] - epoch, 3), t["to_status"]])
        faults, latencies, fault_counts, fault_operations = [], [], {}, {}
        core_calls = core_operations(self.dialect)
        for entry in self.provider.journal.entries():
            if entry.dialect != self.dialect or entry.operation not in core_calls:
                continue
            latencies.append(entry.latency)
            if entry.fault:
                kind = entry.fault.split()[0].split(":")[0]
                fault_counts[kind] = fault_counts.get(kind, 0) + 1
                on = f"{entry.operation} {kind}"  # what was faulted on the wire, e.g. "BindAxb ghost_success"
                fault_operations[on] = fault_operations.get(on, 0) + 1
                faults.append([round(entry.at - epoch, 3), entry.x, entry.fault])
        attempts: dict[str, int] = {}
        for op in store.operations(limit=10**6):
            if op.kind != "sweep":  # sweeps never count attempts
                attempts[str(op.attempts)] = attempts.get(str(op.attempts), 0) + 1
        alerts = [[round(a["at"] - epoch, 3), a["x"], a["mode"], a["attempts"]] for a in store.alerts()]
        zero = example_log.origin(epoch, 0.0)
        story = {
            **example_log.world_story(self, zero),
            "calls": example_log.journal_calls(self.provider.journal.entries(), core_calls, self.dialect, zero),
            "transitions": example_log.transition_rows(store.transitions(), zero),
            "core_operations": example_log.core_operation_rows(store.operations(limit=10**6), zero),
        }
        held = {op.binding_id for op in store.operations(limit=10**6) if op.kind != "sweep" and op.binding_id}
        strays = [
            [round(b["created_at"] - epoch, 3), None if b["ended_at"] is None else round(b["ended_at"] - epoch, 3),
             b["x"], b["mode"], b["binding_id"]]
            for b in self.provider.ledger.snapshot(released=True)["bindings"]
            if b["binding_id"] not in held and b["x"] in self.driver.managed_xs
            and (b["ended_at"] is None or b["ended_at"] > b["created_at"])  # not an NPP probe made and released at once
        ]
        return {
            "end": round(self.driver.now(), 3),
            "timelines": timelines,
            "faults": faults,
            "crashes": [round(t, 3) for t in self.crash_times],
            "alerts": alerts,
            "strays": strays,
            "latencies": latencies,
            "settle_times": list(self.driver.settle_times),
            "attempts": attempts,
            "fault_counts": fault_counts,
            "fault_operations": fault_operations,
            **story,
        }


class NumberChoice:
    """The numbers a real-time run hands its examples: only numbers nothing holds (no provider binding, the
    service says NOT_BIND for both modes), those the run used least so far first. Shared by the run's worlds."""

    def __init__(self) -> None:
        self.used: dict[str, int] = {}  # number -> examples of this run that took it

    async def candidates(self, driver: Driver) -> list[str]:
        """The provider's numbers that no active binding holds, least used first (not yet asked of the service)."""
        ledger = await driver.provider.ledger()
        if not ledger.ok or not isinstance(ledger.body, dict):
            raise HarnessError(f"the provider at {driver.provider.base_url} does not show its ledger "
                               f"(GET /_admin/ledger: {ledger.describe()}); is it `pstnsim provider`?")
        held = {b.get("x") for b in items(ledger.body, "bindings") if b.get("status", "active") == "active"}
        numbers = [n["x"] for n in items(ledger.body, "numbers")
                   if isinstance(n, dict) and n.get("x") and not n.get("locked") and n["x"] not in held]
        order = {x: i for i, x in enumerate(numbers)}
        return sorted(numbers, key=lambda x: (self.used.get(x, 0), order[x]))

    async def take(self, driver: Driver, wanted: list[str], count: int) -> list[str]:
        """Exactly these numbers (--numbers, as a real-time replay names them), if nothing holds them."""
        if len(wanted) < count:
            raise HarnessError(f"--numbers names {len(wanted)} number(s); the scenario needs {count}")
        free = set(await self.candidates(driver))
        for x in wanted[:count]:
            view = await driver.view(x) if x in free else None
            if view is None or any((view.get(m) or {}).get("status") != "NOT_BIND" for m in ("xb", "axb")):
                raise HarnessError(f"--numbers: {x} is not free (the provider does not list it unbound, or the "
                                   "service does not say NOT_BIND for both modes)")
        return wanted[:count]

    async def pick(self, driver: Driver, count: int) -> list[str]:
        chosen: list[str] = []
        candidates = await self.candidates(driver)
        for x in candidates:
            view = await driver.view(x)
            if view is not None and all((view.get(m) or {}).get("status") == "NOT_BIND" for m in ("xb", "axb")):
                chosen.append(x)
                if len(chosen) == count:
                    break
        if len(chosen) < count:
            raise NumbersUsedUp(
                f"only {len(chosen)} of the provider's {len(candidates)} unbound numbers are free at the service too; "
                f"an example needs {count}. Start the provider with a bigger pool ([pool] per_city in its --config) "
                "or give the adapter a reset()")
        for x in chosen:
            self.used[x] = self.used.get(x, 0) + 1
        return chosen


class RemoteWorld(World):
    """Servers by URL (a team's own binding service and a provider started with `pstnsim provider`), real time.

    The service is reached through its adapter (the bundled core's API by default)."""

    real_time = True

    def __init__(self, scenario: Scenario, seed: int, provider_url: str, sut_url: str,
                 dialect: str = "native", adapter: type[ServiceAdapter] | None = None,
                 numbers: NumberChoice | None = None, fixed_numbers: tuple[str, ...] | None = None) -> None:
        super().__init__(scenario, seed, dialect)
        self.provider_url, self.sut_url = provider_url, sut_url
        self.adapter_class = adapter or CoreApiAdapter
        self.numbers = numbers or NumberChoice()
        self.fixed_numbers = tuple(fixed_numbers or ())  # --numbers: these, in every example

    async def start(self) -> None:
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False))
        adapter = self.adapter_class(self.sut_url, Http(self.session, self.sut_url))
        self.driver = Driver(adapter, ProviderClient(self.session, self.provider_url),
                             retry_policy(self.scenario.core, self.dialect), loop=asyncio.get_running_loop())
        down = await adapter.health()
        if down:
            raise HarnessError(f"the service under test at {self.sut_url} does not answer: {down}")
        self.driver.world_data = self.observations
        await self._start_alert_sink(adapter)
        await self.install_faults()

    async def _start_alert_sink(self, adapter: ServiceAdapter) -> None:
        """The recording sink on the port the team pointed its service's alert webhook at, if it named one."""
        try:
            port = configured_port(adapter)
        except ValueError as exc:
            raise HarnessError(str(exc)) from None
        if port is None:
            self.no_alert_sink = ("no recording alert sink: give the adapter an `alert_sink_port` (or set "
                                  "PSTNSIM_ALERT_SINK_PORT) and point the service's alert webhook at "
                                  "http://127.0.0.1:<port>/alerts")
            return
        try:
            self.alert_recorder = await AlertRecorder(port=port).start()
        except OSError as exc:
            raise HarnessError(f"the recording alert sink cannot listen on 127.0.0.1:{port}: {exc}") from None

    async def collect_telemetry(self, since: float) -> dict[str, Any]:
        """The example's timeline from what a remote run has: the driver's history, the provider's journal
        (admin API), and the transitions, operations and alerts the adapter offers (scenarios/example_log.py)."""
        return await example_log.remote_telemetry(self, since)

    async def pick_numbers(self, count: int) -> list[str]:
        """Numbers nothing holds, those the run used least first; with the adapter's reset(), after resetting the
        service and the provider. (Other numbers each time: the provider's fault decisions follow the number, and
        a reset restarts their counts, so the same numbers would meet the same faults in every example.)"""
        if offers(self.driver.core, "reset"):
            await self.driver.core.reset()
            answer = await self.driver.provider.reset()
            if not answer.ok:
                raise HarnessError(f"the provider refused POST /_admin/reset: {answer.describe()}")
            await self.install_faults()  # the reset put back the provider's own --faults rules
        if self.fixed_numbers:
            return await self.numbers.take(self.driver, list(self.fixed_numbers), count)
        return await self.numbers.pick(self.driver, count)

    async def preflight(self, count: int) -> None:
        """Before any example: the service answers, the provider is a pstnsim provider with numbers enough.
        Raises HarnessError saying what is wrong (the run ends with exit 2, before Hypothesis starts)."""
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False))
        try:
            provider = ProviderClient(self.session, self.provider_url)
            ledger = await provider.ledger()
            if ledger.status is None:
                raise HarnessError(f"the provider at {self.provider_url} does not answer: {ledger.error}")
            if not ledger.ok:
                raise HarnessError(f"the provider at {self.provider_url} answered GET /_admin/ledger with "
                                   f"{ledger.describe()}; --provider-url must be a `pstnsim provider` on loopback")
            adapter = self.adapter_class(self.sut_url, Http(self.session, self.sut_url))
            down = await adapter.health()
            if down:
                raise HarnessError(f"the service under test at {self.sut_url} does not answer: {down}")
            if not offers(adapter, "reset"):
                driver = Driver(adapter, provider, retry_policy(self.scenario.core, self.dialect),
                                loop=asyncio.get_running_loop())
                free = await self.numbers.candidates(driver)
                if len(free) < count:
                    raise HarnessError(f"the provider has {len(free)} unbound numbers; an example needs {count}")
        finally:
            await self.stop()


def _header(headers: Any, name: str) -> str | None:
    """A request header from a journal entry (the raw aiohttp view, or the scrubbed dict)."""
    view = getattr(headers, "headers", headers)
    if not hasattr(view, "items"):
        return None
    return next((str(v) for k, v in view.items() if k.lower() == name), None)


def _gray_settings(gray: Any) -> Any:
    from binding_core.config import GraySettings

    return GraySettings(all=gray.all, numbers=tuple(sorted(gray.numbers)))
