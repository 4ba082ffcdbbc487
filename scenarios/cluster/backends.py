"""The run's own database and broker namespace: made at the start, removed at the end.

A cluster run never writes into the database it is given: on PostgreSQL it creates
pstnsim_c_<seed>_<random> on that server (dropped at the end unless kept), so runs
that share a server never see each other. On RabbitMQ it uses the namespace
pstnsim-c-<seed>-<random> and deletes that topology at the end.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit

from binding_core.storage import is_postgres_url, redacted, sqlite_path

POSTGRES_START_HINT = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
RABBITMQ_START_HINT = "rabbitmq-server -detached"
CONNECT_TIMEOUT = 5


class BackendError(RuntimeError):
    """A database or broker the run cannot use; the message says how to fix it (exit 2)."""


@dataclass
class RunDatabase:
    """Where the replicas keep their state. `url`: what every replica opens (before its application_name);
    `admin_url`: the server's database the run created it from (None for SQLite)."""

    url: str
    admin_url: str | None
    name: str
    kind: str  # "postgresql" | "sqlite"

    def for_replica(self, index: int) -> str:
        """The replica's own URL: on PostgreSQL it names itself (application_name), so its connections can be
        told apart (and terminated) on the server."""
        if self.kind != "postgresql":
            return self.url
        return with_query(self.url, application_name=replica_application(index))


def masked(url: str) -> str:
    """The URL with its password as *** (for reports and printed commands)."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return parts._replace(netloc=netloc).geturl()


def replica_application(index: int) -> str:
    return f"pstnsim-replica-{index}"


def with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(params)
    return parts._replace(query=urlencode(query)).geturl()


def run_suffix(seed: int) -> str:
    """`<seed>_<random>`: the run's names say which seed made them and never collide."""
    return f"{seed if seed >= 0 else 'm' + str(-seed)}_{secrets.token_hex(4)}"


def open_database(db: str, seed: int) -> RunDatabase:
    """Create the run's database (PostgreSQL) or name the file (SQLite). Raises BackendError."""
    if is_postgres_url(db):
        return _create_postgres(db, f"pstnsim_c_{run_suffix(seed)}")
    try:
        path = sqlite_path(db)
    except ValueError as exc:
        raise BackendError(f"--db: {exc}") from None
    return RunDatabase(url=path, admin_url=None, name=path, kind="sqlite")


def _create_postgres(admin_url: str, name: str) -> RunDatabase:
    try:
        import psycopg
    except ImportError:
        raise BackendError("--db postgresql:// needs the psycopg driver: pip install 'pstnsim[postgres]'") from None
    try:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=CONNECT_TIMEOUT) as admin:
            admin.execute(f"CREATE DATABASE {name}")
    except psycopg.Error as exc:
        first = (str(exc).strip().splitlines() or ["no answer"])[0]
        raise BackendError(f"PostgreSQL at {redacted(admin_url)} is not usable ({first}); start it (Debian/Ubuntu: "
                           f"{POSTGRES_START_HINT}) or give --db a server where this role may CREATE DATABASE") from None
    url = urlsplit(admin_url)._replace(path=f"/{name}", query="").geturl()
    return RunDatabase(url=url, admin_url=admin_url, name=name, kind="postgresql")


def drop_database(database: RunDatabase) -> None:
    """Drop the run's PostgreSQL database even with connections left open; SQLite files stay."""
    if database.kind != "postgresql" or database.admin_url is None:
        return
    import psycopg

    with psycopg.connect(database.admin_url, autocommit=True, connect_timeout=CONNECT_TIMEOUT) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {database.name} WITH (FORCE)")


def database_exists(admin_url: str, name: str) -> bool:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True, connect_timeout=CONNECT_TIMEOUT) as admin:
        return admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def broker_namespace(seed: int) -> str:
    return f"pstnsim-c-{run_suffix(seed).replace('_', '-')}"


async def check_broker(url: str) -> None:
    """The broker answers an AMQP login; else BackendError saying how to start it."""
    try:
        import aio_pika
    except ImportError:
        raise BackendError("--broker needs aio-pika: pip install 'pstnsim[rabbitmq]'") from None
    try:
        connection = await asyncio.wait_for(aio_pika.connect(url), CONNECT_TIMEOUT)
    except Exception as exc:  # noqa: BLE001 - any failure to log in means the same to the user
        raise BackendError(f"RabbitMQ at {redacted(url)} is not usable ({type(exc).__name__}: {exc}); start it "
                           f"({RABBITMQ_START_HINT}) or give --broker the URL of a running broker") from None
    await connection.close()


async def delete_broker_topology(url: str, namespace: str) -> str:
    """Delete the run's exchanges and queues; "" when done, else why not (a note for the report)."""
    try:
        from binding_core.broker.topology import delete_topology
    except ImportError:
        return "the broker topology was left in place: this build has no binding_core.broker.topology.delete_topology"
    try:
        result = delete_topology(url, namespace)
        if asyncio.iscoroutine(result):
            await result
    except Exception as exc:  # noqa: BLE001 - clean-up: reported, never fatal
        return f"could not delete the broker topology {namespace}: {exc}"
    return ""
