"""Figures for issue 11 (hostile clients): what unauthenticated junk does to a `pstnsim provider` and a
`pstnsim core`, each a subprocess whose open-file limit is 1,024. Loopback only, bounded in count and time.

    .venv/bin/python benchmarks/hostile_clients.py [--bogus 20000] [--idle 2000] [--requests 50]

1. `--bogus` unsigned POSTs to the provider's `/`, each naming a made-up action (x-acs-action J1, J2...):
   /metrics size and lines, and the provider's resident memory, before and after.
2. For each server: hold `--idle` silent connections, then send `--requests` real requests one after
   the other (3 s timeout each): how many were served, how long it took, and how many bytes of log the
   server wrote meanwhile.
Prints figures to compare run to run (and against an older checkout, PYTHONPATH=<its root>); asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

PSTNSIM = Path(sys.executable).with_name("pstnsim")
NOFILE = 1024


def start(kind: str, workdir: Path) -> tuple[subprocess.Popen[str], str, Path]:
    log = workdir / f"{kind}.log"
    args = [str(PSTNSIM), kind, "--port", "0"]
    if kind == "core":
        args += ["--db", str(workdir / "core.db"), "--provider-url", "http://127.0.0.1:9"]

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))

    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log.open("w"), text=True, preexec_fn=limit)
    for line in proc.stdout:  # type: ignore[union-attr]
        if match := re.search(r"listening on (http://\S+)", line):
            return proc, match.group(1), log
    raise SystemExit(f"pstnsim {kind} did not start:\n{log.read_text()}")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def metrics_growth(url: str, pid: int, bogus: int) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(url + "/metrics") as response:
            before = await response.text()
        rss_before = rss_mb(pid)
        started = time.monotonic()
        queue = list(range(1, bogus + 1))

        async def worker() -> None:
            while queue:
                i = queue.pop()
                headers = {"x-acs-action": f"J{i}", "x-acs-version": "2017-05-25"}
                async with http.post(url + "/", headers=headers) as response:
                    await response.read()

        await asyncio.gather(*(worker() for _ in range(50)))
        took = time.monotonic() - started
        async with http.get(url + "/metrics") as response:
            after = await response.text()
    print(f"provider, {bogus} made-up actions in {took:.1f}s: /metrics {len(before):,} -> {len(after):,} bytes, "
          f"{len(before.splitlines())} -> {len(after.splitlines())} lines; RSS {rss_before:.0f} -> {rss_mb(pid):.0f} MB")


async def idle_sockets(kind: str, url: str, log: Path, idle: int, requests: int) -> None:
    port = int(url.rsplit(":", 1)[1])
    loop = asyncio.get_running_loop()

    async def one() -> socket.socket | None:
        sock = socket.socket()
        sock.setblocking(False)
        try:
            await asyncio.wait_for(loop.sock_connect(sock, ("127.0.0.1", port)), 2)
            return sock
        except (OSError, asyncio.TimeoutError):
            sock.close()
            return None

    held: list[socket.socket] = []
    for start_at in range(0, idle, 50):
        held += [s for s in await asyncio.gather(*(one() for _ in range(min(50, idle - start_at)))) if s]
    log_before = log.stat().st_size
    path = "/health" if kind == "core" else "/v1/numbers"
    served, started = 0, time.monotonic()
    timeout = aiohttp.ClientTimeout(total=3)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(force_close=True)) as http:
        for _ in range(requests):
            try:
                async with http.get(url + path) as response:
                    served += response.status == 200
            except (aiohttp.ClientError, asyncio.TimeoutError):
                pass
    took = time.monotonic() - started
    log_bytes = log.stat().st_size - log_before
    for sock in held:
        sock.close()
    print(f"{kind}, {len(held)} of {idle} idle sockets held: {served} of {requests} real requests served in "
          f"{took:.1f}s; {log_bytes:,} bytes of log meanwhile")


async def main(args: argparse.Namespace) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, args.idle + 1000)), hard))
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        procs = []
        try:
            provider, provider_url, provider_log = start("provider", workdir)
            procs.append(provider)
            await metrics_growth(provider_url, provider.pid, args.bogus)
            await idle_sockets("provider", provider_url, provider_log, args.idle, args.requests)
            core, core_url, core_log = start("core", workdir)
            procs.append(core)
            await idle_sockets("core", core_url, core_log, args.idle, args.requests)
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(10)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bogus", type=int, default=20_000)
    parser.add_argument("--idle", type=int, default=2_000)
    parser.add_argument("--requests", type=int, default=50)
    asyncio.run(main(parser.parse_args()))
