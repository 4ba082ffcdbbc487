"""Throughput of the provider against a bare aiohttp JSON handler, measured the same way in one run.

Each server runs in its own process (one core), the load generator in this one:
CONCURRENCY workers loop create+delete XB cycles over loopback for DURATION
seconds. The provider has its fault engine loaded with rules none of which
match, its journal and metrics on. Prints requests/s, p50/p99 per request and
the ratio provider / bare. Loopback only, a few seconds.

    python benchmarks/provider_throughput.py [--duration 2] [--concurrency 8] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import time

import aiohttp

from simulator.config import ProviderConfig

NON_MATCHING_RULES = [
    {"id": "aliyun-only", "match": {"dialect": "aliyun", "operation": "BindAxb"},
     "action": {"kind": "status", "status": 503}},
    {"id": "one-number", "match": {"x": "19999999999"}, "action": {"kind": "reset"}},
    {"id": "other-path", "match": {"path": "/nowhere/*"}, "action": {"kind": "latency", "seconds": 1}},
    {"id": "push-only", "match": {"operation": "push:call"}, "action": {"kind": "drop"}},
]


CPU_PATH = "/_bench/cpu"
SERVER_CONFIG = ProviderConfig(seed=1)
VIRTUAL_NUMBERS = [n.x for n in SERVER_CONFIG.pool.build() if n.pool_key is not None]


async def cpu_seconds(request):
    """The server process's CPU time: per-request cost that the machine's other load hardly moves."""
    from aiohttp import web

    return web.json_response({"cpu": time.process_time()})


def serve(kind: str, ready: "multiprocessing.Queue[int]", stop: "multiprocessing.Event") -> None:  # type: ignore[type-arg]
    asyncio.run(_serve(kind, ready, stop))


async def _serve(kind: str, ready, stop) -> None:
    from aiohttp import web

    if kind == "provider":
        from simulator.server import Provider

        provider = Provider(SERVER_CONFIG)
        provider.faults.replace(NON_MATCHING_RULES)
        provider.app.router.add_get(CPU_PATH, cpu_seconds)
        await provider.start()
        ready.put(provider.port)
        while not stop.is_set():
            await asyncio.sleep(0.05)
        await provider.stop()
        return

    counter = iter(range(1, 10**9))

    async def create(request: web.Request) -> web.Response:
        body = await request.json()
        return web.json_response({"binding_id": f"bnd_{next(counter):08d}", "mode": body["mode"], "x": body["x"],
                                  "a": None, "b": body["b"], "expires_at": None}, status=201)

    async def delete(request: web.Request) -> web.Response:
        return web.json_response({"binding_id": request.match_info["id"], "status": "released"})

    app = web.Application()
    app.router.add_post("/v1/bindings", create)
    app.router.add_delete("/v1/bindings/{id}", delete)
    app.router.add_get(CPU_PATH, cpu_seconds)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    ready.put(site._server.sockets[0].getsockname()[1])
    while not stop.is_set():
        await asyncio.sleep(0.05)
    await runner.cleanup()


async def load(url: str, duration: float, concurrency: int) -> tuple[int, list[float]]:
    latencies: list[float] = []
    requests = 0
    deadline = time.perf_counter() + duration
    connector = aiohttp.TCPConnector(limit=concurrency)

    async def worker(index: int, session: aiohttp.ClientSession) -> None:
        nonlocal requests
        b, x = f"139{index:08d}", VIRTUAL_NUMBERS[index]  # each worker binds its own X, as a binding core does
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            async with session.post(f"{url}/v1/bindings", json={"mode": "XB", "x": x, "b": b}) as response:
                assert response.status == 201, await response.text()
                binding_id = (await response.json())["binding_id"]
            middle = time.perf_counter()
            async with session.delete(f"{url}/v1/bindings/{binding_id}") as response:
                assert response.status in (200, 204), await response.text()
                await response.read()
            ended = time.perf_counter()
            latencies.extend((middle - started, ended - middle))
            requests += 2

    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(worker(i, session) for i in range(concurrency)))
    return requests, latencies


def measure(kind: str, duration: float, concurrency: int) -> dict[str, float]:
    ctx = multiprocessing.get_context("spawn")
    ready, stop = ctx.Queue(), ctx.Event()
    server = ctx.Process(target=serve, args=(kind, ready, stop), daemon=True)
    server.start()
    try:
        port = ready.get(timeout=30)
        url = f"http://127.0.0.1:{port}"
        asyncio.run(load(url, min(0.5, duration / 4), concurrency))  # warm-up
        cpu_before = asyncio.run(server_cpu(url))
        requests, latencies = asyncio.run(load(url, duration, concurrency))
        cpu_used = asyncio.run(server_cpu(url)) - cpu_before
    finally:
        stop.set()
        server.join(10)
    cuts = statistics.quantiles(latencies, n=100)
    return {"rps": requests / duration, "p50_ms": cuts[49] * 1000, "p99_ms": cuts[98] * 1000,
            "cpu_us": cpu_used / requests * 1e6}


async def server_cpu(url: str) -> float:
    async with aiohttp.ClientSession() as session, session.get(f"{url}{CPU_PATH}") as response:
        return (await response.json())["cpu"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=2.0, help="seconds of load per round and server")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2, help="alternate bare/provider this many times; medians")
    args = parser.parse_args()
    runs: dict[str, list[dict[str, float]]] = {"bare": [], "provider": []}
    for _ in range(args.rounds):
        for kind in runs:
            runs[kind].append(measure(kind, args.duration, args.concurrency))
    results = {kind: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for kind, rs in runs.items()}
    print(f"create+delete XB cycles, {args.concurrency} concurrent clients, {args.rounds} x {args.duration:g} s "
          "per server, loopback, medians")
    print(f"{'server':<10}{'requests/s':>12}{'p50 ms':>10}{'p99 ms':>10}{'server CPU us/req':>19}")
    for kind, r in results.items():
        print(f"{kind:<10}{r['rps']:>12.0f}{r['p50_ms']:>10.2f}{r['p99_ms']:>10.2f}{r['cpu_us']:>19.0f}")
    ratio = results["provider"]["rps"] / results["bare"]["rps"]
    cpu_ratio = results["bare"]["cpu_us"] / results["provider"]["cpu_us"]
    print(f"ratio provider/bare: {ratio:.2f}x requests/s, {cpu_ratio:.2f}x by server CPU per request "
          f"(fault engine: {len(NON_MATCHING_RULES)} rules, none matching; journal and metrics on)")


if __name__ == "__main__":
    main()
