"""Throughput of the provider against a bare aiohttp JSON handler, in one run, with a load generator that is
not the bottleneck.

Each server runs in its own process pinned to one core (--server-core), the load generator on the other
(--client-core). Load: create+delete cycles over keep-alive connections. `wrk` drives the bare handler and
the native API when it is installed (a Lua script deletes each binding a create returned); the vendor
dialects need a fresh signature per request, so a raw-socket Python client (one or more processes) drives
them, and drives everything when `wrk` is missing or --no-wrk is given. Every row shows how busy the
server's core was (server CPU seconds / wall seconds): near 100% means the server, not the generator, set
the pace; the bare handler's row is the proof that the generator reaches the handler's own limit.

Rows: bare handler; provider native API with a 400-number and a 100,000-number pool; Aliyun
BindAxb/UnbindSubscription (RPC signatures checked); Tencent GetVirtualNum/DelVirtualNum (TC3 signatures
checked). Every provider has its fault engine loaded with rules none of which match, journal and metrics on.
Then a soak (--soak seconds, default 60; the issue's aim is stated for 300) on the native API: RSS at the
start, after 30 s and at the end. Figures only: nothing here asserts a speed.

    python benchmarks/provider_throughput.py [--duration 10] [--soak 60] [--connections 50] [--no-wrk]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

NON_MATCHING_RULES = [
    {"id": "aliyun-only", "match": {"dialect": "aliyun", "operation": "QueryCallStatus"},
     "action": {"kind": "status", "status": 503}},
    {"id": "one-number", "match": {"x": "19999999999"}, "action": {"kind": "reset"}},
    {"id": "other-path", "match": {"path": "/nowhere/*"}, "action": {"kind": "latency", "seconds": 1}},
    {"id": "push-only", "match": {"operation": "push:call"}, "action": {"kind": "drop"}},
]
BENCH_PATH = "/_bench/stats"
CITIES = ("Beijing", "Shanghai", "Hangzhou", "Shenzhen")

WRK_SCRIPT = r"""
-- create+delete XB cycles: each create's binding id is deleted by the next request on any connection
local ids, n, seq = {}, 0, 0
request = function()
  if n > 0 then
    local id = ids[n]; ids[n] = nil; n = n - 1
    return wrk.format("DELETE", "/v1/bindings/" .. id)
  end
  seq = seq + 1
  return wrk.format("POST", "/v1/bindings", {["Content-Type"] = "application/json"},
                    string.format('{"mode":"XB","b":"139%08d"}', seq % 100000000))
end
response = function(status, headers, body)
  if status == 201 then
    local id = body:match('"binding_id":%s*"([^"]+)"')
    if id then n = n + 1; ids[n] = id end
  end
end
"""


# ---- servers (each in its own process) ------------------------------------------------------------


def pool_of(size: int):
    """`size` owned numbers over four cities, made directly (no Faker: a 100,000-number pool in a blink)."""
    from simulator.numbers import Number, PoolSpec

    return PoolSpec(numbers=tuple(Number(x=f"170{i:08d}", city=CITIES[i % len(CITIES)]) for i in range(size)))


def serve(kind: str, pool_size: int, core: int | None, use_uvloop: bool, ready, stop) -> None:
    if core is not None:
        os.sched_setaffinity(0, {core})
    if use_uvloop:
        import uvloop

        uvloop.run(_serve(kind, pool_size, ready, stop))
    else:
        asyncio.run(_serve(kind, pool_size, ready, stop))


async def stats(request):
    """The server process's CPU seconds and RSS: read before and after a load."""
    from aiohttp import web

    with open("/proc/self/statm") as f:
        rss_pages = int(f.read().split()[1])
    return web.json_response({"cpu": time.process_time(), "rss_mb": rss_pages * os.sysconf("SC_PAGE_SIZE") / 2**20})


async def _serve(kind: str, pool_size: int, ready, stop) -> None:
    from aiohttp import web

    if kind == "provider":
        from simulator.config import ProviderConfig
        from simulator.server import Provider

        provider = Provider(ProviderConfig(seed=1, pool=pool_of(pool_size)))
        provider.faults.replace(NON_MATCHING_RULES)
        provider.app.router.add_get(BENCH_PATH, stats)
        await provider.start()
        ready.put(provider.port)
        while not stop.is_set():
            await asyncio.sleep(0.05)
        await provider.stop()
        return

    counter = iter(range(1, 10**9))

    async def create(request: web.Request) -> web.Response:
        body = await request.json()
        return web.json_response({"binding_id": f"bnd_{next(counter):08d}", "mode": body["mode"], "x": "17000000000",
                                  "a": None, "b": body["b"], "expires_at": None}, status=201)

    async def delete(request: web.Request) -> web.Response:
        return web.json_response({"binding_id": request.match_info["id"], "status": "released"})

    app = web.Application()
    app.router.add_post("/v1/bindings", create)
    app.router.add_delete("/v1/bindings/{id}", delete)
    app.router.add_get(BENCH_PATH, stats)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    ready.put(site._server.sockets[0].getsockname()[1])
    while not stop.is_set():
        await asyncio.sleep(0.05)
    await runner.cleanup()


