"""End-to-end throughput of the bundled binding core against the in-process simulator, over loopback.

For each scenario (no faults; 20% HTTP 5xx plus 5% ghost success on every provider call) it binds N
distinct virtual numbers (XB) with a bounded number of requests in flight and reports:
- binds/s end to end: N / (first request -> last OPERATION->BIND commit);
- p50/p99 of the API answer (202) as the client sees it;
- p50/p99 of time-to-BIND: the operation's creation to its BIND transition (the core's own records);
- provider calls, retries, alerts, circuit-breaker trips, and a consistency check (exactly one provider binding per X).

Real time, one event loop (provider, core and client share it), loopback only, bounded by --binds.

Then the backends, with real processes (per row a fresh simulator, and `pstnsim core` replicas sharing one
new database, the client sending to them in turn): binds/s and time-to-BIND p50/p99 without faults, on SQLite,
with --db on PostgreSQL (a scratch database created beside --db's and dropped after), and with --broker on
PostgreSQL + RabbitMQ (a broker namespace per row, deleted after); for each row the CPU each process used
(replicas, simulator, PostgreSQL, RabbitMQ, this load generator, the rest of the machine; read from /proc).
    .venv/bin/python benchmarks/core_throughput.py [--binds 1000] [--concurrency 50] [--seed 0]
        [--db postgresql://postgres@127.0.0.1:5432/test] [--broker amqp://guest:guest@127.0.0.1:5672/]
        [--replicas 1,2] [--backends-only] [--json FILE]
    .venv/bin/python benchmarks/core_throughput.py --backends --json benchmarks/core_backends.json
        (the backends table only, 1, 2 and 4 replicas, servers on 127.0.0.1 unless --db/--broker say otherwise)
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from binding_core.app import Core  # noqa: E402
from binding_core.config import AlertSettings, CoreConfig, ProviderSettings  # noqa: E402
from binding_core.storage import is_postgres_url, open_store, redacted  # noqa: E402
from simulator.server import Provider  # noqa: E402
from simulator.testing import provider_config  # noqa: E402

FAULTY = [
    {"id": "ghost", "action": {"kind": "ghost_success", "status": 502}, "when": {"probability": 0.05}},
    {"id": "5xx", "action": {"kind": "status", "status": 503}, "when": {"probability": 0.2}},
]
SCENARIOS = {"no faults": [], "20% 5xx + 5% ghost success": FAULTY}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run_scenario(name: str, rules: list[dict], binds: int, concurrency: int, seed: int, workdir: Path) -> dict:
    per_city = -(-binds // 4)
    config = provider_config(seed)
    # No latency faults here: every call is answered at once, so a short provider deadline and in-doubt
    # window are honest and keep the sweeps after lost calls from adding a minute of real time to the run.
    config = dataclasses.replace(config, pool=dataclasses.replace(config.pool, per_city=per_city, stock_per_city=0),
                                 request_deadline=2.0)
    provider = Provider(config)
    await provider.start()
    for rule in rules:
        provider.faults.add(rule)
    core_config = CoreConfig(seed=seed, alerts=AlertSettings(log=False),
                             provider=ProviderSettings(in_doubt_window=3.0))
    core = Core(core_config, provider_url=provider.url, db_path=workdir / f"{name.replace(' ', '_')}.db",
                rng=random.Random(f"bench:{seed}"))
    await core.start()
    numbers = [n.x for n in provider.ledger.numbers()][:binds]
    answers: list[float] = []
    gate = asyncio.Semaphore(concurrency)
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as http:

            async def bind(x: str, i: int) -> None:
                async with gate:
                    started = time.perf_counter()
                    async with http.post(f"{core.url}/v1/numbers/{x}/xb", json={"b": f"138{i:08d}"}) as response:
                        await response.read()
                        assert response.status == 202, response.status
                    answers.append(time.perf_counter() - started)

            wall_start = time.perf_counter()
            clock_start = core.parts.worker.clock.now()
            await asyncio.gather(*(bind(x, i) for i, x in enumerate(numbers)))
            assert await core.wait_settled(timeout=600), "the queue did not drain within 600 s"
            wall = time.perf_counter() - wall_start
        store = core.store
        created = {op.id: op.created_at for op in store.operations(limit=10**6)}
        bound = [t for t in store.transitions() if t["to_status"] == "BIND"]
        to_bind = [t["at"] - created[t["operation_id"]] for t in bound]
        last_bind = max(t["at"] for t in bound) - clock_start
        ops = store.operations(limit=10**6)
        held = provider.ledger.bindings()
        consistent = len(held) == len(bound) == binds and len({b.x for b in held}) == binds
        calls = len(provider.journal.entries()) if hasattr(provider.journal, "entries") else float("nan")
        return {
            "scenario": name,
            "binds": binds,
            "bound": len(bound),
            "binds_per_s": len(bound) / last_bind,
            "answer_p50_ms": statistics.median(answers) * 1000,
            "answer_p99_ms": pct(answers, 0.99) * 1000,
            "to_bind_p50_ms": statistics.median(to_bind) * 1000,
            "to_bind_p99_ms": pct(to_bind, 0.99) * 1000,
            "retries": sum(op.attempts for op in ops),
            "dead": sum(op.state == "dead" for op in ops),
            "sweeps": sum(op.kind == "sweep" for op in ops),
            "swept": sum(op.outcome == "swept" for op in ops),
            "alerts": len(store.alerts()),
            "breaker_trips": core.parts.provider.breaker.trips,
            "provider_calls": calls,
            "consistent": consistent,
            "wall_s": wall,
        }
    finally:
        await core.stop()
        await provider.stop()


# The replicas' config: no log sink for alerts (there are none without faults), look for work every 0.5 s.
REPLICA_TOML = """
[alerts]
log = false
[provider]
in_doubt_window = 3.0
[worker]
poll_interval = 0.5
"""

LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
LOCAL_RABBITMQ = "amqp://guest:guest@127.0.0.1:5672/"
BACKEND_LABELS = {"sqlite": "SQLite", "postgresql": "PostgreSQL", "postgresql+rabbitmq": "PostgreSQL + RabbitMQ"}
# --backends binds more than the in-process table: a row lasts seconds, not one, so the CPU samples mean something.
BACKENDS_BINDS = 2000
CPU_ROLES = ("core", "simulator", "postgres", "rabbitmq", "load generator", "other")


# ---- where the CPU goes: per-process CPU seconds from /proc (Linux) ----

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds `pid` has used so far; None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()  # the command name may hold spaces; fields start at 'state'
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def machine_cpu_seconds() -> tuple[float, float, float]:
    """(busy, idle, interrupts) CPU seconds of all cores since boot. iowait counts as idle (a core waiting is
    free); interrupts (irq + softirq: much of loopback TCP) are busy time no process is charged for."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    idle = values[3] + values[4]
    return (sum(values) - idle) / CLOCK_TICKS, idle / CLOCK_TICKS, (values[5] + values[6]) / CLOCK_TICKS


