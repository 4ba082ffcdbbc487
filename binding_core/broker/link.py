"""One replica's use of the broker: a reconnecting connection, the topology, the relay and the consumers.

Start order: connect, declare, then the relay (woken by the worker after each write) and the consumers.
Stop order: consumers first (no new deliveries), then the caller stops the worker (its released
operations go to the outbox), then `close` relays what is left once and closes the connection; messages
still unacked then are returned by the broker and delivered again (harmless duplicates).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from ..clock import Clock
from ..storage import STORE_ERRORS, OperationStore
from ..worker import Worker
from .connection import BrokerUnavailable, connect, masked
from .consumer import DeadLetterConsumer, WorkConsumer
from .publisher import Publisher
from .relay import Relay
from .topology import Topology, declare

log = logging.getLogger("binding_core.broker")


class BrokerLink:
    def __init__(self, connection: Any, topology: Topology, relay: Relay, consume_channel: Any) -> None:
        self.connection = connection
        self.topology = topology
        self.relay = relay
        self._consume_channel = consume_channel
        self._consumers: list[tuple[Any, str]] = []

    @property
    def namespace(self) -> str:
        return self.topology.names.namespace

    @classmethod
    async def start(cls, url: str, namespace: str, *, delivery_limit: int, relay_lease: float,
                    store: OperationStore, worker: Worker, clock: Clock) -> "BrokerLink":
        """Connect, declare the namespace's topology, start relaying and consuming. BrokerUnavailable when the
        broker cannot be reached or refuses the topology (nothing is left running then)."""
        connection = await connect(url)
        try:
            publish_channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
            topology = await declare(publish_channel, namespace, delivery_limit=delivery_limit)
            consume_channel = await connection.channel()
            await consume_channel.set_qos(prefetch_count=worker.concurrency)
            work_queue = await declare(consume_channel, namespace, delivery_limit=delivery_limit)
        except BrokerUnavailable:
            await connection.close()
            raise
        except Exception as exc:
            await connection.close()
            raise BrokerUnavailable(f"cannot set up namespace {namespace!r} on the broker {masked(url)}: {exc}") from None
        publisher = Publisher(topology.exchange, clock)
        relay = Relay(store, publisher, clock, name=worker.owner, poll_interval=worker.poll_interval,
                      lease=relay_lease)
        link = cls(connection, topology, relay, consume_channel)
        worker.after_write = relay.wake
        relay.start()
        work = WorkConsumer(worker, publisher, clock, delivery_limit=delivery_limit)
        dead = DeadLetterConsumer(publisher, clock, delivery_limit=delivery_limit)
        for queue, handler in ((work_queue.work, work.on_message), (work_queue.dead, dead.on_message)):
            link._consumers.append((queue, await queue.consume(handler)))
        log.info("broker %s: namespace %s, delivery limit %s", masked(url), namespace, delivery_limit)
        return link

    async def stop_consuming(self) -> None:
        """No new deliveries (messages in hand stay unacked until their attempt ends or the link closes)."""
        consumers, self._consumers = self._consumers, []
        for queue, tag in consumers:
            with contextlib.suppress(Exception):
                await queue.cancel(tag)

    async def close(self, *, flush: bool = True) -> None:
        """Stop relaying (after one last round when `flush`: a graceful stop hands its released operations
        to the broker at once) and close the connection."""
        await self.stop_consuming()
        await self.relay.stop()
        if flush:
            try:
                await asyncio.wait_for(self.relay.relay_once(), 5.0)
            except (*STORE_ERRORS, Exception) as exc:  # noqa: BLE001 - whatever is left, another relay takes
                log.warning("last outbox round on stop failed (another replica's relay takes the rows): %s", exc)
        with contextlib.suppress(Exception):
            await self.connection.close()