class Server:
    def __init__(self, kind: str, pool_size: int, core: int | None, use_uvloop: bool) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.ready, self.stop = ctx.Queue(), ctx.Event()
        self.process = ctx.Process(target=serve, args=(kind, pool_size, core, use_uvloop, self.ready, self.stop),
                                   daemon=True)

    def __enter__(self) -> "Server":
        self.process.start()
        self.port = self.ready.get(timeout=120)
        self.url = f"http://127.0.0.1:{self.port}"
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.process.join(10)
        if self.process.is_alive():
            self.process.kill()

    def stats(self) -> dict[str, float]:
        import urllib.request

        with urllib.request.urlopen(self.url + BENCH_PATH, timeout=60) as response:
            return json.loads(response.read())


# ---- load generators ----------------------------------------------------------------------------


@dataclass
class Load:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int


def wrk_load(url: str, seconds: float, connections: int, core: int | None) -> Load:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT)
    command = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency", "-s", script.name, url]
    if core is not None and shutil.which("taskset"):
        command = ["taskset", "-c", str(core), *command]
    try:
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(script.name)
    total = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m|h),", out)
    if total is None:
        raise RuntimeError(f"wrk printed no totals:\n{out}")
    elapsed = float(total.group(2)) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}[total.group(3)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return Load(int(total.group(1)), elapsed, _wrk_ms(out, "50%"), _wrk_ms(out, "99%"),
                int(errors.group(1)) if errors else 0)


def _wrk_ms(out: str, label: str) -> float:
    found = re.search(rf"^\s+{re.escape(label)}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    if found is None:
        return float("nan")
    return float(found.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[found.group(2)]


class Cycle:
    """Requests of one create+delete cycle for one connection, as raw HTTP/1.1 bytes (signed afresh)."""

    def __init__(self, dialect: str, host: str, index: int) -> None:
        self.dialect, self.host, self.index = dialect, host, index
        self.nonce = 0
        self.a, self.b = f"138{index:08d}", f"139{index:08d}"

    def create(self) -> bytes:
        if self.dialect == "native":
            body = json.dumps({"mode": "XB", "b": self.b}).encode()
            return self._post("/v1/bindings", body, {"Content-Type": "application/json"})
        if self.dialect == "aliyun":
            return self._aliyun("BindAxb", {"PoolKey": "FC100000000000001", "PhoneNoA": self.a, "PhoneNoB": self.b,
                                            "Expiration": "2099-01-01 00:00:00"})
        return self._tencent("GetVirtualNum", {"BizAppId": "pstnsim", "Dst": "0086" + self.b})

    def delete(self, answer: dict) -> bytes:
        if self.dialect == "native":
            return (f"DELETE /v1/bindings/{answer['binding_id']} HTTP/1.1\r\nHost: {self.host}\r\n"
                    "Content-Length: 0\r\n\r\n").encode()
        if self.dialect == "aliyun":
            bound = answer["SecretBindDTO"]
            return self._aliyun("UnbindSubscription", {"PoolKey": "FC100000000000001", "SubsId": bound["SubsId"],
                                                       "SecretNo": bound["SecretNo"]})
        return self._tencent("DelVirtualNum", {"BizAppId": "pstnsim", "BindId": answer["Response"]["BindId"]})

    def _post(self, path: str, body: bytes, headers: dict[str, str]) -> bytes:
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        return (f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\n{head}Content-Length: {len(body)}\r\n\r\n").encode() + body

    def _aliyun(self, action: str, params: dict[str, str]) -> bytes:
        from simulator.dialects.aliyun import signing

        self.nonce += 1
        query = signing.sign_rpc(method="GET", action=action, version="2017-05-25", params=params,
                                 access_key_id="pstnsim-ak", secret="pstnsim-secret",
                                 nonce=f"bench-{os.getpid()}-{self.index}-{self.nonce}", at=time.time())
        return f"GET /?{urlencode(query)} HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode()

    def _tencent(self, action: str, params: dict[str, str]) -> bytes:
        from simulator.dialects.tencent import signing

        body = json.dumps(params).encode()
        timestamp = int(time.time())
        canonical = signing.tc3_canonical_request("POST", "", {"content-type": "application/json", "host": self.host},
                                                  ("content-type", "host"), body)
        return self._post("/", body, {
            "Content-Type": "application/json", "X-TC-Action": action, "X-TC-Version": "2019-08-23",
            "X-TC-Timestamp": str(timestamp),
            "Authorization": signing.tc3_authorization("pstnsim-id", "pstnsim-secret", timestamp, canonical)})


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> tuple[int, bytes]:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
    body = await reader.readexactly(int(length.group(1))) if length else b""
    return status, body


async def _python_load(port: int, dialect: str, seconds: float, connections: int, first: int) -> tuple[int, list[float], int]:
    host = f"127.0.0.1:{port}"
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def connection(index: int) -> None:
        nonlocal errors
        cycle = Cycle(dialect, host, index)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                status, body = await _exchange(reader, writer, cycle.create())
                middle = time.perf_counter()
                answer = json.loads(body)
                if status >= 300 or "Error" in answer.get("Response", {}) or answer.get("Code", "OK") != "OK":
                    errors += 1
                    continue
                status, _ = await _exchange(reader, writer, cycle.delete(answer))
                errors += status >= 300
                latencies.extend((middle - started, time.perf_counter() - middle))
        finally:
            writer.close()

    await asyncio.gather(*(connection(first + i) for i in range(connections)))
    return len(latencies), latencies, errors


def _python_worker(port: int, dialect: str, seconds: float, connections: int, first: int, core: int | None, out) -> None:
    if core is not None:
        os.sched_setaffinity(0, {core})
    out.put(asyncio.run(_python_load(port, dialect, seconds, connections, first)))


def python_load(port: int, dialect: str, seconds: float, connections: int, processes: int, core: int | None) -> Load:
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    share = max(1, connections // processes)
    workers = [ctx.Process(target=_python_worker, args=(port, dialect, seconds, share, i * share, core, out))
               for i in range(processes)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    results = [out.get(timeout=seconds + 120) for _ in workers]
    elapsed = time.perf_counter() - started
    for worker in workers:
        worker.join(10)
    latencies = sorted(t for _, ts, _ in results for t in ts)
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [float("nan")] * 99
    return Load(sum(r for r, _, _ in results), min(elapsed, seconds + 1.0), cuts[49] * 1000, cuts[98] * 1000,
                sum(e for _, _, e in results))


# ---- the run ------------------------------------------------------------------------------------


@dataclass
class Row:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    busy: float  # server CPU seconds per wall second
    cpu_us: float  # server CPU per request
    errors: int
    generator: str


def measure(name: str, kind: str, dialect: str, pool_size: int, args, use_wrk: bool) -> Row:
    with Server(kind, pool_size, args.server_core, args.uvloop) as server:
        drive = (lambda s: wrk_load(server.url, s, args.connections, args.client_core)) if use_wrk and dialect == "native" \
            else (lambda s: python_load(server.port, dialect, s, args.connections, args.client_procs, args.client_core))
        drive(args.warmup)
        before, wall = server.stats(), time.perf_counter()
        load = drive(args.duration)
        after, wall = server.stats(), time.perf_counter() - wall
    cpu = after["cpu"] - before["cpu"]
    return Row(name, load.requests / load.seconds, load.p50_ms, load.p99_ms, cpu / wall,
               cpu / max(1, load.requests) * 1e6, load.errors,
               "wrk" if use_wrk and dialect == "native" else f"python x{args.client_procs}")


def soak(args, use_wrk: bool) -> list[tuple[float, float]]:
    """RSS of the provider (native API, 400 numbers) at the start, after 30 s and at the end of --soak s of load."""
    samples = []
    with Server("provider", 400, args.server_core, args.uvloop) as server:
        samples.append((0.0, server.stats()["rss_mb"]))
        started = time.perf_counter()
        for mark in sorted({min(30.0, args.soak), args.soak}):
            left = mark - (time.perf_counter() - started)
            if left >= 1:
                if use_wrk:
                    wrk_load(server.url, left, args.connections, args.client_core)
                else:
                    python_load(server.port, "native", left, args.connections, args.client_procs, args.client_core)
            samples.append((time.perf_counter() - started, server.stats()["rss_mb"]))
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of measured load per row (default 10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of load before each measurement")
    parser.add_argument("--soak", type=float, default=60.0,
                        help="seconds of the RSS soak (default 60; the aim is stated for 300; 0 skips it)")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--client-procs", type=int, default=1, help="processes of the Python generator")
    parser.add_argument("--server-core", type=int, default=None,
                        help="core the server is pinned to (-1: none; default 0 on a machine with 2+ cores)")
    parser.add_argument("--client-core", type=int, default=None,
                        help="core the load generator is pinned to (-1: none; default 1 on a machine with 2+ cores)")
    parser.add_argument("--no-wrk", action="store_true", help="use the Python generator even if wrk is installed")
    parser.add_argument("--uvloop", action="store_true", help="serve on uvloop (must be installed)")
    parser.add_argument("--only", default="", help="rows to run, comma-separated: bare, native400, native100k, "
                        "aliyun, tencent (default: all)")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # rows appear as they are measured
    cores = os.cpu_count() or 1
    for flag, default in (("server_core", 0), ("client_core", 1)):
        value = getattr(args, flag)
        if value is None:
            value = default if cores >= 2 else -1
        if value >= cores:
            print(f"--{flag.replace('_', '-')} {value}: this machine has cores 0..{cores - 1}", file=sys.stderr)
            return 2
        setattr(args, flag, None if value < 0 else value)
    if args.uvloop:
        try:
            import uvloop  # noqa: F401
        except ImportError:
            print("--uvloop: uvloop is not installed (pip install uvloop)", file=sys.stderr)
            return 2
    use_wrk = shutil.which("wrk") is not None and not args.no_wrk
    plan = {
        "bare": ("bare aiohttp handler", "bare", "native", 0),
        "native400": ("native, 400 numbers", "provider", "native", 400),
        "native100k": ("native, 100,000 numbers", "provider", "native", 100_000),
        "aliyun": ("aliyun BindAxb/Unbind (signed)", "provider", "aliyun", 400),
        "tencent": ("tencent Get/DelVirtualNum (signed)", "provider", "tencent", 400),
    }
    wanted = [w.strip() for w in args.only.split(",") if w.strip()]
    unknown = [w for w in wanted if w not in plan]
    if unknown:
        print(f"--only {','.join(unknown)}: rows are {', '.join(plan)}", file=sys.stderr)
        return 2
    print(f"load: {'wrk (bare, native)' if use_wrk else 'no wrk: Python generator for every row'}; "
          f"{args.connections} connections; server on core {args.server_core}, generator on core {args.client_core}; "
          f"{args.duration:g} s per row after {args.warmup:g} s warm-up; loop: {'uvloop' if args.uvloop else 'asyncio'}")
    print(f"uptime: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} (1/5/15 min load)")
    rows = []
    for key, (name, kind, dialect, pool_size) in plan.items():
        if wanted and key not in wanted:
            continue
        rows.append(measure(name, kind, dialect, pool_size, args, use_wrk))
        if use_wrk and kind == "bare":  # the same handler under the Python generator: what it can reach
            rows.append(measure("bare, Python generator", kind, dialect, pool_size, args, False))
    print(f"\n{'server':<36}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'server busy':>13}{'CPU us/req':>12}"
          f"{'errors':>8}  generator")
    for r in rows:
        print(f"{r.name:<36}{r.rps:>9.0f}{r.p50_ms:>9.2f}{r.p99_ms:>9.2f}{r.busy:>12.0%}{r.cpu_us:>12.0f}"
              f"{r.errors:>8}  {r.generator}")
    bare = next((r for r in rows if r.name.startswith("bare aiohttp")), None)
    if bare is not None:
        print("\nratio to the bare handler (req/s; by server CPU per request in brackets):")
        for r in rows:
            if r is not bare and not r.name.startswith("bare"):
                print(f"  {r.name:<36}{r.rps / bare.rps:>6.2f}x  ({bare.cpu_us / r.cpu_us:.2f}x)")
    by_name = {r.name: r for r in rows}
    if "native, 400 numbers" in by_name and "native, 100,000 numbers" in by_name:
        big, small = by_name["native, 100,000 numbers"], by_name["native, 400 numbers"]
        print(f"  100,000-number pool / 400-number pool: {big.rps / small.rps:.2f}x req/s, "
              f"{small.cpu_us / big.cpu_us:.2f}x by CPU per request")
    if args.soak > 0:
        samples = soak(args, use_wrk)
        print(f"\nsoak, native API, 400 numbers, {args.soak:g} s: RSS "
              + ", ".join(f"{mb:.1f} MB at {t:.0f} s" for t, mb in samples))
        if len(samples) >= 3:
            print(f"  growth from 30 s to the end: {samples[-1][1] - samples[1][1]:+.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
