"""The provider and the core replicas as real processes, and what the nemesis may do to them.

Every server is started as `python -m scenarios.cli provider|core ... --port 0` and is
ready once it prints its "listening on URL" line; a restarted replica gets its first
port back, so its URL never changes. Output goes to one log file per process (in the
report folder), never to a pipe nobody reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LISTENING = re.compile(rb"listening on (http://[^\s]+)")
START_TIMEOUT = 30.0  # seconds a server gets to print its URL
STOP_TIMEOUT = 5.0  # seconds after SIGTERM before SIGKILL (the run drops the database anyway)


class ProcessError(RuntimeError):
    """A server did not start (its log's last lines say why)."""


@dataclass
class Replica:
    index: int
    name: str
    url: str = ""
    pid: int | None = None
    running: bool = False
    paused: bool = False
    argv: list[str] = field(default_factory=list)
    log_path: Path | None = None
    process: asyncio.subprocess.Process | None = None
    port: int = 0
    starts: int = 0
    broker_via: str = ""  # the broker URL this replica is given: its own proxy's port


class ServerProcess:
    """One server process: started with its arguments, ready when it prints its URL."""

    def __init__(self, argv: list[str], log_path: Path, env: dict[str, str] | None = None, label: str = "") -> None:
        self.argv = argv
        self.label = label or " ".join(argv[3:5])
        self.log_path = log_path
        self.env = env
        self.process: asyncio.subprocess.Process | None = None
        self.url = ""
        self._log_start = 0

    async def start(self) -> str:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self._log_start = log.tell()  # a restart appends: only what this process writes counts
        try:
            self.process = await asyncio.create_subprocess_exec(
                *self.argv, stdout=log, stderr=asyncio.subprocess.STDOUT, env=self.env, start_new_session=True)
        finally:
            log.close()  # the child holds its own copy
        self.url = await self._wait_listening()
        return self.url

    async def _wait_listening(self) -> str:
        """Poll the log for the URL line (with a deadline); a process that exits first is an error."""
        assert self.process is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_TIMEOUT
        offset = self._log_start
        seen = b""
        while loop.time() < deadline:
            with self.log_path.open("rb") as log:
                log.seek(offset)
                seen = log.read()
            found = None
            for found in LISTENING.finditer(seen):
                pass
            if found is not None and self.process.returncode is None:
                return found.group(1).decode()
            if self.process.returncode is not None:
                break
            await asyncio.sleep(0.05)
        tail = seen.decode(errors="replace").strip().splitlines()[-5:]
        code = self.process.returncode
        if code is None:
            await self.stop()
        why = f"exit {code}" if code is not None else f"no URL within {START_TIMEOUT:g} s"
        raise ProcessError(f"{self.label} did not start ({why}; log {self.log_path}): " + (tail[-1] if tail else "no output"))

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None

    def signal(self, sig: int) -> None:
        if self.alive:
            assert self.process is not None
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(sig)

    async def kill(self) -> None:
        if self.process is None:
            return
        self.signal(signal.SIGKILL)
        await self.process.wait()

    async def stop(self) -> None:
        """SIGCONT (a paused process cannot act on SIGTERM), SIGTERM, then SIGKILL after STOP_TIMEOUT."""
        if not self.alive:
            return
        assert self.process is not None
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), STOP_TIMEOUT)
        except asyncio.TimeoutError:
            await self.kill()


def pstnsim_argv(*args: str) -> list[str]:
    """The pstnsim command of this very interpreter (a checkout that was never installed works too)."""
    return [sys.executable, "-m", "scenarios.cli", *args]


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/")[0])


