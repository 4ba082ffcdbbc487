"""The nemesis of a cluster run: what is done to the replicas, the database and the broker, and when.

Three steps, kept apart so a schedule is a value that a replay file can hold:
- `parse_nemesis(tables)`: the scenario's `[[nemesis]]` tables -> specs (ValueError naming a bad key or action);
- `plan(specs, replicas, duration, rng)`: pure and seeded -> the actions with their times and replicas;
- `run_nemesis(cluster, actions, started_at, log)`: does them in real time.

A table: `action` (below), `every` (mean seconds between actions, each gap drawn from 0.5x to 1.5x of it) or `at`
(a list of seconds from the start), `count` (at most this many), `replica` ("any": drawn per action, or an
index; replica actions only), and the action's own keys:

    kill            downtime (1.0)     SIGKILL, restart after `downtime` s
    pause           past_lease (1.0)   SIGSTOP for the lease plus `past_lease` s, then SIGCONT
    cut_db          -                  pg_terminate_backend of the replica's PostgreSQL connections
    cut_broker      -                  abort the replica's broker connections (its proxy)
    duplicate       messages (1), wait (5.0)  messages of the work queue delivered twice
    redeliver       messages (1), wait (5.0)  messages of the work queue returned (nacked) to it
    delivery_limit  wait (10.0)        one message returned until the broker dead-letters it
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Protocol, Sequence, TypeVar
from urllib.parse import urlsplit

from .backends import replica_application  # the application_name each replica's PostgreSQL connections carry

T = TypeVar("T")


# ---- what each action is ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActionKind:
    """An action's own keys (with defaults), whether it targets one replica, and what it needs
    ("postgres", "broker" or None)."""

    name: str
    params: dict[str, float | int]
    on_replica: bool
    needs: str | None = None


KINDS: dict[str, ActionKind] = {k.name: k for k in (
    ActionKind("kill", {"downtime": 1.0}, on_replica=True),
    ActionKind("pause", {"past_lease": 1.0}, on_replica=True),
    ActionKind("cut_db", {}, on_replica=True, needs="postgres"),
    ActionKind("cut_broker", {}, on_replica=True, needs="broker"),
    ActionKind("duplicate", {"messages": 1, "wait": 5.0}, on_replica=False, needs="broker"),
    ActionKind("redeliver", {"messages": 1, "wait": 5.0}, on_replica=False, needs="broker"),
    ActionKind("delivery_limit", {"wait": 10.0}, on_replica=False, needs="broker"),
)}
COMMON_KEYS = ("action", "every", "at", "count")
INTEGER_PARAMS = ("messages",)
JITTER = (0.5, 1.5)  # each gap of an `every` schedule is every * uniform(*JITTER)


# ---- parsing ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """One `[[nemesis]]` table, checked. `replica`: "any", an index, or None (broker actions)."""

    action: str
    every: float | None = None
    at: tuple[float, ...] | None = None
    count: int | None = None
    replica: int | str | None = None
    params: dict[str, float | int] = field(default_factory=dict)

    @property
    def needs(self) -> str | None:
        return KINDS[self.action].needs


def _number(where: str, key: str, value: Any, *, integer: bool = False, positive: bool = False) -> float | int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
        raise ValueError(f"{where}: `{key}` must be {'an integer' if integer else 'a number'}, not {value!r}")
    if value < 0 or (positive and value == 0):
        raise ValueError(f"{where}: `{key}` must be {'> 0' if positive else '>= 0'}, not {value!r}")
    return value if integer else float(value)


def parse_nemesis(tables: Sequence[dict[str, Any]]) -> list[Spec]:
    """Specs from the raw `[[nemesis]]` tables; ValueError naming the entry and the bad key or action."""
    specs = []
    for n, table in enumerate(tables, start=1):
        where = f"entry {n}"
        if not isinstance(table, dict):
            raise ValueError(f"{where}: must be a table, not {table!r}")
        if "action" not in table:
            raise ValueError(f"{where}: missing key `action` (one of {', '.join(KINDS)})")
        name = table["action"]
        if name not in KINDS:
            raise ValueError(f"{where}: unknown action {name!r} (known: {', '.join(KINDS)})")
        kind = KINDS[name]
        where = f"entry {n} ({name})"
        allowed = [*COMMON_KEYS, *(["replica"] if kind.on_replica else []), *kind.params]
        unknown = [k for k in table if k not in allowed]
        if unknown:
            raise ValueError(f"{where}: unknown key{'s' if len(unknown) > 1 else ''} "
                             f"{', '.join(f'`{k}`' for k in unknown)} (allowed: {', '.join(allowed)})")
        if ("every" in table) == ("at" in table):
            raise ValueError(f"{where}: needs exactly one of `every` (mean seconds between actions) or `at` "
                             f"(seconds from the start)")
        every = _number(where, "every", table["every"], positive=True) if "every" in table else None
        at = None
        if "at" in table:
            raw = table["at"] if isinstance(table["at"], list) else [table["at"]]
            at = tuple(sorted(float(_number(where, "at", t)) for t in raw))
        count = _number(where, "count", table["count"], integer=True, positive=True) if "count" in table else None
        replica: int | str | None = None
        if kind.on_replica:
            replica = table.get("replica", "any")
            if replica != "any":
                if isinstance(replica, bool) or not isinstance(replica, int) or replica < 0:
                    raise ValueError(f"{where}: `replica` must be \"any\" or a replica index (0, 1, ...), "
                                     f"not {replica!r}")
        params = dict(kind.params)
        for key in kind.params:
            if key in table:
                params[key] = _number(where, key, table[key], integer=key in INTEGER_PARAMS,
                                      positive=key in INTEGER_PARAMS)
        specs.append(Spec(name, every, at, count, replica, params))
    return specs


def requirements(specs: Sequence[Spec]) -> set[str]:
    """What the specs need of the run: "postgres" (cut_db), "broker" (the broker actions)."""
    return {s.needs for s in specs if s.needs}


# ---- planning (pure) -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Action:
    """One planned action: `at` seconds after the run's start, on `replica` (None: the broker's)."""

    at: float
    name: str
    replica: int | None
    params: dict[str, float | int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"at": self.at, "action": self.name, "replica": self.replica, "params": dict(self.params)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Action":
        """An action as `to_json` wrote it (a replay file); ValueError if it is not one."""
        try:
            name = data["action"]
            if name not in KINDS:
                raise ValueError(f"unknown action {name!r}")
            replica = data.get("replica")
            if KINDS[name].on_replica != (replica is not None):
                raise ValueError(f"{name}: replica {replica!r}")
            return cls(float(data["at"]), name, None if replica is None else int(replica), dict(data.get("params", {})))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a nemesis action: {data!r} ({exc})") from None


def action_from_json(data: dict[str, Any]) -> Action:
    return Action.from_json(data)


def _times(spec: Spec, duration: float, rng: random.Random) -> list[float]:
    if spec.at is not None:
        times = [t for t in spec.at if t < duration]
        return times[:spec.count] if spec.count is not None else times
    assert spec.every is not None
    times = []
    t = spec.every * rng.uniform(*JITTER)
    while t < duration and (spec.count is None or len(times) < spec.count):
        times.append(round(t, 3))
        t += spec.every * rng.uniform(*JITTER)
    return times


def plan(specs: Sequence[Spec], replicas: int, duration: float, rng: random.Random) -> list[Action]:
    """Every action within `duration` s, in time order; the same specs, replicas, duration and rng state give
    the same plan. ValueError if a spec names a replica the cluster does not have."""
    actions: list[tuple[float, int, Action]] = []
    for n, spec in enumerate(specs):
        if isinstance(spec.replica, int) and spec.replica >= replicas:
            raise ValueError(f"entry {n + 1} ({spec.action}): `replica` = {spec.replica}, but the cluster has "
                             f"{replicas} replica{'s' if replicas != 1 else ''} (0..{replicas - 1})")
        for t in _times(spec, duration, rng):
            replica: int | None = None
            if spec.replica == "any":
                replica = rng.randrange(replicas)
            elif isinstance(spec.replica, int):
                replica = spec.replica
            actions.append((t, n, Action(t, spec.action, replica, dict(spec.params))))
    actions.sort(key=lambda item: (item[0], item[1]))
    return [a for _, _, a in actions]


# ---- running ---------------------------------------------------------------------------------------------


class ReplicaView(Protocol):
    index: int
    running: bool
    paused: bool


class ClusterView(Protocol):
    """What the nemesis uses of scenarios/cluster/processes.py's Cluster."""

    replicas: Sequence[ReplicaView]
    db_url: str
    admin_db_url: str | None
    broker_url: str | None
    broker_namespace: str | None
    lease: float

    async def kill(self, i: int) -> None: ...
    async def restart(self, i: int) -> None: ...
    async def pause(self, i: int) -> None: ...
    async def resume(self, i: int) -> None: ...
    async def cut_broker(self, i: int) -> None: ...


