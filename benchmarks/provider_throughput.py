"""Throughput of the provider against a bare aiohttp JSON handler and the stub servers users pick instead
(WireMock, mountebank), in one run, with a load generator that is not the bottleneck.

Each server runs in its own process pinned to one core (--server-core), the load generator on the other
(--client-core; `taskset` for wrk and the stub servers). Load: create+delete cycles over keep-alive connections.
`wrk` drives the bare handler, WireMock, mountebank and the native API when it is installed (a Lua script,
benchmarks/wrk/create_delete.lua, deletes each binding a create returned); the vendor dialects need a fresh
signature per request, so a raw-socket Python client (one or more processes) drives them, and drives everything
when `wrk` is missing or --no-wrk is given. Every row shows how busy the server's core was (server CPU seconds /
wall seconds): near 100% means the server, not the generator, set the pace; the bare handler's row is the proof
that the generator reaches the handler's own limit. The generator's own busy share beside it tells a crowded
machine (neither busy) from a slow generator (the generator busy, the server not).

Rows: bare handler; WireMock (standalone, tuned as its docs advise for load tests, warmed up) and mountebank
serving the same fixed stub (create returns a binding, delete returns 200), installed from npm at pinned
versions into .bench-cache/ on first use and shown as `skipped: <reason>` when java, node or npm is missing;
provider native API with a 400-number and a 100,000-number pool; Aliyun BindAxb/UnbindSubscription (RPC
signatures checked); Tencent GetVirtualNum/DelVirtualNum (TC3 signatures checked). Every provider has its fault
engine loaded with rules none of which match, journal and metrics on. Then a soak (--soak seconds, default 60;
300 gives the five-minute figure) on the native API: RSS at the start, after 30 s and at the end.
The figures also go to reports/bench/provider_throughput.json (--json) so runs can be compared. Figures only:
nothing here asserts a speed.

    python benchmarks/provider_throughput.py [--duration 10] [--soak 60] [--connections 50] [--no-wrk]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import math
import multiprocessing
import os
import platform
import queue
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from load_generators import python_load, wrk_load  # noqa: E402  (this script's own folder)
from stub_servers import COMPETITORS, Unavailable  # noqa: E402

NON_MATCHING_RULES = [
    {"id": "aliyun-only", "match": {"dialect": "aliyun", "operation": "QueryCallStatus"},
     "action": {"kind": "status", "status": 503}},
    {"id": "one-number", "match": {"x": "19999999999"}, "action": {"kind": "reset"}},
    {"id": "other-path", "match": {"path": "/nowhere/*"}, "action": {"kind": "latency", "seconds": 1}},
    {"id": "push-only", "match": {"operation": "push:call"}, "action": {"kind": "drop"}},
]
CITIES = ("Beijing", "Shanghai", "Hangzhou", "Shenzhen")
DEFAULT_JSON = ROOT / "reports" / "bench" / "provider_throughput.json"
DEFAULT_CACHE = ROOT / ".bench-cache"


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


async def _serve(kind: str, pool_size: int, ready, stop) -> None:
    from aiohttp import web

    if kind == "provider":
        from simulator.config import ProviderConfig
        from simulator.server import Provider

        provider = Provider(ProviderConfig(seed=1, pool=pool_of(pool_size)))
        provider.faults.replace(NON_MATCHING_RULES)
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
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    ready.put(site._server.sockets[0].getsockname()[1])
    while not stop.is_set():
        await asyncio.sleep(0.05)
    await runner.cleanup()


class Server:
    """The bare handler or the provider in a spawned Python process."""

    def __init__(self, kind: str, pool_size: int, core: int | None, use_uvloop: bool) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.kind = kind
        self.ready, self.stop = ctx.Queue(), ctx.Event()
        self.process = ctx.Process(target=serve, args=(kind, pool_size, core, use_uvloop, self.ready, self.stop),
                                   daemon=True)

    def __enter__(self) -> "Server":
        self.process.start()
        deadline = time.monotonic() + 120
        while True:
            try:
                self.port = self.ready.get(timeout=1)
                break
            except queue.Empty:
                if not self.process.is_alive() or time.monotonic() > deadline:
                    self.process.kill()
                    raise RuntimeError(f"the {self.kind} server did not start (exit code {self.process.exitcode}; "
                                       "its traceback is above)") from None
        self.url = f"http://127.0.0.1:{self.port}"
        self.pid = self.process.pid
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.process.join(10)
        if self.process.is_alive():
            self.process.kill()


def usage(pid: int) -> tuple[float, float]:
    """CPU seconds (user + system, all threads) and RSS in MB of process `pid`, read from /proc (nan without it)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        with open(f"/proc/{pid}/statm") as f:
            rss_pages = int(f.read().split()[1])
    except (OSError, IndexError, ValueError):
        return math.nan, math.nan
    cpu_seconds = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return cpu_seconds, rss_pages * os.sysconf("SC_PAGE_SIZE") / 2**20


