"""The core's aiohttp application and the in-process `Core` (an app on a runner, with its port).

`create_app` wires store, provider client, worker, gray router and API; the
worker starts and stops with the app (one cleanup context). Clock and
randomness are injected so the core runs in one looptime loop with the provider.
With `[broker] url` set, the store writes an outbox and the broker link (binding_core.broker,
imported only then) relays it and feeds the worker instead of the table scan.
"""

from __future__ import annotations

import itertools
import logging
import os
import random
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator

from aiohttp import web

from simulator.admin_gate import AdminGate
from simulator.connections import LISTEN_BACKLOG, GuardedRunner

from . import api
from .alerts import AlertSink, LogSink, MemorySink, WebhookSink
from .clock import Clock, LoopClock
from .config import CoreConfig
from .gray import GrayRouter
from .provider import make_client
from .provider.base import ProviderClient
from .provider.breaker import GuardedClient
from .queue import RetryPolicy
from .service import BindingService
from .storage import OperationStore, open_store
from .worker import Worker

log = logging.getLogger("binding_core")

WORKER = web.AppKey("worker", Worker)
MEMORY_ALERTS = web.AppKey("memory_alerts", MemorySink)


@dataclass
class Parts:
    """What one running core is made of (tests and the harness reach in through this)."""

    config: CoreConfig
    store: OperationStore
    provider: GuardedClient
    worker: Worker
    gray: GrayRouter
    service: BindingService
    memory_alerts: MemorySink
    database_id: str = ""
    broker: Any = None  # binding_core.broker.link.BrokerLink once started, with a broker configured


PARTS = web.AppKey("parts", Parts)
_CORES_MADE = itertools.count(1)  # cores built in this process
ABORTED = web.AppKey("aborted", dict)  # {"aborted": bool}: set by Core.abort before cleanup


def create_app(
    config: CoreConfig,
    *,
    db_path: str | Path | None,
    clock: Clock | None = None,
    rng: random.Random | None = None,
    provider: ProviderClient | None = None,
    sinks: list[AlertSink] | None = None,
) -> web.Application:
    """The core as an aiohttp app. `db_path`: a SQLite file (or `sqlite:///path`), a `postgresql://` URL
    (storage.open_store), or None: an in-memory SQLite database (gone with the app).

    `provider` replaces the client `[provider] dialect` would make (it is still
    wrapped in the circuit breaker); `sinks` are added to the configured ones.
    """
    clock = clock or LoopClock()
    rng = rng or random.Random(f"binding_core:{config.seed}")
    app = web.Application(client_max_size=api.MAX_BODY_BYTES, middlewares=[api.errors_as_json])
    api.add_routes(app)
    app[api.ADMIN_GATE] = AdminGate(allowed_hosts=config.http.allowed_hosts, token=config.http.admin_token,
                                    allow_public=config.http.allow_public_admin)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        parts = build_parts(config, db_path=db_path, clock=clock, rng=rng, provider=provider, sinks=sinks)
        app[api.STORE] = parts.store
        app[api.SERVICE] = parts.service
        app[api.GRAY] = parts.gray
        app[api.PROVIDER] = parts.provider
        app[WORKER] = parts.worker
        app[MEMORY_ALERTS] = parts.memory_alerts
        app[PARTS] = parts
        try:
            if config.broker.url is not None:
                parts.broker = await _start_broker(parts, clock)
            await parts.worker.start()
        except BaseException:
            if parts.broker is not None:
                await parts.broker.close(flush=False)
            await parts.provider.close()
            parts.store.close()
            raise
        try:
            yield
        finally:
            aborted = app[ABORTED]["aborted"]
            if parts.broker is not None:
                await parts.broker.stop_consuming()
            if not aborted:
                await parts.worker.stop()
            if parts.broker is not None:
                await parts.broker.close(flush=not aborted)
            await parts.provider.close()
            for sink in parts.worker.sinks:
                await sink.close()
            parts.store.close()

    app[ABORTED] = {"aborted": False}
    app.cleanup_ctx.append(lifecycle)
    return app


