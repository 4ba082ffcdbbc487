"""One replica's use of the broker: a session (connection, topology, channels, consumers), set up again
after the broker is lost, the relay feeding it and the consumers feeding the worker.

Reconnecting is done here, not by aio-pika's "robust" connection: a session is opened from scratch (connect,
declare, channels, consumers) and watched; when its connection or either channel closes, the whole session is
dropped and a new one is tried every RECONNECT_INTERVAL seconds until one stands. While there is none the
relay takes no rows (they wait in the outbox) and the attempts in flight go on; their acks are lost with the
old channel, so the broker delivers those messages again (the claim drops them).

Start order: the first session (must succeed), then the relay (woken by the worker after each write) and the
watch. Stop order: consumers first (no new deliveries), then the caller stops the worker (its released
operations go to the outbox), then `close` relays what is left once and closes the connection; messages
still unacked then are returned by the broker and delivered again (harmless duplicates).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from ..clock import Clock
from ..storage import STORE_ERRORS, OperationStore
from ..worker import Worker
from .bounded import finished_within
from .connection import RECONNECT_INTERVAL, BrokerUnavailable, connect, masked
from .consumer import DeadLetterConsumer, WorkConsumer
from .publisher import Publisher
from .relay import Relay
from .topology import Topology, declare

log = logging.getLogger("binding_core.broker")

# Seconds each step of a stop may wait on the broker: a core must stop promptly even with the broker gone.
STOP_STEP_TIMEOUT = 2.0


@dataclass
class Session:
    """One connection and what hangs on it; dropped as a whole when any part of it closes."""

    connection: Any
    topology: Topology
    publish_channel: Any
    consume_channel: Any
    consumers: list[tuple[Any, str]] = field(default_factory=list)

    def closed(self) -> list[Any]:
        """Awaitables that finish when the connection or a channel closes."""
        return [self.connection.closed(), self.publish_channel.closed(), self.consume_channel.closed()]

    def is_open(self) -> bool:
        return not (self.connection.is_closed or self.publish_channel.is_closed or self.consume_channel.is_closed)


class BrokerLink:
    def __init__(self, url: str, namespace: str, *, delivery_limit: int, worker: Worker, publisher: Publisher,
                 relay: Relay, work: WorkConsumer, dead: DeadLetterConsumer) -> None:
        self.url = url
        self.namespace = namespace
        self.delivery_limit = delivery_limit
        self.worker = worker
        self.publisher = publisher
        self.relay = relay
        self.work = work
        self.dead = dead
        self.session: Session | None = None
        self.sessions_opened = 0
        self._stopping = asyncio.Event()
        self._watch_task: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, url: str, namespace: str, *, delivery_limit: int, relay_lease: float,
                    store: OperationStore, worker: Worker, clock: Clock) -> "BrokerLink":
        """Open the first session, start relaying, consuming and watching. BrokerUnavailable when the broker
        cannot be reached or refuses the topology (nothing is left running then)."""
        publisher = Publisher(None, clock)
        relay = Relay(store, publisher, clock, name=worker.owner, poll_interval=worker.poll_interval,
                      lease=relay_lease)
        link = cls(url, namespace, delivery_limit=delivery_limit, worker=worker, publisher=publisher, relay=relay,
                   work=WorkConsumer(worker, publisher, clock, delivery_limit=delivery_limit),
                   dead=DeadLetterConsumer(publisher, clock, delivery_limit=delivery_limit))
        await link._open_session()
        worker.after_write = relay.wake
        relay.start()
        link._watch_task = asyncio.create_task(link._watch(), name="binding_core.broker.watch")
        log.info("broker %s: namespace %s, delivery limit %s", masked(url), namespace, delivery_limit)
        return link

    def connected(self) -> bool:
        return self.session is not None and self.session.is_open()

    async def _open_session(self) -> None:
        connection = await connect(self.url)
        try:
            publish_channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
            topology = await declare(publish_channel, self.namespace, delivery_limit=self.delivery_limit)
            consume_channel = await connection.channel()
            await consume_channel.set_qos(prefetch_count=self.worker.concurrency)
            consuming = await declare(consume_channel, self.namespace, delivery_limit=self.delivery_limit)
            session = Session(connection, topology, publish_channel, consume_channel)
            for queue, handler in ((consuming.work, self.work.on_message), (consuming.dead, self.dead.on_message)):
                session.consumers.append((queue, await queue.consume(handler)))
        except BrokerUnavailable:
            await _close_quietly(connection)
            raise
        except Exception as exc:
            await _close_quietly(connection)
            raise BrokerUnavailable(f"cannot set up namespace {self.namespace!r} on the broker "
                                    f"{masked(self.url)}: {exc}") from None
        self.session = session
        self.sessions_opened += 1
        self.publisher.attach(topology.exchange, publish_channel)
        self.relay.wake()  # rows written while there was no session go out now

    async def _watch(self) -> None:
        """Wait for the session to break; then open new ones until one stands (or the link stops)."""
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            while not self._stopping.is_set():
                assert self.session is not None
                # The connection's and channels' own "closed" futures: waited on, never cancelled (that would
                # close them).
                broken = [asyncio.ensure_future(waiter) for waiter in self.session.closed()]
                await asyncio.wait([stopping, *broken], return_when=asyncio.FIRST_COMPLETED)
                if self._stopping.is_set():
                    return
                self.publisher.detach()
                old, self.session = self.session, None
                await _close_quietly(old.connection)
                log.warning("lost the broker %s; reconnecting every %g s", masked(self.url), RECONNECT_INTERVAL)
                while not self._stopping.is_set():
                    try:
                        await self._open_session()
                        log.warning("reconnected to the broker %s", masked(self.url))
                        break
                    except BrokerUnavailable as exc:
                        log.info("broker still unavailable: %s", exc)
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(asyncio.shield(stopping), RECONNECT_INTERVAL)
        finally:
            stopping.cancel()

    async def stop_consuming(self) -> None:
        """No new deliveries (messages in hand stay unacked until their attempt ends or the link closes)."""
        session = self.session
        if session is None:
            return
        consumers, session.consumers = session.consumers, []
        for queue, tag in consumers:
            if not session.is_open():
                break  # the broker has dropped our consumers already
            with contextlib.suppress(Exception):
                await finished_within(queue.cancel(tag), STOP_STEP_TIMEOUT)

    async def close(self, *, flush: bool = True) -> None:
        """Stop relaying (after one last round when `flush`: a graceful stop hands its released operations
        to the broker at once) and close the connection."""
        self._stopping.set()
        if self._watch_task is not None:
            await asyncio.gather(self._watch_task, return_exceptions=True)
            self._watch_task = None
        await self.stop_consuming()
        await self.relay.stop(grace=STOP_STEP_TIMEOUT)
        if flush and self.connected():
            try:
                await asyncio.wait_for(self.relay.relay_once(), STOP_STEP_TIMEOUT)
            except (*STORE_ERRORS, Exception) as exc:  # noqa: BLE001 - whatever is left, another relay takes
                log.warning("last outbox round on stop failed (another replica's relay takes the rows): %s", exc)
        self.publisher.detach()
        if self.session is not None:
            await _close_quietly(self.session.connection)


async def _close_quietly(connection: Any) -> None:
    with contextlib.suppress(Exception):
        await finished_within(connection.close(), STOP_STEP_TIMEOUT)
