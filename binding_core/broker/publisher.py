"""Publishing one work message with the broker's confirm: routed to the work queue or a delay tier."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

from ..clock import Clock
from .connection import BrokerUnavailable
from .messages import CONTENT_TYPE, WorkMessage, routing_key

PUBLISH_TIMEOUT = 10.0  # seconds to wait for a confirm before the publish counts as failed


class Publisher:
    """Wraps the namespace's exchange on a channel with publisher confirms (and unroutable messages
    returned as errors): `await publish(...)` returns only once the broker has the message. `exchange` is
    None while there is no broker session (the link sets it for each one)."""

    def __init__(self, exchange: Any, clock: Clock) -> None:
        self.exchange = exchange
        self.clock = clock
        # The confirm channel `exchange` is on (set with it by the link). A publish whose confirm times out
        # leaves that channel's confirm bookkeeping broken (aio-pika 9.6 / aiormq 7.2: every later publish on
        # it times out too), so it is closed: the link sees the session break and opens a new one.
        self.channel: Any = None

    @property
    def ready(self) -> bool:
        return self.exchange is not None

    async def publish(self, message: WorkMessage, *, message_id: str | None = None,
                      timeout: float = PUBLISH_TIMEOUT) -> str:
        """Publish `message` where it waits until due; the routing key used. Raises on a nack, a return,
        a timeout or a lost connection (the caller keeps its copy and tries again)."""
        import aio_pika

        exchange, channel = self.exchange, self.channel
        if exchange is None:
            raise BrokerUnavailable("not connected to the broker (reconnecting)")
        key = routing_key(message.at, self.clock.now())
        try:
            await exchange.publish(
                aio_pika.Message(message.encode(), content_type=CONTENT_TYPE,
                                 delivery_mode=aio_pika.DeliveryMode.PERSISTENT, message_id=message_id or uuid.uuid4().hex),
                key, timeout=timeout,
            )
        except asyncio.TimeoutError:
            if channel is not None and self.channel is channel:
                self.exchange = self.channel = None  # nothing more goes out on it
                asyncio.get_running_loop().create_task(_close_quietly(channel))
            raise
        return key


async def _close_quietly(channel: Any) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(channel.close(), 2.0)