def postgres_role(cmdline: str, database: str | None) -> str:
    """A PostgreSQL process's role from its title: a client backend names its database
    ("postgres: 15/main: user db host(port) state"); the server's own processes (WAL writer, checkpointer...)
    count as 'postgres', backends of other databases as 'other'."""
    words = cmdline.replace("\0", " ").split()
    if len(words) >= 5 and words[0] == "postgres:" and ("(" in words[4] or words[4] == "[local]"):
        return "postgres" if database is not None and words[3] == database else "other"
    return "postgres"


class CpuSampler:
    """CPU seconds per role over a window: the run's own processes by pid, PostgreSQL and RabbitMQ by name,
    everything else on the machine as 'other'. Sampled every `interval` so processes that come and go
    during the window are counted; a process started in the window counts from zero."""

    def __init__(self, known: dict[int, str], database: str | None, interval: float = 0.5):
        self.known, self.database, self.interval = known, database, interval
        self.base: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.roles: dict[int, str] = {}
        self.names: dict[int, str] = {}  # the command name of every process not the run's own
        self.task: asyncio.Task | None = None

    def role(self, pid: int) -> str:
        if pid in self.known:
            return self.known[pid]
        if pid not in self.roles:
            try:
                comm = Path(f"/proc/{pid}/comm").read_text().strip()
                cmdline = Path(f"/proc/{pid}/cmdline").read_text(errors="replace") if comm == "postgres" else ""
            except OSError:
                comm = cmdline = ""
            self.roles[pid] = ("rabbitmq" if comm == "beam.smp" else postgres_role(cmdline, self.database)
                               if comm == "postgres" else "other")
            self.names[pid] = comm
        return self.roles[pid]

    def sample(self) -> dict[int, float]:
        seen = {}
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                seconds = process_cpu_seconds(int(entry.name))
                if seconds is not None:
                    seen[int(entry.name)] = seconds
        return seen

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            for pid, seconds in self.sample().items():
                self.role(pid)
                self.last[pid] = seconds

    def start(self) -> None:
        self.base = self.sample()
        self.last = dict(self.base)
        for pid in self.base:
            self.role(pid)
        self.machine_start, self.wall_start = machine_cpu_seconds(), time.monotonic()
        self.task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> dict:
        """{'wall_s', 'busy_pct', 'idle_pct', 'roles': {role: % of one core}, 'replicas': [% each]}."""
        assert self.task is not None
        self.task.cancel()
        try:
            await self.task
        except asyncio.CancelledError:
            pass
        for pid, seconds in self.sample().items():
            self.role(pid)
            self.last[pid] = seconds
        wall = time.monotonic() - self.wall_start
        busy, idle, interrupts = (end - start for end, start in zip(machine_cpu_seconds(), self.machine_start))
        used = {pid: seconds - self.base.get(pid, 0.0) for pid, seconds in self.last.items()}
        roles = dict.fromkeys(CPU_ROLES, 0.0)
        for pid, seconds in used.items():
            roles[self.role(pid)] += seconds
        # 'other' is what the machine did beyond the named processes and interrupts (including processes that
        # came and went between two samples).
        roles["other"] = max(0.0, busy - interrupts - sum(v for k, v in roles.items() if k != "other"))
        replicas = [used.get(pid, 0.0) for pid, role in self.known.items() if role == "core"]
        strangers = sorted(((seconds, pid) for pid, seconds in used.items() if self.role(pid) == "other"), reverse=True)
        pct = lambda seconds: round(100 * seconds / wall, 1)  # noqa: E731  (% of one core)
        return {"wall_s": round(wall, 2), "busy_pct": pct(busy), "idle_pct": pct(idle), "interrupts_pct": pct(interrupts),
                "roles": {k: pct(v) for k, v in roles.items()}, "replicas": [pct(v) for v in replicas],
                "busiest_other": [[self.names.get(pid, "?"), pct(seconds)] for seconds, pid in strangers[:3] if seconds > 0]}


