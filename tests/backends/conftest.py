"""Fixtures for the backend tests: real PostgreSQL (a database per test, from binding_core.testing's
`pstnsim_postgres_url`), and real processes: the simulator and core replicas on one database; with
`broker_cluster`, the replicas also share a RabbitMQ namespace of the test's own (`pstnsim_broker_namespace`).

Without a reachable server these tests skip with the reason; under CI=true they fail instead."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
import pytest_asyncio

DEADLINE = 30.0  # seconds of wall time any one wait may take before the test fails

# The provider answers 504 to anything it held 2 s, so no call lands later than that.
PROVIDER_TOML = "request_deadline = 2\n"
# A replica's claims last 2 s; the others look for work every 0.1 s.
CORE_TOML = """
[provider]
timeout = 1
connect_timeout = 1
in_doubt_window = 1
[retry]
max_attempts = 6
base_delay = 0.2
max_delay = 0.5
alert_threshold = 3
[worker]
lease = 2
poll_interval = 0.1
"""


async def poll(predicate: Callable[[], Awaitable[bool]], what: str) -> None:
    """Wait for a condition with a deadline, looking every 20 ms (no fixed sleeps)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE
    while not await predicate():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def query(url: str, sql: str, params: Any = None) -> list[dict[str, Any]]:
    """Rows from the test's database (a postgresql URL, or a SQLite file path), through a connection of the
    test's own; `%s` placeholders either way."""
    if not url.startswith("postgres"):
        import sqlite3

        with contextlib.closing(sqlite3.connect(url)) as conn:
            conn.row_factory = sqlite3.Row
            return [dict(row) for row in conn.execute(sql.replace("%s", "?"), params or [])]
    import psycopg  # the dev extra has it; without it the fixture skips (or fails under CI=true) first
    from psycopg.rows import dict_row

    with psycopg.connect(url, row_factory=dict_row, autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()


@dataclass
class Replica:
    proc: asyncio.subprocess.Process
    url: str
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@dataclass
class Cluster:
    """The simulator and core replicas as processes, all on the test's PostgreSQL database."""

    tmp: Path
    db_url: str
    http: aiohttp.ClientSession
    provider_url: str = ""
    procs: list[asyncio.subprocess.Process] = field(default_factory=list)
    # Set by broker_cluster: every replica then runs with --broker URL --broker-namespace NS.
    broker_url: str | None = None
    namespace: str | None = None
    core_toml: str = CORE_TOML

    async def spawn(self, args: list[str], log: Path, env: dict[str, str] | None = None) -> tuple[asyncio.subprocess.Process, str]:
        """Start `python -m ...`; return it with the URL from its 'listening on' line."""
        with open(log, "ab") as stderr:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", *args, stdout=asyncio.subprocess.PIPE, stderr=stderr,
                env={**os.environ, **(env or {})},
            )
        self.procs.append(proc)
        assert proc.stdout is not None
        while True:
            line = (await asyncio.wait_for(proc.stdout.readline(), DEADLINE)).decode()
            assert line, f"{args[0]} exited before listening (see {log})"
            if "listening on " in line:
                return proc, line.split("listening on ")[1].split()[0]

    async def start_provider(self) -> str:
        (self.tmp / "provider.toml").write_text(PROVIDER_TOML)
        _, self.provider_url = await self.spawn(
            ["scenarios.cli", "provider", "--port", "0", "--seed", "3", "--config", str(self.tmp / "provider.toml")],
            self.tmp / "provider.log")
        return self.provider_url

    async def replica(self, name: str, env: dict[str, str] | None = None, db: str | None = None,
                      extra: list[str] | None = None) -> Replica:
        """A `pstnsim core` process on the cluster's database (or `db`), with the cluster's broker if any."""
        config = self.tmp / "core.toml"
        config.write_text(self.core_toml)
        log = self.tmp / f"{name}.log"
        broker = ["--broker", self.broker_url, "--broker-namespace", self.namespace or ""] if self.broker_url else []
        proc, url = await self.spawn(["binding_core.cli", "--provider-url", self.provider_url, "--db", db or self.db_url,
                                      *broker, "--config", str(config), "--port", "0", "--seed", str(len(self.procs)),
                                      *(extra or [])],
                                     log, env)
        return Replica(proc, url, log)

    async def xb_bound(self, replica: Replica, x: str) -> bool:
        """Whether `replica` answers X's XB mode as BIND (the polling API every replica serves)."""
        async with self.http.get(f"{replica.url}/v1/numbers/{x}") as response:
            return (await response.json())["xb"]["status"] == "BIND"

    async def numbers(self, count: int) -> list[str]:
        async with self.http.get(f"{self.provider_url}/v1/numbers") as response:
            return [n["x"] for n in (await response.json())["numbers"][:count]]

    async def add_fault(self, rule: dict[str, Any]) -> None:
        async with self.http.post(f"{self.provider_url}/_admin/faults", json=rule) as response:
            assert response.status == 201, await response.text()

    async def active_bindings(self, x: str) -> list[dict[str, Any]]:
        async with self.http.get(f"{self.provider_url}/_admin/ledger") as response:
            return [b for b in (await response.json())["bindings"] if b["status"] == "active" and b["x"] == x]

    async def provider_calls(self, operation: str, x: str) -> list[dict[str, Any]]:
        async with self.http.get(f"{self.provider_url}/_admin/journal",
                                 params={"operation": operation, "x": x, "limit": "1000"}) as response:
            return (await response.json())["entries"]

    def operations(self, x: str) -> list[dict[str, Any]]:
        return query(self.db_url, "SELECT * FROM operations WHERE x = %s ORDER BY seq", [x])

    def transitions(self, x: str) -> list[dict[str, Any]]:
        return query(self.db_url, "SELECT * FROM transitions WHERE x = %s ORDER BY seq", [x])


