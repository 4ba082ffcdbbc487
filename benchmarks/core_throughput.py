"""End-to-end throughput of the bundled binding core against the in-process simulator, over loopback.

For each scenario (no faults; 20% HTTP 5xx plus 5% ghost success on every provider call) it binds N
distinct virtual numbers (XB) with a bounded number of requests in flight and reports:
- binds/s end to end: N / (first request -> last OPERATION->BIND commit);
- p50/p99 of the API answer (202) as the client sees it;
- p50/p99 of time-to-BIND: the operation's creation to its BIND transition (the core's own records);
- provider calls, retries, alerts, circuit-breaker trips, and a consistency check (exactly one provider binding per X).

Real time, one event loop (provider, core and client share it), loopback only, bounded by --binds.

Then the backends, with real processes (the simulator, and 1 or 2 `pstnsim core` replicas sharing the
database, the client sending to them in turn): binds/s and time-to-BIND p50/p99 without faults, on SQLite
and, with --db, on PostgreSQL (each row in a scratch database created beside --db's and dropped after).
    .venv/bin/python benchmarks/core_throughput.py [--binds 1000] [--concurrency 50] [--seed 0]
        [--db postgresql://postgres@127.0.0.1:5432/test] [--replicas 1,2] [--backends-only]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import random
import signal
import statistics
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


async def spawn(args: list[str], log: Path) -> tuple[asyncio.subprocess.Process, str]:
    """`python -m ...` in the background; its URL from the 'listening on' line."""
    with open(log, "ab") as stderr:
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", *args, stdout=asyncio.subprocess.PIPE,
                                                    stderr=stderr, env=dict(os.environ))
    assert proc.stdout is not None
    while True:
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        if not line:
            raise RuntimeError(f"{args[0]} exited before listening; see {log}")
        if "listening on " in line:
            return proc, line.split("listening on ")[1].split()[0]


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


async def run_backend(backend: str, replicas: int, args: argparse.Namespace, workdir: Path) -> dict:
    """Binds without faults through `replicas` core processes on one database of `backend`."""
    label = f"{backend}-{replicas}"
    (workdir / "provider.toml").write_text(f"request_deadline = 2\n[pool]\nper_city = {-(-args.binds // 4)}\n"
                                           "stock_per_city = 0\n")
    (workdir / "core.toml").write_text(REPLICA_TOML)
    scratch = None
    if backend == "postgresql":
        scratch, target = scratch_postgres(args.db)
    else:
        target = str(workdir / f"{label}.db")
    procs: list[asyncio.subprocess.Process] = []
    store = None
    try:
        provider, provider_url = await spawn(["scenarios.cli", "provider", "--port", "0", "--seed", str(args.seed),
                                              "--config", str(workdir / "provider.toml")], workdir / f"{label}.log")
        procs.append(provider)
        urls = []
        for i in range(replicas):
            core, url = await spawn(["binding_core.cli", "--provider-url", provider_url, "--db", target, "--port", "0",
                                     "--config", str(workdir / "core.toml"), "--seed", str(args.seed + i),
                                     "--log-level", "ERROR"], workdir / f"{label}.log")
            procs.append(core)
            urls.append(url)
        store = open_store(target)
        gate = asyncio.Semaphore(args.concurrency)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=args.concurrency)) as http:
            numbers: list[str] = []
            after = None
            while len(numbers) < args.binds:
                params = {"limit": "1000", **({"after": after} if after else {})}
                async with http.get(f"{provider_url}/v1/numbers", params=params) as response:
                    page = await response.json()
                numbers += [n["x"] for n in page["numbers"]]
                after = page["next"]
                if after is None:
                    break
            numbers = numbers[:args.binds]

            async def bind(x: str, i: int) -> None:
                async with gate:
                    async with http.post(f"{urls[i % replicas]}/v1/numbers/{x}/xb",
                                         json={"b": f"138{i:08d}"}) as response:
                        await response.read()
                        assert response.status == 202, response.status

            await asyncio.gather(*(bind(x, i) for i, x in enumerate(numbers)))
            deadline = time.monotonic() + 600
            while True:
                counts = store.counts()
                if counts["pending"] == 0 and counts["running"] == 0:
                    break
                assert time.monotonic() < deadline, "the queue did not drain within 600 s"
                await asyncio.sleep(0.05)
        created = {op.id: op.created_at for op in store.operations(limit=10**6)}
        bound = [t for t in store.transitions() if t["to_status"] == "BIND"]
        to_bind = [t["at"] - created[t["operation_id"]] for t in bound]
        span = max(t["at"] for t in bound) - min(created.values())
        return {
            "backend": backend, "replicas": replicas, "bound": len(bound),
            "binds_per_s": len(bound) / span,
            "to_bind_p50_ms": statistics.median(to_bind) * 1000,
            "to_bind_p99_ms": pct(to_bind, 0.99) * 1000,
            "consistent": len(bound) == args.binds,
        }
    finally:
        if store is not None:
            store.close()
        for proc in reversed(procs):
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
                await proc.wait()
        if scratch is not None:
            drop_postgres(args.db, scratch)


async def run_backends(args: argparse.Namespace, tmp: Path) -> list[dict]:
    backends = ["sqlite"] + (["postgresql"] if args.db else [])
    return [await run_backend(backend, n, args, tmp) for backend in backends for n in args.replicas]


def print_backends(args: argparse.Namespace, rows: list[dict]) -> None:
    print()
    print(f"backends: {args.binds} XB binds without faults, {args.concurrency} in flight, replicas as processes, "
          f"requests sent to them in turn")
    header = f"{'backend':<11} {'replicas':>8} {'binds/s':>8} {'to-BIND p50/p99 ms':>19} {'ok':>3}"
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['backend']:<11} {r['replicas']:>8} {r['binds_per_s']:>8.0f} {r['to_bind_p50_ms']:>8.1f} / "
              f"{r['to_bind_p99_ms']:<8.1f} {'yes' if r['consistent'] else 'NO':>3}")
    if not args.db:
        print("(PostgreSQL rows: pass --db postgresql://user@host:port/dbname, a role that may CREATE DATABASE)")
    else:
        print(f"(PostgreSQL: scratch databases beside {redacted(args.db)})")


async def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.ERROR)
    results = []
    with tempfile.TemporaryDirectory(prefix="core-bench-") as tmp:
        if not args.backends_only:
            for name, rules in SCENARIOS.items():
                results.append(await run_scenario(name, rules, args.binds, args.concurrency, args.seed, Path(tmp)))
        backend_rows = await run_backends(args, Path(tmp))
    if results:
        print(f"binding core, {args.binds} XB binds per scenario, {args.concurrency} requests in flight, seed {args.seed}")
        header = f"{'scenario':<28} {'binds/s':>8} {'answer p50/p99 ms':>18} {'to-BIND p50/p99 ms':>19} {'retries':>7} {'dead':>4} {'sweeps':>6} {'swept':>5} {'alerts':>6} {'calls':>6} {'trips':>5} {'ok':>3}"
        print(header)
        print("-" * len(header))
        for r in results:
            print(f"{r['scenario']:<28} {r['binds_per_s']:>8.0f} {r['answer_p50_ms']:>8.1f} / {r['answer_p99_ms']:<7.1f} "
                  f"{r['to_bind_p50_ms']:>8.1f} / {r['to_bind_p99_ms']:<8.1f} {r['retries']:>7} {r['dead']:>4} {r['sweeps']:>6} {r['swept']:>5} "
                  f"{r['alerts']:>6} {r['provider_calls']:>6} {r['breaker_trips']:>5} {'yes' if r['consistent'] else 'NO':>3}")
    print_backends(args, backend_rows)
    return 0 if all(r["consistent"] for r in results + backend_rows) else 1


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


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binds", type=int, default=1000, help="binds per scenario (default 1000)")
    parser.add_argument("--concurrency", type=int, default=50, help="requests in flight (default 50)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--db", type=postgres_url,
                        help="PostgreSQL server (a database URL whose role may CREATE DATABASE) for the PostgreSQL rows")
    parser.add_argument("--replicas", type=replica_counts, default=[1, 2], help="replica counts to run (default 1,2)")
    parser.add_argument("--backends-only", action="store_true", help="skip the in-process fault scenarios")
    sys.exit(asyncio.run(main(parser.parse_args())))