class PgWaitSampler:
    """What the run's PostgreSQL sessions are doing, sampled from pg_stat_activity: on average how many run,
    wait for a lock (the numbering lock is an advisory lock), for the WAL flush of a commit (IO:WALSync), or sit
    'idle in transaction': inside a transaction, waiting for their replica's next statement (a replica that
    is not on a CPU holds its locks meanwhile)."""

    def __init__(self, admin_url: str, database: str, interval: float = 0.1):
        self.admin_url, self.database, self.interval = admin_url, database, interval
        self.totals: dict[str, int] = {}
        self.samples = 0
        self.task: asyncio.Task | None = None

    def sample(self, conn) -> None:
        rows = conn.execute("SELECT state, wait_event_type, wait_event FROM pg_stat_activity WHERE datname = %s "
                            "AND pid <> pg_backend_pid()", [self.database]).fetchall()
        self.samples += 1
        for state, kind, event in rows:
            # idle: between transactions; idle in transaction: inside one, waiting for its replica's next statement
            what = state if state != "active" else f"{kind}:{event}" if kind else "running"
            self.totals[what] = self.totals.get(what, 0) + 1

    async def _loop(self) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            while True:
                self.sample(conn)
                await asyncio.sleep(self.interval)

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> dict[str, float]:
        """{what: average number of sessions in that state}, busiest first."""
        assert self.task is not None
        self.task.cancel()
        try:
            await self.task
        except asyncio.CancelledError:
            pass
        averages = {what: round(n / max(1, self.samples), 2) for what, n in self.totals.items()}
        return dict(sorted(averages.items(), key=lambda item: -item[1]))


def transactions(admin_url: str, database: str, deadline: float = 10.0) -> int:
    """Transactions (reads included) the database has run, once its sessions have all ended and reported."""
    import psycopg

    give_up = time.monotonic() + deadline
    with psycopg.connect(admin_url, autocommit=True) as conn:
        while True:
            backends, done = conn.execute("SELECT numbackends, xact_commit + xact_rollback FROM pg_stat_database "
                                          "WHERE datname = %s", [database]).fetchone()
            if backends == 0 or time.monotonic() > give_up:
                return done
            time.sleep(0.05)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def fsync_ms(folder: Path, count: int = 50) -> float:
    """Median time of write + fsync of one small block in `folder`: what a durable commit waits for at least."""
    path = folder / "fsync.probe"
    times = []
    with open(path, "wb") as probe:
        for _ in range(count):
            started = time.perf_counter()
            probe.write(b"x" * 512)
            probe.flush()
            os.fsync(probe.fileno())
            times.append(time.perf_counter() - started)
    path.unlink()
    return round(statistics.median(times) * 1000, 2)


def commit_id() -> str:
    """The checkout's commit (with '+dirty' when files differ from it): what the figures were measured on."""
    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


# ---- the servers: scratch databases and broker namespaces, made per row and removed after ----