async def _uncancellable(awaitable: Awaitable[T]) -> T:
    """Finish `awaitable` even if we are cancelled meanwhile (a killed replica must come back, a paused one
    must go on); the cancellation is raised afterwards."""
    task = asyncio.ensure_future(awaitable)
    cancelled = False
    while True:
        try:
            result = await asyncio.shield(task)
            break
        except asyncio.CancelledError:
            if task.done():
                raise
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError()
    return result


async def terminate_connections(server_url: str, database: str, application: str) -> int:
    """pg_terminate_backend every connection of `application` to `database`; how many there were."""
    import psycopg

    async with await psycopg.AsyncConnection.connect(server_url, autocommit=True, connect_timeout=5,
                                                     application_name="pstnsim-nemesis") as conn:
        cursor = await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = %s AND datname = %s AND pid <> pg_backend_pid()",
            (application, database))
        rows = await cursor.fetchall()
    return sum(1 for (ok,) in rows if ok)


def _database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


Handler = Callable[["_Runner", Action], Awaitable[dict[str, Any]]]


class _Runner:
    """Runs actions as they come due; one lock per replica (never two actions on one replica at once) and one
    for the broker actions (one priority consumer at a time)."""

    def __init__(self, cluster: ClusterView, started_at: float, log: list) -> None:
        self.cluster = cluster
        self.started_at = started_at
        self.log = log
        self.replica_locks = [asyncio.Lock() for _ in cluster.replicas]
        self.broker_lock = asyncio.Lock()

    def now(self) -> float:
        return round(asyncio.get_running_loop().time() - self.started_at, 3)

    async def run(self, action: Action) -> None:
        """The record goes into the log when the action starts (so the log is in start order and a report
        written meanwhile shows it "running"), and is completed in place when it ends."""
        record: dict[str, Any] = {"at": None, "planned_at": action.at, "action": action.name,
                                  "replica": action.replica, "params": dict(action.params), "outcome": "running",
                                  "details": {}}
        if action.replica is not None and not 0 <= action.replica < len(self.replica_locks):
            record.update(at=self.now(), outcome="skipped", ended_at=self.now(),
                          details={"reason": f"the cluster has no replica {action.replica}"})
            self.log.append(record)
            return
        lock = self.replica_locks[action.replica] if action.replica is not None else self.broker_lock
        try:
            async with lock:
                record["at"] = self.now()
                self.log.append(record)
                details = await HANDLERS[action.name](self, action)
                record["outcome"] = details.pop("outcome", "done")
                record["details"] = details
        except asyncio.CancelledError:
            record["outcome"] = "cancelled"
            raise
        except Exception as exc:  # one failed action is a fact for the report, not the end of the run
            record["outcome"] = "error"
            record["details"] = {"error": f"{type(exc).__name__}: {exc}"}
        finally:
            record["ended_at"] = self.now()
            if record["at"] is None:  # cancelled while waiting for its replica: not logged yet
                self.log.append(record)

    async def restore(self) -> None:
        """Every replica running and resumed, whatever happened before (a cancel mid-action included)."""
        for replica in self.cluster.replicas:
            done = []
            try:
                if replica.running and replica.paused:
                    await self.cluster.resume(replica.index)
                    done.append("resumed")
                if not replica.running:
                    await self.cluster.restart(replica.index)
                    done.append("restarted")
            except Exception as exc:
                self.log.append({"at": self.now(), "action": "restore", "replica": replica.index,
                                 "outcome": "error", "details": {"error": f"{type(exc).__name__}: {exc}"}})
                continue
            if done:
                self.log.append({"at": self.now(), "action": "restore", "replica": replica.index,
                                 "outcome": "done", "details": {"did": done}})


