"""End-to-end throughput of the bundled binding core against the in-process simulator, over loopback.

For each scenario (no faults; 20% HTTP 5xx plus 5% ghost success on every provider call) it binds N
distinct virtual numbers (XB) with a bounded number of requests in flight and reports:
- binds/s end to end: N / (first request -> last OPERATION->BIND commit);
- p50/p99 of the API answer (202) as the client sees it;
- p50/p99 of time-to-BIND: the operation's creation to its BIND transition (the core's own records);
- provider calls, retries, alerts, circuit-breaker trips, and a consistency check (exactly one provider binding per X).

Real time, one event loop (provider, core and client share it), loopback only, bounded by --binds.
    .venv/bin/python benchmarks/core_throughput.py [--binds 1000] [--concurrency 50] [--seed 0]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from binding_core.app import Core  # noqa: E402
from binding_core.config import AlertSettings, CoreConfig, ProviderSettings  # noqa: E402
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


async def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.ERROR)
    results = []
    with tempfile.TemporaryDirectory(prefix="core-bench-") as tmp:
        for name, rules in SCENARIOS.items():
            results.append(await run_scenario(name, rules, args.binds, args.concurrency, args.seed, Path(tmp)))
    print(f"binding core, {args.binds} XB binds per scenario, {args.concurrency} requests in flight, seed {args.seed}")
    header = f"{'scenario':<28} {'binds/s':>8} {'answer p50/p99 ms':>18} {'to-BIND p50/p99 ms':>19} {'retries':>7} {'dead':>4} {'sweeps':>6} {'swept':>5} {'alerts':>6} {'calls':>6} {'trips':>5} {'ok':>3}"
    print(header)
    print("-" * len(header))
    for r in results:
        print(f"{r['scenario']:<28} {r['binds_per_s']:>8.0f} {r['answer_p50_ms']:>8.1f} / {r['answer_p99_ms']:<7.1f} "
              f"{r['to_bind_p50_ms']:>8.1f} / {r['to_bind_p99_ms']:<8.1f} {r['retries']:>7} {r['dead']:>4} {r['sweeps']:>6} {r['swept']:>5} "
              f"{r['alerts']:>6} {r['provider_calls']:>6} {r['breaker_trips']:>5} {'yes' if r['consistent'] else 'NO':>3}")
    return 0 if all(r["consistent"] for r in results) else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binds", type=int, default=1000, help="binds per scenario (default 1000)")
    parser.add_argument("--concurrency", type=int, default=50, help="requests in flight (default 50)")
    parser.add_argument("--seed", type=int, default=0)
    sys.exit(asyncio.run(main(parser.parse_args())))