# ---- the run ------------------------------------------------------------------------------------


@dataclass
class Row:
    key: str
    name: str
    rps: float = math.nan
    p50_ms: float = math.nan
    p99_ms: float = math.nan
    busy: float = math.nan  # server CPU seconds per wall second
    generator_busy: float = math.nan  # the load generator's CPU seconds per wall second
    cpu_us: float = math.nan  # server CPU per request
    rss_mb: float = math.nan  # server RSS after the load
    errors: int = 0
    generator: str = ""
    warmup_s: float = 0.0  # seconds of load before the measured one
    warmup_requests: int = 0  # requests of that warm-up (counted for WireMock and mountebank)
    warm: bool = True  # False: the warm-up's time ran out before the CPU per request settled
    skipped: str = ""  # why the row was not measured (a competitor that cannot run here)
    ratio: float = math.nan  # req/s over the bare handler's
    ratio_cpu: float = math.nan  # the bare handler's CPU per request over this row's


@dataclass(frozen=True)
class Plan:
    name: str
    kind: str  # bare, provider, or a key of stub_servers.COMPETITORS
    dialect: str
    pool_size: int = 400


PLAN = {
    "bare": Plan("bare aiohttp handler", "bare", "native", 0),
    "wiremock": Plan(f"{COMPETITORS['wiremock'].name}, tuned", "wiremock", "native", 0),
    "mountebank": Plan(COMPETITORS["mountebank"].name, "mountebank", "native", 0),
    "native400": Plan("pstnsim native, 400 numbers", "provider", "native", 400),
    "native100k": Plan("pstnsim native, 100,000 numbers", "provider", "native", 100_000),
    "aliyun": Plan("pstnsim aliyun Bind/Unbind, signed", "provider", "aliyun"),
    "tencent": Plan("pstnsim tencent Get/DelVirtualNum, signed", "provider", "tencent"),
}


def start_server(plan: Plan, args):
    if plan.kind in COMPETITORS:
        return COMPETITORS[plan.kind](args.cache_dir, args.server_core)
    return Server(plan.kind, plan.pool_size, args.server_core, args.uvloop)


