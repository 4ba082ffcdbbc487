"""Serving a trace: load and index a 100,000-exchange trace, then serve requests from it, beside a
100-exchange trace and beside the plain simulator serving the same requests.

The traces are generated here (native AXB binds, each with its own A and B, answered 201 with a binding
on one of 1,000 X numbers, no latency). Load + index is timed in this process: read_trace, the index,
the replay plan. Then each server runs in its own process (one core) and CLIENTS workers send
`--requests` AXB binds in batches of 100 over loopback; between batches (untimed) the provider is reset
(/_admin/reset: the replay rewinds its trace, the plain simulator empties its ledger), so the 100-exchange
trace answers every batch. The requests sent to the large trace are spread over all of it. Prints
requests/s, p50 per request and the server's CPU per request: if serving scanned the trace, the large
trace's cost per request would be hundreds of times the small one's.

    python benchmarks/trace_replay.py [--exchanges 100000] [--requests 5000] [--clients 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import resource
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp

from simulator.clock import FIXED_EPOCH
from simulator.traces import Exchange, Header, TraceWriter, read_trace
from simulator.traces.meaning import meaning_of
from simulator.traces.replay_index import ReplayIndex, loose_key, plan_replay, recorded_order

BATCH = 100
X_NUMBERS = 1000
CPU_PATH = "/_bench/cpu"


def numbers(i: int) -> tuple[str, str, str]:
    """A, B and X of the i-th recorded bind (national mobile numbers)."""
    return f"139{i:08d}", f"138{i:08d}", f"170{i % X_NUMBERS:08d}"


def write_bind_trace(path: Path, count: int) -> float:
    """`count` AXB binds, one line each; returns the seconds it took."""
    started = time.perf_counter()
    header = Header(recorder="benchmarks/trace_replay.py", dialects=("native",), started_at=FIXED_EPOCH,
                    pseudonymised=False)
    with TraceWriter(path, header) as writer:
        for i in range(count):
            a, b, x = numbers(i)
            body = {"binding_id": f"bnd_{i + 1:08d}", "mode": "AXB", "x": x, "a": a, "b": b, "status": "active",
                    "created_at": "2026-01-01T00:00:00.000Z", "expires_at": None, "ended_at": None}
            writer.write(Exchange(
                seq=i + 1, offset=i * 0.01, dialect="native", action="create_binding",
                params={"mode": "AXB", "a": a, "b": b},
                request={"method": "POST", "path": "/v1/bindings", "query": "",
                         "headers": {"content-type": "application/json"}, "body": {"mode": "AXB", "a": a, "b": b}},
                response={"status": 201, "headers": {"content-type": "application/json; charset=utf-8"}, "body": body},
                failure=None, latency=0.0, applied=True))
    return time.perf_counter() - started


def time_load(path: Path) -> dict[str, float]:
    """CPU seconds (this process's: steadier than wall time on a busy machine) to read the trace, index it,
    and plan its effects (what `--replay` does once at start), and the wall seconds of the whole."""
    wall, t0 = time.perf_counter(), time.process_time()
    trace = read_trace(path)
    t1 = time.process_time()
    ordered = recorded_order(trace.exchanges)
    ReplayIndex(ordered)
    t2 = time.process_time()
    plan_replay(ordered, trace.header.started_at)
    t3 = time.process_time()
    return {"read": t1 - t0, "index": t2 - t1, "plan": t3 - t2, "total": t3 - t0, "wall": time.perf_counter() - wall}


def time_matching(path: Path, picks: list[int]) -> float:
    """CPU microseconds per request to find its exchange: meaning_of, the match key, the index (no HTTP)."""
    trace = read_trace(path)
    index = ReplayIndex(recorded_order(trace.exchanges))
    bodies = [json.dumps({"mode": "AXB", "a": numbers(i)[0], "b": numbers(i)[1]}).encode() for i in picks]
    headers = {"Content-Type": "application/json"}
    started = time.process_time()
    for start in range(0, len(bodies), BATCH):
        for body in bodies[start:start + BATCH]:
            meaning = meaning_of("native", "POST", "/v1/bindings", "", headers, body)
            assert index.take(meaning.key, loose_key("native", meaning.action, meaning.params)) is not None
        elapsed = time.process_time()
        index.rewind()  # untimed, as the servers' resets are
        started += time.process_time() - elapsed
    return (time.process_time() - started) / len(bodies) * 1e6


# ---- the servers -----------------------------------------------------------------------------------


def serve(trace: str | None, ready: "multiprocessing.Queue", stop: "multiprocessing.Event") -> None:  # type: ignore[type-arg]
    asyncio.run(_serve(trace, ready, stop))


async def _serve(trace: str | None, ready, stop) -> None:
    from aiohttp import web

    from simulator.config import ProviderConfig
    from simulator.server import Provider

    async def cpu(request: web.Request) -> web.Response:
        return web.json_response({"cpu": time.process_time(), "rss_mb": _rss_mb()})

    started = time.process_time()
    provider = Provider(ProviderConfig(seed=1, epoch=FIXED_EPOCH, replay_file=Path(trace) if trace else None))
    provider.app.router.add_get(CPU_PATH, cpu)
    await provider.start()
    ready.put((provider.port, time.process_time() - started))  # CPU seconds to load the trace and start
    while not stop.is_set():
        await asyncio.sleep(0.05)
    await provider.stop()


def _rss_mb() -> float:
    """This process's resident memory now (ru_maxrss would include the parent's peak from before exec)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 1e6