async def spawn(args: list[str], log: Path, expect: str = "") -> tuple[asyncio.subprocess.Process, str]:
    """`python -m ...` in the background; its URL from the 'listening on' line (which must mention `expect`)."""
    with open(log, "ab") as stderr:
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", *args, stdout=asyncio.subprocess.PIPE,
                                                    stderr=stderr, env=dict(os.environ))
    assert proc.stdout is not None
    while True:
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        if not line:
            raise RuntimeError(f"{args[0]} exited before listening; see {log}")
        if "listening on " in line:
            if expect not in line:
                proc.terminate()
                await proc.wait()
                raise RuntimeError(f"{args[0]} listens without {expect!r}: {line.strip()}")
            return proc, line.split("listening on ")[1].split()[0]


def first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def postgres_facts(server_url: str) -> dict:
    """The server's version and commit settings, or {'problem': why it cannot be used}."""
    try:
        import psycopg
    except ImportError:
        return {"problem": "no PostgreSQL driver (pip install 'pstnsim[postgres]')"}
    try:
        with psycopg.connect(server_url, autocommit=True, connect_timeout=5) as conn:
            facts = {name: conn.execute(f"SHOW {name}").fetchone()[0]
                     for name in ("server_version", "synchronous_commit", "fsync", "max_connections")}
    except psycopg.Error as error:
        return {"problem": f"PostgreSQL at {redacted(server_url)} unreachable: {first_line(error)}"}
    return facts


def scratch_postgres(server_url: str) -> tuple[str, str]:
    """A new database beside `server_url`'s: (its name, its URL)."""
    import psycopg

    name = f"pstnsim_bench_{uuid.uuid4().hex}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    return name, urlsplit(server_url)._replace(path=f"/{name}").geturl()


