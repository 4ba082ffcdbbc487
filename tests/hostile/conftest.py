"""Hostile clients against real pstnsim servers on loopback (issue 11).

Servers that must meet a small open-file limit run as `pstnsim provider` / `pstnsim core` subprocesses
with RLIMIT_NOFILE set for them alone (1,024, as on the machine the findings came from); this process
raises its own soft limit to hold thousands of client sockets. Every load here is bounded in count and
time and goes to 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import re
import resource
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import pytest

PSTNSIM = Path(sys.executable).with_name("pstnsim")
LISTENING = re.compile(r"listening on (http://\S+)")
SERVER_NOFILE = 1024
BATCH = 100  # connections opened at once (aiohttp listens with a backlog of 128)


@dataclass
class Served:
    url: str
    port: int
    log: Path  # the server's stderr (its log)
    process: subprocess.Popen[str]


def raise_own_nofile(wanted: int) -> None:
    """Lift this process's soft open-file limit to `wanted` (within the hard limit), or skip."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= wanted:
        return
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target < wanted:
        pytest.skip(f"needs {wanted} open files; the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    """`serve("provider"|"core", http={...}, nofile=1024)`: a pstnsim server subprocess (with an `[http]`
    config section when `http` is given), its open-file limit set; stopped at teardown."""
    started: list[subprocess.Popen[str]] = []

    def start(kind: str, http: dict[str, object] | None = None, nofile: int = SERVER_NOFILE) -> Served:
        config = tmp_path / f"{kind}{len(started)}.toml"
        lines = ["[http]"] + [f"{key} = {value!r}".replace("'", '"') for key, value in (http or {}).items()]
        config.write_text("\n".join(lines) + "\n")
        log = tmp_path / f"{kind}{len(started)}.log"
        args = [str(PSTNSIM), kind, "--port", "0"] + (["--config", str(config)] if http else [])
        if kind == "core":
            args += ["--db", str(tmp_path / f"core{len(started)}.db"), "--provider-url", "http://127.0.0.1:9"]

        def limit() -> None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))

        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log.open("w"), text=True, preexec_fn=limit)
        started.append(proc)
        for line in proc.stdout:  # type: ignore[union-attr]
            if match := LISTENING.search(line):
                url = match.group(1)
                return Served(url, int(url.rsplit(":", 1)[1]), log, proc)
        raise AssertionError(f"pstnsim {kind} exited {proc.wait()} without listening:\n{log.read_text()}")

    try:
        yield start
    finally:
        for proc in started:
            proc.terminate()
        for proc in started:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def open_idle_sockets(port: int, count: int, connect_timeout: float = 2.0) -> list[socket.socket]:
    """`count` TCP connections to 127.0.0.1:port that send nothing; the ones the kernel completed."""
    loop = asyncio.get_running_loop()

    async def one() -> socket.socket | None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            await asyncio.wait_for(loop.sock_connect(sock, ("127.0.0.1", port)), connect_timeout)
            return sock
        except (OSError, asyncio.TimeoutError):
            sock.close()
            return None

    opened: list[socket.socket] = []
    for start in range(0, count, BATCH):  # within the listen backlog: no SYN waits for a retransmit
        batch = await asyncio.gather(*(one() for _ in range(min(BATCH, count - start))))
        opened += [s for s in batch if s is not None]
    return opened