async def send(url: str, picks: list[int], clients: int) -> tuple[float, list[float], float, float]:
    """The binds `picks` in batches of BATCH (reset between, untimed): seconds busy, latencies, server CPU
    seconds, the server's max RSS in MB."""
    latencies: list[float] = []
    busy = cpu = 0.0
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def server_cpu() -> float:
            async with session.get(f"{url}{CPU_PATH}") as response:
                return (await response.json())["cpu"]

        async def worker(queue: list[int]) -> None:
            while queue:
                a, b, _ = numbers(queue.pop())
                started = time.perf_counter()
                async with session.post(f"{url}/v1/bindings", json={"mode": "AXB", "a": a, "b": b}) as response:
                    assert response.status == 201, await response.text()
                    await response.read()
                latencies.append(time.perf_counter() - started)

        for start in range(0, len(picks), BATCH):
            async with session.post(f"{url}/_admin/reset") as response:
                assert response.status == 200
            before = await server_cpu()
            began = time.perf_counter()
            queue = list(reversed(picks[start:start + BATCH]))
            await asyncio.gather(*(worker(queue) for _ in range(clients)))
            busy += time.perf_counter() - began
            cpu += await server_cpu() - before
        async with session.get(f"{url}{CPU_PATH}") as response:
            rss = (await response.json())["rss_mb"]
    return busy, latencies, cpu, rss


def measure(trace: Path | None, picks: list[int], clients: int) -> dict[str, float]:
    ctx = multiprocessing.get_context("spawn")
    ready, stop = ctx.Queue(), ctx.Event()
    server = ctx.Process(target=serve, args=(str(trace) if trace else None, ready, stop), daemon=True)
    server.start()
    try:
        port, startup = ready.get(timeout=300)
        url = f"http://127.0.0.1:{port}"
        asyncio.run(send(url, picks[:BATCH], clients))  # warm-up
        busy, latencies, cpu, rss = asyncio.run(send(url, picks, clients))
    finally:
        stop.set()
        server.join(10)
    return {"startup_s": startup, "rps": len(picks) / busy, "p50_ms": statistics.median(latencies) * 1000,
            "cpu_us": cpu / len(picks) * 1e6, "rss_mb": rss}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exchanges", type=int, default=100_000, help="exchanges in the large trace")
    parser.add_argument("--requests", type=int, default=5000, help="binds sent to each server")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pstnsim-bench-") as folder:
        large, small = Path(folder) / "large.jsonl", Path(folder) / "small.jsonl"
        wrote = write_bind_trace(large, args.exchanges)
        write_bind_trace(small, BATCH)
        print(f"generated a {args.exchanges:,}-exchange trace in {wrote:.2f} s ({large.stat().st_size / 1e6:.1f} MB)")
        for name, path in (("large", large), ("small", small)):
            t = time_load(path)
            print(f"load + index, {name} trace (CPU s): read {t['read']:.2f}, index {t['index']:.2f}, "
                  f"plan {t['plan']:.2f}, total {t['total']:.2f} ({t['wall']:.2f} s wall)")
        stride = max(1, args.exchanges // args.requests)
        spread = [(i * stride) % args.exchanges for i in range(args.requests)]  # all over the large trace
        cycled = [i % BATCH for i in range(args.requests)]  # the small trace, once per batch
        print(f"matching alone (meaning, key, index; CPU us per request): {args.exchanges:,}-exchange trace "
              f"{time_matching(large, spread):.1f}, {BATCH}-exchange trace {time_matching(small, cycled):.1f}")
        runs = [
            (f"replay, {args.exchanges:,} exchanges", large, spread),
            (f"replay, {BATCH} exchanges", small, cycled),
            ("plain simulator", None, cycled),
        ]
        print(f"\n{args.requests:,} AXB binds per server, {args.clients} concurrent clients, batches of {BATCH} "
              f"(reset between, untimed), loopback, one server process")
        print(f"{'server':<28}{'start CPU s':>13}{'requests/s':>12}{'p50 ms':>9}{'server CPU us/req':>19}{'RSS MB':>8}")
        for label, path, picks in runs:
            r = measure(path, picks, args.clients)
            print(f"{label:<28}{r['startup_s']:>13.2f}{r['rps']:>12.0f}{r['p50_ms']:>9.2f}{r['cpu_us']:>19.0f}"
                  f"{r['rss_mb']:>8.0f}")


if __name__ == "__main__":
    main()