def build_parts(
    config: CoreConfig,
    *,
    db_path: str | Path | None,
    clock: Clock,
    rng: random.Random,
    provider: ProviderClient | None = None,
    sinks: list[AlertSink] | None = None,
) -> Parts:
    client = make_client(config.provider, clock)  # an unknown dialect fails here, before any file is made
    with_broker = config.broker.url is not None
    store = open_store(db_path, outbox=with_broker)
    if provider is not None:
        client = GuardedClient(provider, client.breaker)
    memory = MemorySink()
    all_sinks: list[AlertSink] = [memory, *(sinks or [])]
    if config.alerts.log:
        all_sinks.append(LogSink())
    if config.alerts.webhook_url:
        all_sinks.append(WebhookSink(config.alerts.webhook_url, config.alerts.webhook_timeout))
    database_id = store.database_id(rng, clock.now())
    # Unique among replicas sharing a database: containers often all run as pid 1 with the same seed, and
    # one process may run several cores with the same seed (the count tells them apart).
    owner = f"core-{socket.gethostname()}-{os.getpid()}-{next(_CORES_MADE)}-{rng.getrandbits(32):08x}"
    worker = Worker(
        store,
        client,
        RetryPolicy(config.retry, rng),
        clock,
        owner=owner,
        lease=config.lease,
        key_prefix=f"core-{database_id}",
        sinks=all_sinks,
        concurrency=config.worker.concurrency,
        poll_interval=config.worker.poll_interval,
        in_doubt_window=config.provider.in_doubt_window,
        scan_table=not with_broker,
    )
    gray = GrayRouter(config.gray, config.source)
    service = BindingService(store, worker, client, gray, clock)
    return Parts(config, store, client, worker, gray, service, memory, database_id=database_id)


def broker_namespace(config: CoreConfig, database_id: str) -> str:
    """The namespace of the broker's exchanges and queues: [broker] namespace, else one per database, so
    cores on one database share their queues and cores on different databases never do."""
    return config.broker.namespace or f"pstnsim-{database_id}"


async def _start_broker(parts: Parts, clock: Clock) -> Any:
    from .broker.link import BrokerLink  # aio-pika is imported here and nowhere without a broker

    broker = parts.config.broker
    assert broker.url is not None
    # Every start re-announces the unfinished operations: work queued while the table was the queue, or
    # under another namespace, or whose queue an operator deleted, would otherwise never be delivered.
    # A message for an operation that has one already is a duplicate, which the claim makes harmless.
    announced = parts.store.fill_outbox(now=clock.now())
    if announced:
        log.info("re-announced %d unfinished operation(s) to the broker", announced)
    return await BrokerLink.start(broker.url, broker_namespace(parts.config, parts.database_id),
                                  delivery_limit=broker.delivery_limit, relay_lease=broker.relay_lease,
                                  store=parts.store, worker=parts.worker, clock=clock)


class Core:
    """The core served on 127.0.0.1 in this event loop: `async with Core(...) as core: core.url`.

    `await core.abort()` stops it like a crash (nothing more is written); a new
    Core on the same `db_path` then resumes the operations left behind once
    their leases run out.
    """

    def __init__(
        self,
        config: CoreConfig | None = None,
        *,
        provider_url: str | None = None,
        db_path: str | Path | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        provider: ProviderClient | None = None,
        sinks: list[AlertSink] | None = None,
    ) -> None:
        config = config or CoreConfig()
        if provider_url is not None:
            config = config.replace(provider=_with_url(config, provider_url))
        self.config = config
        self.app = create_app(config, db_path=db_path, clock=clock, rng=rng, provider=provider, sinks=sinks)
        self.host, self.port = host, port
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> "Core":
        self._runner = GuardedRunner(self.app, self.config.http.limits())
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, backlog=LISTEN_BACKLOG)
        await site.start()
        sockets = site._server.sockets if site._server else []  # type: ignore[union-attr]
        self.port = sockets[0].getsockname()[1]
        self.url = f"http://{self.host}:{self.port}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def abort(self) -> None:
        """Stop as if killed: in-flight attempts and requests are cancelled; nothing more is written."""
        await self.parts.worker.abort()
        self.app[ABORTED]["aborted"] = True
        if self._runner is not None:
            self._runner._shutdown_timeout = 0.0  # requests in flight are cut, not drained (no public setter)
        await self.stop()

    async def __aenter__(self) -> "Core":
        return await self.start()

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()

    @property
    def parts(self) -> Parts:
        return self.app[PARTS]

    @property
    def store(self) -> OperationStore:
        return self.parts.store

    @property
    def alerts(self) -> list[dict[str, Any]]:
        """Alerts delivered to the in-memory sink by this process."""
        return self.parts.memory_alerts.alerts

    def set_gray(self, *, all: bool = False, numbers: tuple[str, ...] | list[str] = ()) -> None:
        from .config import GraySettings

        self.parts.gray.set(GraySettings(all=all, numbers=tuple(numbers)))

    async def wait_settled(self, timeout: float = 3600.0) -> bool:
        """Wait (loop clock) until the queue has nothing pending or running."""
        return await self.parts.worker.wait_settled(timeout)


def _with_url(config: CoreConfig, url: str) -> Any:
    from dataclasses import replace

    return replace(config.provider, url=url)