class Cluster:
    """N replicas of the bundled core on one database (and broker), each behind its own broker proxy.

    What the nemesis may use: kill, restart, pause, resume, cut_broker, and the facts below."""

    def __init__(self, *, replicas: int, db_urls: list[str], db_url: str, admin_db_url: str | None,
                 provider_url: str, config_path: Path, log_dir: Path, lease: float,
                 broker_url: str | None = None, broker_namespace: str | None = None, seed: int = 0) -> None:
        self.replicas = [Replica(index=i, name=f"replica-{i}") for i in range(replicas)]
        self.db_url = db_url
        self.admin_db_url = admin_db_url
        self.broker_url = broker_url
        self.broker_namespace = broker_namespace
        self.lease = lease
        self.provider_url = provider_url
        self._db_urls = db_urls
        self._config_path = config_path
        self._log_dir = log_dir
        self._seed = seed
        self._servers: dict[int, ServerProcess] = {}
        self._proxies: dict[int, Any] = {}  # index -> TcpProxy (scenarios/cluster/tcp_proxy.py)
        self._locks = [asyncio.Lock() for _ in range(replicas)]
        self.events: list[dict[str, Any]] = []  # (for the report) every start, kill, pause, resume, cut

    # ---- start and stop --------------------------------------------------------

    async def start(self) -> None:
        """Every replica's broker proxy, then every replica, at once; ready when all listen."""
        if self.broker_url:
            await self._start_proxies()
        await asyncio.gather(*(self._spawn(r, port=0) for r in self.replicas))

    async def _start_proxies(self) -> None:
        from urllib.parse import urlsplit

        try:
            from .tcp_proxy import TcpProxy
        except ImportError as exc:
            raise ProcessError(f"--broker needs scenarios/cluster/tcp_proxy.py (the replicas' broker proxies): {exc}") from None
        target = urlsplit(self.broker_url)
        for replica in self.replicas:
            proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 5672)
            self._proxies[replica.index] = proxy
            replica_port = await proxy.start()
            replica.broker_via = target._replace(netloc=_netloc(target, replica_port)).geturl()

    def _argv(self, replica: Replica, port: int) -> list[str]:
        argv = pstnsim_argv("core", "--db", self._db_urls[replica.index], "--provider-url", self.provider_url,
                            "--config", str(self._config_path), "--port", str(port),
                            "--seed", str(self._seed * 100 + replica.index), "--log-level", "WARNING")
        if self.broker_url:
            argv += ["--broker", replica.broker_via or self.broker_url]
            if self.broker_namespace:
                argv += ["--broker-namespace", self.broker_namespace]
        return argv

    async def _spawn(self, replica: Replica, port: int) -> None:
        replica.log_path = self._log_dir / f"{replica.name}.log"
        server = ServerProcess(self._argv(replica, port), replica.log_path, label=replica.name)
        replica.argv = server.argv
        replica.url = await server.start()
        replica.port = port_of(replica.url)
        self._servers[replica.index] = server
        replica.process = server.process
        replica.pid = server.pid
        replica.running, replica.paused = True, False
        replica.starts += 1
        self._note("started" if replica.starts == 1 else "restarted", replica)

    async def stop(self) -> None:
        """Every replica stopped (resumed first), every proxy closed. Never raises."""
        await asyncio.gather(*(s.stop() for s in self._servers.values()), return_exceptions=True)
        for replica in self.replicas:
            replica.running = replica.paused = False
        for proxy in self._proxies.values():
            with contextlib.suppress(Exception):
                await proxy.stop()

    # ---- what the nemesis does ---------------------------------------------------

    async def kill(self, i: int) -> None:
        """SIGKILL: no drain, no goodbye; returns once the process is gone."""
        async with self._locks[i]:
            replica = self.replicas[i]
            server = self._servers.get(i)
            if server is not None:
                await server.kill()
            replica.running = replica.paused = False
            replica.pid = None
            self._note("killed", replica)

    async def restart(self, i: int) -> None:
        """Start the replica again with the same arguments and port; returns once it listens."""
        async with self._locks[i]:
            replica = self.replicas[i]
            server = self._servers.get(i)
            if server is not None and server.alive:
                await server.stop()
            await self._spawn(replica, port=replica.port)

    async def pause(self, i: int) -> None:
        """SIGSTOP: the process keeps its connections and its claims but does nothing."""
        async with self._locks[i]:
            replica = self.replicas[i]
            server = self._servers.get(i)
            if server is None or not server.alive:
                return
            server.signal(signal.SIGSTOP)
            replica.paused = True
            self._note("paused", replica)

    async def resume(self, i: int) -> None:
        async with self._locks[i]:
            replica = self.replicas[i]
            server = self._servers.get(i)
            if server is not None and server.alive:
                server.signal(signal.SIGCONT)
            replica.paused = False
            self._note("resumed", replica)

    async def cut_broker(self, i: int) -> None:
        """Close the replica's broker connections (through its proxy); its client reconnects."""
        proxy = self._proxies.get(i)
        if proxy is None:
            raise RuntimeError("cut_broker needs --broker (no broker proxy for this replica)")
        await proxy.cut()
        self._note("broker cut", self.replicas[i])

    # ---- what the balancer and the report read ---------------------------------------

    def serving(self) -> list[Replica]:
        """Replicas a load balancer would send to: running and not paused."""
        return [r for r in self.replicas if r.running and not r.paused]

    def exited(self) -> list[Replica]:
        """Replicas whose process ended without the nemesis killing it (a crash of the core itself)."""
        out = []
        for replica in self.replicas:
            server = self._servers.get(replica.index)
            if replica.running and server is not None and not server.alive:
                out.append(replica)
        return out

    def _note(self, what: str, replica: Replica) -> None:
        loop = asyncio.get_running_loop()
        self.events.append({"t": loop.time(), "event": what, "replica": replica.index, "pid": replica.pid})


def _netloc(target: Any, port: int) -> str:
    auth = ""
    if target.username:
        auth = target.username + (f":{target.password}" if target.password else "") + "@"
    return f"{auth}127.0.0.1:{port}"


async def start_provider(seed: int, log_dir: Path, config_path: Path | None) -> ServerProcess:
    argv = pstnsim_argv("provider", "--port", "0", "--seed", str(seed))
    if config_path is not None:
        argv += ["--config", str(config_path)]
    server = ServerProcess(argv, log_dir / "provider.log", env={**os.environ}, label="the provider")
    await server.start()
    return server