def drop_postgres(server_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def core_takes_broker() -> bool:
    """Whether this checkout's `pstnsim core` has the --broker option."""
    usage = subprocess.run([sys.executable, "-m", "binding_core.cli", "--help"], capture_output=True, text=True,
                           timeout=60, cwd=Path(__file__).resolve().parents[1])
    return "--broker" in usage.stdout


async def rabbitmq_facts(broker_url: str) -> dict:
    """The broker's version, or {'problem': why it cannot be used}."""
    try:
        import aio_pika
    except ImportError:
        return {"problem": "no AMQP client (pip install aio-pika)"}
    if not core_takes_broker():
        return {"problem": "this pstnsim core has no --broker option"}
    try:
        connection = await aio_pika.connect(broker_url, timeout=5)
    except Exception as error:  # aio-pika raises several unrelated types for a refused or failed login
        return {"problem": f"RabbitMQ at {redacted(broker_url)} unreachable: {first_line(error)}"}
    async with connection:
        underlying = getattr(connection.transport, "connection", None)  # aiormq's, which holds the server's hello
        properties = getattr(underlying, "server_properties", None) or {}
        version = properties.get("version", "unknown")
    return {"version": version.decode() if isinstance(version, bytes) else version}


async def delete_namespace(broker_url: str, namespace: str) -> None:
    """Delete the namespace's queues and exchanges, messages and all (the core declared them)."""
    from binding_core.broker.topology import delete_topology

    await delete_topology(broker_url, namespace)


# ---- one row: a fresh simulator, `replicas` core processes on one new database ----

def log_warnings(log: Path, top: int = 3) -> list[list]:
    """The replicas' most frequent WARNING/ERROR lines, numbers blanked so repeats count together:
    [[count, line], ...]. A row with many is measured on a core that was retrying something."""
    counts: dict[str, int] = {}
    for line in log.read_text(errors="replace").splitlines() if log.exists() else []:
        if " WARNING " in line or " ERROR " in line:
            text = re.sub(r"\d+", "N", line.split(" ", 2)[-1])[:160]  # without the timestamp
            counts[text] = counts.get(text, 0) + 1
    return [[n, text] for text, n in sorted(counts.items(), key=lambda item: -item[1])[:top]]


class RowFailed(Exception):
    """The row's load did not complete (the table shows why; the other rows still run)."""


async def bound_numbers(http: aiohttp.ClientSession, provider_url: str, count: int) -> list[str]:
    numbers: list[str] = []
    after = None
    while len(numbers) < count:
        async with http.get(f"{provider_url}/v1/numbers", params={"limit": "1000", **({"after": after} if after else {})}) as response:
            page = await response.json()
        numbers += [n["x"] for n in page["numbers"]]
        after = page["next"]
        if after is None:
            break
    return numbers[:count]


async def run_backend(backend: str, replicas: int, args: argparse.Namespace, workdir: Path) -> dict:
    """Binds without faults through `replicas` core processes on one database of `backend`."""
    label = f"{backend}-{replicas}-{uuid.uuid4().hex[:8]}"  # a new database file and log per row, also when repeated
    log = workdir / f"{label}.log"
    (workdir / "provider.toml").write_text(f"request_deadline = 2\n[pool]\nper_city = {-(-args.binds // 4)}\n"
                                           "stock_per_city = 0\n")
    (workdir / "core.toml").write_text(REPLICA_TOML)
    scratch = namespace = None
    if backend.startswith("postgresql"):
        scratch, target = scratch_postgres(args.db)
    else:
        target = str(workdir / f"{label}.db")
    broker_args: list[str] = []
    if backend.endswith("rabbitmq"):
        namespace = f"pstnsim-bench-{uuid.uuid4().hex[:12]}"
        broker_args = ["--broker", args.broker, "--broker-namespace", namespace]
    procs: list[asyncio.subprocess.Process] = []
    store = row = None
    try:
        provider, provider_url = await spawn(["scenarios.cli", "provider", "--port", "0", "--seed", str(args.seed),
                                              "--config", str(workdir / "provider.toml")], log)
        procs.append(provider)
        urls = []
        for i in range(replicas):
            core, url = await spawn(["binding_core.cli", "--provider-url", provider_url, "--db", target, "--port", "0",
                                     "--config", str(workdir / "core.toml"), "--seed", str(args.seed + i),
                                     "--log-level", "WARNING", *broker_args], log,
                              expect=namespace or "")  # the core says which broker namespace it works through
            procs.append(core)
            urls.append(url)
        store = open_store(target)
        gate = asyncio.Semaphore(args.concurrency)
        roles = {os.getpid(): "load generator", provider.pid: "simulator", **{p.pid: "core" for p in procs[1:]}}
        sampler = CpuSampler(roles, scratch)
        waits = PgWaitSampler(args.db, scratch) if scratch else None
        polls = 0
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=args.concurrency)) as http:
            numbers = await bound_numbers(http, provider_url, args.binds)

            async def bind(x: str, i: int) -> None:
                async with gate:
                    async with http.post(f"{urls[i % replicas]}/v1/numbers/{x}/xb",
                                         json={"b": f"138{i:08d}"}) as response:
                        await response.read()
                        assert response.status == 202, response.status

            sampler.start()
            if waits:
                waits.start()
            await asyncio.gather(*(bind(x, i) for i, x in enumerate(numbers)))
            deadline = time.monotonic() + args.drain_timeout
            while True:
                counts = store.counts()
                polls += 1
                if counts["pending"] == 0 and counts["running"] == 0:
                    break
                if time.monotonic() > deadline:
                    raise RowFailed(f"the queue did not drain within {args.drain_timeout:g} s after the last request "
                                    f"({counts['pending']} pending, {counts['running']} running)")
                await asyncio.sleep(0.1)
            cpu = await sampler.stop()
            sessions = await waits.stop() if waits else None
        created = {op.id: op.created_at for op in store.operations(limit=10**6)}
        bound = [t for t in store.transitions(limit=10**6) if t["to_status"] == "BIND"]
        to_bind = [t["at"] - created[t["operation_id"]] for t in bound]
        span = max(t["at"] for t in bound) - min(created.values())
        row = {
            "backend": backend, "replicas": replicas, "bound": len(bound),
            "binds_per_s": round(len(bound) / span, 1),
            "to_bind_p50_ms": round(statistics.median(to_bind) * 1000, 1),
            "to_bind_p99_ms": round(pct(to_bind, 0.99) * 1000, 1),
            "consistent": len(bound) == args.binds,
            "cpu": cpu, "load_average_after": [round(v, 2) for v in os.getloadavg()],
            "cpu_ms_per_bind": {role: round(share / 100 * cpu["wall_s"] / max(1, len(bound)) * 1000, 3)
                                for role, share in cpu["roles"].items() if role != "other"},
            "database": scratch or "a SQLite file in a temporary folder", "broker_namespace": namespace,
            "pg_sessions": sessions,
        }
        row["log_warnings"] = log_warnings(log)
    except (RowFailed, RuntimeError, AssertionError, aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
        # One row's failure is a finding, not the end of the run: the row says why, with the replicas' last words.
        row = {"backend": backend, "replicas": replicas, "failed": first_line(exc) or type(exc).__name__,
               "log_tail": log.read_text(errors="replace").splitlines()[-12:] if log.exists() else []}
    finally:
        if store is not None:
            store.close()
        for proc in reversed(procs):
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
                await proc.wait()
        if scratch is not None:
            if row is not None and "failed" not in row:  # the replicas' transactions less this observer's polls
                row["pg_transactions_per_bind"] = round((transactions(args.db, scratch) - polls) / args.binds, 2)
            try:
                drop_postgres(args.db, scratch)
            except Exception as exc:  # noqa: BLE001 - still delete the namespace; say what is left behind
                print(f"could not drop the scratch database {scratch}: {first_line(exc)}", file=sys.stderr)
        if namespace is not None:
            try:
                await delete_namespace(args.broker, namespace)
            except Exception as exc:  # noqa: BLE001
                print(f"could not delete the broker namespace {namespace}: {first_line(exc)}", file=sys.stderr)
    return row


async def run_backends(args: argparse.Namespace, tmp: Path) -> tuple[dict, list[dict]]:
    """(machine and server facts, one row per backend and replica count; a row whose server cannot be used
    reads {'skipped': why})."""
    facts: dict = {"cores": os.cpu_count(), "cpu_model": cpu_model(), "fsync_ms": fsync_ms(tmp),
                   "load_average_before": [round(v, 2) for v in os.getloadavg()]}
    problems: dict[str, str | None] = {"sqlite": None}
    if "postgresql" in args.backends or "postgresql+rabbitmq" in args.backends:
        facts["postgresql"] = postgres_facts(args.db) if args.db else {"problem": "no --db given"}
        problems["postgresql"] = facts["postgresql"].get("problem")
    if "postgresql+rabbitmq" in args.backends:
        facts["rabbitmq"] = await rabbitmq_facts(args.broker) if args.broker else {"problem": "no --broker given"}
        problems["postgresql+rabbitmq"] = problems["postgresql"] or facts["rabbitmq"].get("problem")
    rows = []
    for run in range(args.repeat):  # rounds, not row after row: a busy spell on the machine spreads over the rows
        for backend in args.backends:
            for n in args.replicas:
                if problems[backend] is not None:
                    rows.append({"backend": backend, "replicas": n, "run": run, "skipped": problems[backend]})
                else:
                    try:
                        row = await run_backend(backend, n, args, tmp)
                    except Exception as exc:  # noqa: BLE001 - e.g. a server lost between rows: that row fails
                        row = {"backend": backend, "replicas": n, "failed": first_line(exc), "log_tail": []}
                    rows.append({**row, "run": run})
    facts["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
    return facts, mark_quietest(rows)


def mark_quietest(rows: list[dict]) -> list[dict]:
    """Flag, per backend and replica count, the run in which other processes used the least CPU: on a shared
    machine that run is the closest to what the row's own processes can do."""
    def disturbance(row: dict) -> float:
        return row["cpu"]["roles"]["other"] if "cpu" in row else float("inf")

    best: dict[tuple[str, int], dict] = {}
    for row in rows:
        key = (row["backend"], row["replicas"])
        if key not in best or disturbance(row) < disturbance(best[key]):
            best[key] = row
    return [{**row, "quietest": row is best[(row["backend"], row["replicas"])]} for row in rows]


def print_backends(args: argparse.Namespace, facts: dict, rows: list[dict]) -> None:
    print()
    print(f"machine: {facts['cores']} cores ({facts['cpu_model']}), load average {' '.join(map(str, facts['load_average_before']))} "
          f"before, {' '.join(map(str, facts['load_average_after']))} after; fsync {facts['fsync_ms']} ms (median, scratch folder)")
    if "problem" not in facts.get("postgresql", {"problem": ""}):
        pg = facts["postgresql"]
        print(f"PostgreSQL {pg['server_version']} (synchronous_commit={pg['synchronous_commit']}, fsync={pg['fsync']}) "
              f"at {redacted(args.db)}, a scratch database per row")
    if "version" in facts.get("rabbitmq", {}):
        print(f"RabbitMQ {facts['rabbitmq']['version']} at {redacted(args.broker)}, a namespace per row")
    print(f"backends: {args.binds} XB binds without faults, {args.concurrency} in flight, seed {args.seed}; per row a fresh "
          f"simulator and the replicas as processes, requests sent to them in turn")
    print("CPU: % of one core over the row (100% per core); core = all replicas (busiest one), load = this load generator, "
          "irq = interrupts, other = the rest of the machine")
    if args.repeat > 1:
        print(f"each row: the quietest of {args.repeat} runs (the least CPU used by other processes); all runs in --json")
    order = {(b, n): i for i, (b, n) in enumerate((b, n) for b in args.backends for n in args.replicas)}
    failures = [r for r in rows if "failed" in r]
    rows = sorted((r for r in rows if r["quietest"]), key=lambda r: order[(r["backend"], r["replicas"])])
    header = (f"{'backend':<22} {'replicas':>8} {'binds/s':>8} {'to-BIND p50/p99 ms':>19}  {'core':>11} {'sim':>4} {'pg':>4} "
              f"{'mq':>4} {'load':>4} {'irq':>4} {'other':>5} {'idle':>4} {'ok':>3}")
    print(header)
    print("-" * len(header))
    for r in rows:
        name = BACKEND_LABELS[r["backend"]]
        if "skipped" in r or "failed" in r:
            print(f"{name:<22} {r['replicas']:>8} " + (f"skipped: {r['skipped']}" if "skipped" in r else f"FAILED: {r['failed']}"))
            continue
        cpu = r["cpu"]["roles"]
        core = f"{cpu['core']:.0f} ({max(r['cpu']['replicas']):.0f})"
        print(f"{name:<22} {r['replicas']:>8} {r['binds_per_s']:>8.0f} {r['to_bind_p50_ms']:>8.1f} / {r['to_bind_p99_ms']:<8.1f}  "
              f"{core:>11} {cpu['simulator']:>4.0f} {cpu['postgres']:>4.0f} {cpu['rabbitmq']:>4.0f} "
              f"{cpu['load generator']:>4.0f} {r['cpu']['interrupts_pct']:>4.0f} {cpu['other']:>5.0f} {r['cpu']['idle_pct']:>4.0f} "
              f"{'yes' if r['consistent'] else 'NO':>3}")
    for r in failures:
        print(f"FAILED {BACKEND_LABELS[r['backend']]} {r['replicas']} (run {r['run'] + 1}): {r['failed']}; the replicas' log ends:")
        for line in r["log_tail"]:
            print(f"    {line}")
    pg_rows = [r for r in rows if r.get("pg_sessions") is not None]
    if pg_rows:
        print("PostgreSQL sessions of the row's database, average number: running, waiting for a lock (the numbering "
              "lock is an advisory one), for a commit's WAL flush, inside a transaction waiting for the replica, idle")
        print(f"{'backend':<22} {'replicas':>8} {'running':>7} {'lock':>5} {'WAL':>5} {'in tx':>5} {'idle':>5} {'tx/bind':>7}")
        for r in pg_rows:
            waits = r["pg_sessions"]
            lock = sum(v for k, v in waits.items() if k.startswith("Lock:"))
            wal = sum(v for k, v in waits.items() if k.startswith("IO:WAL"))
            print(f"{BACKEND_LABELS[r['backend']]:<22} {r['replicas']:>8} {waits.get('running', 0):>7.2f} {lock:>5.2f} "
                  f"{wal:>5.2f} {waits.get('idle in transaction', 0):>5.2f} {waits.get('idle', 0):>5.2f} "
                  f"{r.get('pg_transactions_per_bind', float('nan')):>7.1f}")
    for r in rows:
        for n, text in r.get("log_warnings", []):
            print(f"log of {BACKEND_LABELS[r['backend']]} {r['replicas']}: {n} x {text[:110]}")
    busy_strangers = [f"{BACKEND_LABELS[r['backend']]} {r['replicas']}: "
                      + ", ".join(f"{name} {share:.0f}%" for name, share in r["cpu"]["busiest_other"])
                      for r in rows if "cpu" in r and r["cpu"]["roles"]["other"] >= 20]
    if busy_strangers:
        print("other processes busy during: " + "; ".join(busy_strangers))


def write_json(path: Path, args: argparse.Namespace, facts: dict, rows: list[dict]) -> None:
    record = {
        "what": "binding core throughput by backend and replica count: XB binds without faults, replicas as processes",
        "commit": commit_id(), "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": "python benchmarks/core_throughput.py " + " ".join(redacted(a) if "://" in a else a for a in sys.argv[1:]),
        "load": {"binds": args.binds, "concurrency": args.concurrency, "seed": args.seed, "repeat": args.repeat},
        "machine": facts, "rows": rows,
        "cpu_note": "percent of one core over the row's wall time; 'other' is the machine's busy time beyond the named processes",
    }
    path.write_text(json.dumps(record, indent=2) + "\n")


async def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.ERROR)
    for name in ("aiormq", "aio_pika"):  # a refused broker connection is a 'skipped' row, not a logged traceback
        logging.getLogger(name).setLevel(logging.CRITICAL)
    print(f"seed {args.seed}")
    results = []
    with tempfile.TemporaryDirectory(prefix="core-bench-") as tmp:
        if not args.backends_only:
            for name, rules in SCENARIOS.items():
                results.append(await run_scenario(name, rules, args.binds, args.concurrency, args.seed, Path(tmp)))
        facts, backend_rows = await run_backends(args, Path(tmp))
    if results:
        print(f"binding core, {args.binds} XB binds per scenario, {args.concurrency} requests in flight, seed {args.seed}")
        header = f"{'scenario':<28} {'binds/s':>8} {'answer p50/p99 ms':>18} {'to-BIND p50/p99 ms':>19} {'retries':>7} {'dead':>4} {'sweeps':>6} {'swept':>5} {'alerts':>6} {'calls':>6} {'trips':>5} {'ok':>3}"
        print(header)
        print("-" * len(header))
        for r in results:
            print(f"{r['scenario']:<28} {r['binds_per_s']:>8.0f} {r['answer_p50_ms']:>8.1f} / {r['answer_p99_ms']:<7.1f} "
                  f"{r['to_bind_p50_ms']:>8.1f} / {r['to_bind_p99_ms']:<8.1f} {r['retries']:>7} {r['dead']:>4} {r['sweeps']:>6} {r['swept']:>5} "
                  f"{r['alerts']:>6} {r['provider_calls']:>6} {r['breaker_trips']:>5} {'yes' if r['consistent'] else 'NO':>3}")
    print_backends(args, facts, backend_rows)
    if args.json:
        write_json(args.json, args, facts, backend_rows)
        print(f"figures written to {args.json}")
    measured = results + [r for r in backend_rows if "skipped" not in r]
    return 0 if all(r.get("consistent") for r in measured) else 1


def replica_counts(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of replica counts, e.g. 1,2") from None
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError("replica counts must be >= 1")
    return counts


def postgres_url(text: str) -> str:
    if not is_postgres_url(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a postgresql:// URL")
    return text


def amqp_url(text: str) -> str:
    if urlsplit(text).scheme not in ("amqp", "amqps"):
        raise argparse.ArgumentTypeError(f"{text!r} is not an amqp:// URL")
    return text


def backend_names(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",")]
    unknown = [name for name in names if name not in BACKEND_LABELS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown backend {', '.join(unknown) or text!r}; "
                                         f"choose from {', '.join(BACKEND_LABELS)}")
    return [name for name in BACKEND_LABELS if name in names]


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be >= 1")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The options; --backends fills in the local servers and 1,2,4 replicas, then skips the in-process table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binds", type=positive,
                        help=f"binds per scenario and per row (default 1000; with --backends {BACKENDS_BINDS})")
    parser.add_argument("--concurrency", type=positive, default=50, help="requests in flight (default 50)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--db", type=postgres_url,
                        help="PostgreSQL server (a database URL whose role may CREATE DATABASE) for the PostgreSQL rows "
                             f"(with --backends: default {LOCAL_POSTGRES})")
    parser.add_argument("--broker", type=amqp_url,
                        help=f"RabbitMQ for the PostgreSQL + RabbitMQ rows (with --backends: default {LOCAL_RABBITMQ})")
    parser.add_argument("--replicas", type=replica_counts,
                        help="replica counts to run (default 1,2; with --backends 1,2,4)")
    parser.add_argument("--backends-only", action="store_true", help="skip the in-process fault scenarios")
    parser.add_argument("--backends", dest="backends_table", action="store_true",
                        help="the backends table only: SQLite, PostgreSQL and PostgreSQL + RabbitMQ with 1, 2 and 4 "
                             "replicas and where the CPU goes; unreachable servers give 'skipped' rows")
    parser.add_argument("--only", type=backend_names, metavar="BACKEND[,BACKEND]",
                        help=f"run only these backends ({', '.join(BACKEND_LABELS)})")
    parser.add_argument("--drain-timeout", type=positive, default=300,
                        help="seconds a row may take to finish its binds after the last request (default 300)")
    parser.add_argument("--repeat", type=positive, default=1,
                        help="run the backends table this many times and show, per row, the run the rest of the "
                             "machine disturbed least (default 1)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the backends table, machine facts and "
                                                                  "commit to FILE (e.g. benchmarks/core_backends.json)")
    args = parser.parse_args(argv)
    if args.json is not None and not args.json.parent.is_dir():
        parser.error(f"--json {args.json}: folder {args.json.parent} does not exist")
    if args.backends_table:
        args.backends_only = True
        args.db = args.db or LOCAL_POSTGRES
        args.broker = args.broker or LOCAL_RABBITMQ
    args.replicas = args.replicas or ([1, 2, 4] if args.backends_table else [1, 2])
    args.binds = args.binds or (BACKENDS_BINDS if args.backends_table else 1000)
    args.backends = ["sqlite"] + (["postgresql"] if args.db else []) + (["postgresql+rabbitmq"] if args.broker else [])
    if args.only:
        args.backends = args.only
    return args


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
