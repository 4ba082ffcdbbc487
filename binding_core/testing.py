"""pytest plugin (entry point `pstnsim_core`): the bundled binding core in-process, against a provider.

    async def test_bind(pstnsim_provider, pstnsim_core_factory):
        core = await pstnsim_core_factory(pstnsim_provider.url)
        async with aiohttp.ClientSession() as s:
            await s.post(f"{core.url}/v1/numbers/{x}/xb", json={"b": "13800000000"})

`pstnsim_rabbitmq_url` is a reachable RabbitMQ and `pstnsim_broker_namespace` a namespace of the test's own on it,
its exchanges and queues deleted after the test (both need the rabbitmq extra and a server).

`pstnsim_postgres_url` is the URL of a new, empty PostgreSQL database of the test's own, dropped after it
(for `db_path=` or `pstnsim core --db`); it needs the postgres extra and a server (see docs/core.md).

`pstnsim_core` is a core against the `pstnsim_provider` fixture's provider, with
a database in the test's tmp_path. Start servers inside the test body when the
test runs under looptime (a fixture-started server anchors in real time).
"""

from __future__ import annotations

import contextlib
import os
import random
import uuid
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable, Iterator
from urllib.parse import urlsplit

import pytest
import pytest_asyncio

from .app import Core
from .config import CoreConfig

CoreFactory = Callable[..., Awaitable[Core]]


@pytest_asyncio.fixture
async def pstnsim_core_factory(tmp_path: Path) -> AsyncIterator[CoreFactory]:
    """`await factory(provider_url, config=None, db_path=None, **core_kwargs)`; every core stops at teardown."""
    started: list[Core] = []

    async def start(provider_url: str, config: CoreConfig | None = None, db_path: str | Path | None = None,
                    **kwargs: Any) -> Core:
        config = config or CoreConfig()
        kwargs.setdefault("rng", random.Random(f"pstnsim_core:{config.seed}:{len(started)}"))
        core = Core(config, provider_url=provider_url, db_path=db_path or tmp_path / f"core{len(started)}.db", **kwargs)
        await core.start()
        started.append(core)
        return core

    try:
        yield start
    finally:
        for core in reversed(started):
            await core.stop()


@pytest_asyncio.fixture
async def pstnsim_core(pstnsim_core_factory: CoreFactory, pstnsim_provider: Any) -> Core:
    """A started core on 127.0.0.1 (ephemeral port) bound to the `pstnsim_provider` fixture's provider."""
    return await pstnsim_core_factory(pstnsim_provider.url)


# The server the PostgreSQL fixture creates its databases on (a role allowed to CREATE DATABASE).
POSTGRES_ADMIN_ENV = "PSTNSIM_TEST_POSTGRES"
POSTGRES_ADMIN_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
POSTGRES_START_HINT = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"


def _server_missing(message: str) -> None:
    """Skip, or under CI=true fail: CI must never pass by skipping the backend tests."""
    if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _postgres_missing(reason: str) -> None:
    _server_missing(f"PostgreSQL is not usable: {reason}. Start it (Debian/Ubuntu: {POSTGRES_START_HINT}) or point "
                    f"{POSTGRES_ADMIN_ENV} at a server where this role may CREATE DATABASE.")


@contextlib.contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    """A new database pstnsim_t_<uuid> on `admin_url`'s server, dropped on exit even with connections open;
    its URL. Unreachable server or no driver: skip, or under CI=true fail, saying how to start it."""
    try:
        import psycopg
    except ImportError:
        _postgres_missing("the psycopg driver is not installed (pip install 'pstnsim[postgres]')")
    name = f"pstnsim_t_{uuid.uuid4().hex}"
    try:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f"CREATE DATABASE {name}")
    except psycopg.Error as exc:
        _postgres_missing(f"cannot create a database through {admin_url}: {str(exc).strip()}")
    try:
        yield urlsplit(admin_url)._replace(path=f"/{name}").geturl()
    finally:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def pstnsim_postgres_url() -> Iterator[str]:
    """A new database pstnsim_t_<uuid> on $PSTNSIM_TEST_POSTGRES (default the local server's `test` database),
    dropped afterwards even if connections are left open; several test runs can share one server."""
    with postgres_database(os.environ.get(POSTGRES_ADMIN_ENV, POSTGRES_ADMIN_DEFAULT)) as url:
        yield url


# The broker the RabbitMQ fixtures use (any vhost the user may declare and delete queues in).
RABBITMQ_ENV = "PSTNSIM_TEST_RABBITMQ"
RABBITMQ_DEFAULT = "amqp://guest:guest@127.0.0.1:5672/"
RABBITMQ_START_HINT = "rabbitmq-server -detached"


def _rabbitmq_missing(reason: str) -> None:
    _server_missing(f"RabbitMQ is not usable: {reason}. Start it ({RABBITMQ_START_HINT}) or point {RABBITMQ_ENV} at "
                    f"a broker where this user may declare and delete queues.")


def _in_own_loop(work: Callable[[], Awaitable[Any]]) -> Any:
    """Run `work()` to completion in a new event loop on a thread of its own (sync fixtures run beside the
    test's loop, which must not be replaced)."""
    import asyncio
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(work())).result()


def usable_rabbitmq(url: str) -> str:
    """`url` once a connection to it works; else skip, or under CI=true fail, saying how to start RabbitMQ."""
    from .broker.connection import BrokerUnavailable, connect, driver_problem, masked

    problem = driver_problem()
    if problem is not None:
        _rabbitmq_missing(problem)

    async def reach() -> None:
        connection = await connect(url, timeout=5.0)
        await connection.close()

    try:
        _in_own_loop(reach)
    except BrokerUnavailable as exc:
        _rabbitmq_missing(f"cannot connect to {masked(url)}: {exc}")
    return url


@contextlib.contextmanager
def broker_namespace(url: str) -> Iterator[str]:
    """A new namespace pstnsim-t-<hex> on the broker at `url`; its exchanges and queues (messages and all) are
    deleted on exit."""
    from .broker.topology import delete_topology

    namespace = f"pstnsim-t-{uuid.uuid4().hex[:16]}"
    try:
        yield namespace
    finally:
        _in_own_loop(lambda: delete_topology(url, namespace))


@pytest.fixture
def pstnsim_rabbitmq_url() -> str:
    """The URL of a reachable RabbitMQ ($PSTNSIM_TEST_RABBITMQ, default the local guest account); needs the
    rabbitmq extra (aio-pika). Skips when unusable, or fails under CI=true, saying how to start it."""
    return usable_rabbitmq(os.environ.get(RABBITMQ_ENV, RABBITMQ_DEFAULT))


@pytest.fixture
def pstnsim_broker_namespace(pstnsim_rabbitmq_url: str) -> Iterator[str]:
    """A namespace of the test's own (pstnsim-t-<hex>) for `[broker] namespace` or --broker-namespace; its
    exchanges and queues are deleted afterwards, messages and all."""
    with broker_namespace(pstnsim_rabbitmq_url) as namespace:
        yield namespace