def measure(key: str, plan: Plan, args, use_wrk: bool, name: str | None = None) -> Row:
    wrk = use_wrk and plan.dialect == "native"
    row = Row(key, name or plan.name, generator="wrk" if wrk else f"python x{args.client_procs}")
    try:
        with start_server(plan, args) as server:
            drive = (lambda s: wrk_load(server.url, s, args.connections, args.client_core)) if wrk \
                else (lambda s: python_load(server.port, plan.dialect, s, args.connections, args.client_procs,
                                            args.client_core))
            if plan.kind in COMPETITORS:
                row.warmup_s, row.warmup_requests, row.warm = warm_up(drive, server.pid, args.stub_warmup)
                row.name += ", warm" if row.warm else ", warming"
            elif args.warmup > 0:
                drive(args.warmup)
                row.warmup_s = args.warmup
            cpu_before, wall = usage(server.pid)[0], time.perf_counter()
            load = drive(args.duration)
            (cpu_after, row.rss_mb), wall = usage(server.pid), time.perf_counter() - wall
    except Unavailable as reason:
        row.skipped = str(reason)
        print(f"  {row.name}: skipped: {row.skipped}")
        return row
    cpu = cpu_after - cpu_before
    row.rps, row.p50_ms, row.p99_ms, row.errors = load.requests / load.seconds, load.p50_ms, load.p99_ms, load.errors
    row.busy, row.cpu_us, row.generator_busy = cpu / wall, cpu / max(1, load.requests) * 1e6, load.cpu_s / wall
    warm = f"{row.warmup_s:g} s warm-up" + (f" ({row.warmup_requests:,} requests)" if row.warmup_requests else "")
    if not row.warm:
        warm += ", still warming up when its time ran out (a longer --stub-warmup, or a quieter machine)"
    print(f"  {row.name}: {row.rps:.0f} req/s after {warm}")
    return row


WARM_REQUESTS = 50_000  # WireMock's JVM settled after about this many create/delete requests (JIT compiled)


def warm_up(drive, pid: int, least: float) -> tuple[float, int, bool]:
    """Load in rounds (5 s, or half of `least` when shorter) until at least `least` seconds and WARM_REQUESTS
    requests have gone by and the server's CPU per request no longer falls by more than 10% a round (a JIT,
    WireMock's JVM or Node, is warm when its cost per request has settled); at most six times `least`.
    Returns the seconds and requests of warm-up given, and whether the cost had settled."""
    spent, requests, previous, rounds_s = 0.0, 0, math.inf, max(1.0, min(5.0, least / 2))
    while spent < 6 * least:
        cpu = usage(pid)[0]
        load = drive(rounds_s)
        spent, requests = spent + rounds_s, requests + load.requests
        per_request = (usage(pid)[0] - cpu) / max(1, load.requests)
        if spent >= least and requests >= WARM_REQUESTS and per_request > 0.9 * previous:
            return spent, requests, True
        previous = per_request
    return spent, requests, False


def soak(args, use_wrk: bool) -> list[tuple[float, float]]:
    """RSS of the provider (native API, 400 numbers) at the start, after 30 s and at the end of --soak s of load."""
    samples = []
    with Server("provider", 400, args.server_core, args.uvloop) as server:
        samples.append((0.0, usage(server.pid)[1]))
        started = time.perf_counter()
        for mark in sorted({min(30.0, args.soak), args.soak}):
            left = mark - (time.perf_counter() - started)
            if left >= 1:
                if use_wrk:
                    wrk_load(server.url, left, args.connections, args.client_core)
                else:
                    python_load(server.port, "native", left, args.connections, args.client_procs, args.client_core)
            samples.append((time.perf_counter() - started, usage(server.pid)[1]))
    return samples


def print_table(rows: list[Row]) -> None:
    print(f"\n{'server':<42}{'req/s':>8}{'p50 ms':>8}{'p99 ms':>8}{'x bare':>8}{'by CPU':>8}{'busy':>6}{'gen':>6}"
          f"{'CPU us/req':>11}{'RSS MB':>8}{'errors':>7}  generator")
    for r in rows:
        if r.skipped:
            print(f"{r.name:<42}skipped: {r.skipped}")
            continue
        print(f"{r.name:<42}{r.rps:>8.0f}{r.p50_ms:>8.2f}{r.p99_ms:>8.2f}{_x(r.ratio):>8}{_x(r.ratio_cpu):>8}"
              f"{r.busy:>6.0%}{r.generator_busy:>6.0%}{r.cpu_us:>11.0f}{r.rss_mb:>8.0f}{r.errors:>7}  {r.generator}")