@pytest_asyncio.fixture
async def cluster(tmp_path: Path, pstnsim_postgres_url: str) -> AsyncIterator[Cluster]:
    """Every process started is stopped (SIGCONT, then SIGTERM, then SIGKILL) before the database is dropped."""
    async with running_cluster(tmp_path, pstnsim_postgres_url) as c:
        yield c


@contextlib.asynccontextmanager
async def running_cluster(tmp_path: Path, db_url: str) -> AsyncIterator[Cluster]:
    async with aiohttp.ClientSession() as http:
        c = Cluster(tmp_path, db_url, http)
        try:
            yield c
        finally:
            for proc in reversed(c.procs):
                if proc.returncode is None:
                    proc.send_signal(signal.SIGCONT)
                    proc.send_signal(signal.SIGTERM)
                    try:
                        await asyncio.wait_for(proc.wait(), DEADLINE)
                    except asyncio.TimeoutError:
                        proc.kill()
                        await proc.wait()


# With a broker: the relay hands back a row it could not get confirmed after 1 s (not 10), so a test
# that cuts a replica off mid-publish does not wait long for the row to go out again.
BROKER_CORE_TOML = CORE_TOML + """
[broker]
relay_lease = 1
"""


@pytest_asyncio.fixture
async def broker_cluster(pstnsim_broker_namespace: str, pstnsim_rabbitmq_url: str,
                         cluster: Cluster) -> AsyncIterator[Cluster]:
    """`cluster` whose replicas run with the test's broker namespace (its queues are deleted after the
    processes stopped: this fixture's namespace is set up first, so it is torn down last)."""
    cluster.broker_url = pstnsim_rabbitmq_url
    cluster.namespace = pstnsim_broker_namespace
    cluster.core_toml = BROKER_CORE_TOML
    yield cluster


@pytest_asyncio.fixture
async def sqlite_broker_cluster(pstnsim_broker_namespace: str, pstnsim_rabbitmq_url: str,
                                tmp_path: Path) -> AsyncIterator[Cluster]:
    """Like broker_cluster, on a SQLite file (tmp_path/core.db) instead of PostgreSQL."""
    async with running_cluster(tmp_path, str(tmp_path / "core.db")) as cluster:
        cluster.broker_url = pstnsim_rabbitmq_url
        cluster.namespace = pstnsim_broker_namespace
        cluster.core_toml = BROKER_CORE_TOML
        yield cluster


class BrokerHand:
    """The test's own hands on the cluster's broker namespace: publish a message, look at queue depths,
    consume like a broken replica would."""

    def __init__(self, url: str, namespace: str) -> None:
        self.url = url
        self.namespace = namespace
        self.connection: Any = None

    async def __aenter__(self) -> "BrokerHand":
        import aio_pika

        self.connection = await aio_pika.connect(self.url)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.connection.close()

    async def publish(self, body: dict[str, Any], routing_key: str = "work") -> None:
        """Publish `body` as JSON to the namespace's exchange, confirmed."""
        import json

        import aio_pika

        channel = await self.connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(self.namespace, ensure=True)
        await exchange.publish(aio_pika.Message(json.dumps(body).encode(), content_type="application/json",
                                                delivery_mode=aio_pika.DeliveryMode.PERSISTENT), routing_key)
        await channel.close()

    async def ready(self, suffix: str) -> int:
        """Messages ready (not delivered to a consumer) in queue NS.<suffix>."""
        channel = await self.connection.channel()
        queue = await channel.declare_queue(f"{self.namespace}.{suffix}", passive=True)
        count = queue.declaration_result.message_count
        await channel.close()
        return count


def outbox_size(db_url: str) -> int:
    return query(db_url, "SELECT count(*) AS n FROM outbox")[0]["n"]


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """The test's database, once on each backend: a SQLite file, then a PostgreSQL URL of its own."""
    if request.param == "sqlite":
        return tmp_path / "core.db"
    pytest.importorskip("psycopg", reason="the postgres extra (psycopg) is not installed")
    return request.getfixturevalue("pstnsim_postgres_url")