async def _kill(runner: _Runner, action: Action) -> dict[str, Any]:
    i = action.replica
    assert i is not None
    if not runner.cluster.replicas[i].running:
        return {"outcome": "skipped", "reason": "not running"}
    downtime = float(action.params.get("downtime", KINDS["kill"].params["downtime"]))
    await runner.cluster.kill(i)
    killed_at = runner.now()
    try:
        await asyncio.sleep(downtime)
    finally:
        await _uncancellable(runner.cluster.restart(i))
    return {"down_for": round(runner.now() - killed_at, 3)}


async def _pause(runner: _Runner, action: Action) -> dict[str, Any]:
    i = action.replica
    assert i is not None
    replica = runner.cluster.replicas[i]
    if not replica.running or replica.paused:
        return {"outcome": "skipped", "reason": "not running" if not replica.running else "already paused"}
    hold = runner.cluster.lease + float(action.params.get("past_lease", KINDS["pause"].params["past_lease"]))
    await runner.cluster.pause(i)
    try:
        await asyncio.sleep(hold)
    finally:
        await _uncancellable(runner.cluster.resume(i))
    return {"paused_for": round(hold, 3)}


async def _cut_db(runner: _Runner, action: Action) -> dict[str, Any]:
    assert action.replica is not None
    cluster = runner.cluster
    if not cluster.db_url.startswith(("postgresql:", "postgres:")):
        return {"outcome": "skipped", "reason": "cut_db needs PostgreSQL"}
    application = replica_application(action.replica)
    terminated = await terminate_connections(cluster.admin_db_url or cluster.db_url, _database_name(cluster.db_url),
                                             application)
    return {"terminated": terminated, "application_name": application}