def _x(ratio: float) -> str:
    return "" if math.isnan(ratio) else f"{ratio:.2f}x"


def machine() -> dict:
    """What the figures were measured on: they only compare within one run on one machine."""
    model = ""
    try:
        model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("model name")), "")
    except OSError:
        pass
    tools = {}
    for tool, command in (("wrk", ["wrk", "-v"]), ("java", ["java", "-version"]), ("node", ["node", "--version"])):
        if shutil.which(command[0]):
            done = subprocess.run(command, capture_output=True, text=True)
            tools[tool] = ((done.stdout + done.stderr).strip().splitlines() or [""])[0]
    return {"cpu": model, "cores": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            "tools": tools}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The run's settings; a bad one exits 2 with a message naming it, before anything is started or written."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of measured load per row (default 10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of load before each measurement")
    parser.add_argument("--stub-warmup", type=float, default=10.0,
                        help="least seconds of load warming WireMock and mountebank up before theirs, longer (up to "
                        f"6x) until {WARM_REQUESTS:,} requests went by and their CPU per request stopped falling "
                        "(default 10)")
    parser.add_argument("--soak", type=float, default=60.0,
                        help="seconds of the RSS soak (default 60; 300 gives the five-minute figure; 0 skips it)")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--client-procs", type=int, default=1, help="processes of the Python generator")
    parser.add_argument("--server-core", type=int, default=None,
                        help="core the server is pinned to (-1: none; default 0 on a machine with 2+ cores)")
    parser.add_argument("--client-core", type=int, default=None,
                        help="core the load generator is pinned to (-1: none; default 1 on a machine with 2+ cores)")
    parser.add_argument("--no-wrk", action="store_true", help="use the Python generator even if wrk is installed")
    parser.add_argument("--uvloop", action="store_true", help="serve the Python servers on uvloop (must be installed)")
    parser.add_argument("--only", default="", help=f"rows to run, comma-separated: {', '.join(PLAN)} (default: all)")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE,
                        help="where WireMock and mountebank are installed from npm on first use "
                        "(default .bench-cache/)")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON,
                        help="file the figures are written to (default reports/bench/provider_throughput.json)")
    args = parser.parse_args(argv)
    cores = os.cpu_count() or 1
    for flag, default in (("server_core", 0), ("client_core", 1)):
        value = getattr(args, flag)
        if value is None:
            value = default if cores >= 2 else -1
        if value >= cores:
            parser.error(f"--{flag.replace('_', '-')} {value}: this machine has cores 0..{cores - 1}")
        setattr(args, flag, None if value < 0 else value)
    if args.uvloop:
        try:
            import uvloop  # noqa: F401
        except ImportError:
            parser.error("--uvloop: uvloop is not installed (pip install uvloop)")
    for flag in ("warmup", "stub_warmup", "soak"):
        if getattr(args, flag) < 0:
            parser.error(f"--{flag.replace('_', '-')} {getattr(args, flag):g}: seconds cannot be negative")
    for flag, least in (("duration", 1), ("connections", 1), ("client_procs", 1)):
        if getattr(args, flag) < least:
            parser.error(f"--{flag.replace('_', '-')} {getattr(args, flag):g}: must be at least {least}")
    args.rows = [w.strip() for w in args.only.split(",") if w.strip()] or list(PLAN)
    unknown = [w for w in args.rows if w not in PLAN]
    if unknown:
        parser.error(f"--only {','.join(unknown)}: rows are {', '.join(PLAN)}")
    if args.json.is_dir() or (args.json.parent.exists() and not os.access(args.json.parent, os.W_OK)):
        parser.error(f"--json {args.json}: not a file that can be written")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # rows appear as they are measured
    use_wrk = shutil.which("wrk") is not None and not args.no_wrk
    pinning = "taskset" if shutil.which("taskset") else "no taskset: sched_setaffinity"
    started_at = datetime.datetime.now(datetime.timezone.utc)
    load_before = os.getloadavg()
    generator = "wrk (bare, stubs, native)" if use_wrk else "no wrk: Python generator for every row"
    print(f"{started_at:%Y-%m-%d %H:%M} UTC; load: {generator}; {args.connections} connections; "
          f"server on core {args.server_core}, generator on core {args.client_core} "
          f"({pinning if args.server_core is not None else 'not pinned'}); {args.duration:g} s per row after "
          f"{args.warmup:g} s warm-up ({args.stub_warmup:g}-{6 * args.stub_warmup:g} s for WireMock and "
          f"mountebank, until warm); loop: {'uvloop' if args.uvloop else 'asyncio'}")
    print(f"uptime: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f} (1/5/15 min load)")
    rows = []
    for key in args.rows:
        rows.append(measure(key, PLAN[key], args, use_wrk))
        if use_wrk and key == "bare":  # the same handler under the Python generator: what that generator can reach
            rows.append(measure("bare_python", PLAN[key], args, False, name="bare aiohttp handler, Python generator"))
    bare = next((r for r in rows if r.key == "bare" and not r.skipped), None)
    for r in rows:
        if bare is not None and not r.skipped:
            r.ratio, r.ratio_cpu = r.rps / bare.rps, bare.cpu_us / r.cpu_us if r.cpu_us else math.nan
    print_table(rows)
    if bare is not None and bare.busy < 0.7 and bare.generator_busy < 0.7:
        print(f"note: under {bare.generator} the bare handler's core was {bare.busy:.0%} busy and the generator's "
              f"{bare.generator_busy:.0%}: other processes held the cores, so req/s is the machine's share; "
              "compare by CPU")
    by_key = {r.key: r for r in rows if not r.skipped}
    pools = None
    if "native400" in by_key and "native100k" in by_key:
        big, small = by_key["native100k"], by_key["native400"]
        pools = {"rps": big.rps / small.rps, "by_cpu": small.cpu_us / big.cpu_us}
        print(f"100,000-number pool / 400-number pool: {pools['rps']:.2f}x req/s, "
              f"{pools['by_cpu']:.2f}x by CPU per request")
    samples: list[tuple[float, float]] = []
    if args.soak > 0:
        samples = soak(args, use_wrk)
        note = "the five-minute figure" if args.soak >= 300 else "a shorter soak; --soak 300 gives the five-minute one"
        print(f"\nsoak, pstnsim native API, 400 numbers, {args.soak:g} s ({note}):")
        print("  RSS " + ", ".join(f"{mb:.1f} MB at {t:.0f} s" for t, mb in samples))
        if len(samples) >= 3:
            print(f"  growth from 30 s to the end: {samples[-1][1] - samples[1][1]:+.1f} MB")
    load_after = os.getloadavg()
    print(f"uptime at the end: {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")
    commit = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True,
                            text=True).stdout.strip() if shutil.which("git") else ""
    report = {
        "benchmark": "provider_throughput", "started_at": started_at.isoformat(timespec="seconds"),
        "commit": commit or None,
        "machine": machine(),
        "load_average": {"start": [round(x, 2) for x in load_before], "end": [round(x, 2) for x in load_after]},
        "settings": {**{k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                     "generator": "wrk" if use_wrk else "python"},
        "rows": [{k: (None if math.isnan(v) else round(v, 3)) if isinstance(v, float) else v
                  for k, v in asdict(r).items()} for r in rows],
        "pool_100k_over_400": pools and {k: round(v, 3) for k, v in pools.items()},
        "soak": {"seconds": args.soak, "rss_mb": [{"at_s": round(t, 1), "rss_mb": round(mb, 1)} for t, mb in samples],
                 "growth_from_30s_mb": round(samples[-1][1] - samples[1][1], 1) if len(samples) >= 3 else None},
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