async def _cut_broker(runner: _Runner, action: Action) -> dict[str, Any]:
    assert action.replica is not None
    if not runner.cluster.broker_url:
        return {"outcome": "skipped", "reason": "cut_broker needs a broker"}
    await runner.cluster.cut_broker(action.replica)
    return {}


def _broker_handler(tool: str) -> Handler:
    async def handle(runner: _Runner, action: Action) -> dict[str, Any]:
        cluster = runner.cluster
        if not cluster.broker_url or not cluster.broker_namespace:
            return {"outcome": "skipped", "reason": f"{action.name} needs a broker"}
        from . import broker_tools

        params = dict(action.params)
        if "messages" in params:
            params["messages"] = int(params["messages"])
        return await getattr(broker_tools, tool)(cluster.broker_url, cluster.broker_namespace, **params)

    return handle


HANDLERS: dict[str, Handler] = {
    "kill": _kill,
    "pause": _pause,
    "cut_db": _cut_db,
    "cut_broker": _cut_broker,
    "duplicate": _broker_handler("duplicate"),
    "redeliver": _broker_handler("redeliver"),
    "delivery_limit": _broker_handler("deliver_past_limit"),
}


async def run_nemesis(cluster: ClusterView, actions: Sequence[Action], started_at: float, log: list) -> None:
    """Do each action at `started_at + action.at` (`started_at`: a reading of the running loop's clock,
    `asyncio.get_running_loop().time()`), appending one record per action to `log` (at, planned_at, action,
    replica, params, outcome, details, ended_at). Returns when every action is over; on return and on cancel
    alike every replica is left running and resumed (a "restore" record says when that took doing)."""
    loop = asyncio.get_running_loop()
    runner = _Runner(cluster, started_at, log)
    tasks: list[asyncio.Task] = []
    try:
        for action in sorted(actions, key=lambda a: a.at):
            delay = started_at + action.at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(runner.run(action), name=f"nemesis {action.name} @{action.at}"))
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await _uncancellable(asyncio.gather(*tasks, return_exceptions=True))
        await _uncancellable(runner.restore())
