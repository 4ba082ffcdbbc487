"""Publishing one work message with the broker's confirm: routed to the work queue or a delay tier."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

from ..clock import Clock
from .bounded import drop_outcome, finished_within
from .connection import BrokerUnavailable
from .messages import CONTENT_TYPE, WorkMessage, routing_key

PUBLISH_TIMEOUT = 10.0  # seconds to wait for a confirm before the publish counts as failed


class Publisher:
    """Wraps the namespace's exchange on a channel with publisher confirms (and unroutable messages
    returned as errors): `await publish(...)` returns only once the broker has the message. `exchange` is
    None while there is no broker session (the link attaches each new one and detaches a lost one)."""

    def __init__(self, exchange: Any, clock: Clock) -> None:
        self.exchange = exchange
        self.clock = clock
        # The confirm channel `exchange` is on (set with it by the link). A publish whose confirm times out
        # leaves that channel's confirm bookkeeping broken (aio-pika 9.6 / aiormq 6.9: every later publish on
        # it times out too), so it is closed: the link sees the session break and opens a new one.
        self.channel: Any = None
        # Done when the link drops the session the exchange belongs to: publishes still waiting on it fail then.
        self._lost: asyncio.Future[None] | None = None

    @property
    def ready(self) -> bool:
        return self.exchange is not None

    def attach(self, exchange: Any, channel: Any) -> None:
        """Publish on this session's exchange and confirm channel from now on."""
        self.detach()
        self.exchange, self.channel = exchange, channel
        self._lost = asyncio.get_running_loop().create_future()

    def detach(self) -> None:
        """The session is gone: nothing more is published, and publishes waiting on it fail at once."""
        self.exchange = self.channel = None
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)
        self._lost = None

    async def publish(self, message: WorkMessage, *, message_id: str | None = None,
                      timeout: float = PUBLISH_TIMEOUT) -> str:
        """Publish `message` where it waits until due; the routing key used. Raises on a nack, a return,
        a timeout or a lost connection (the caller keeps its copy and tries again)."""
        import aio_pika

        exchange, channel, lost = self.exchange, self.channel, self._lost
        if exchange is None:
            raise BrokerUnavailable("not connected to the broker (reconnecting)")
        key = routing_key(message.at, self.clock.now())
        # Waited for beside the session's loss and our own timeout: aio-pika's timeout covers the confirm only,
        # and a publish queued on a connection that dies before writing it waits for that write forever
        # (aiormq 6.9), which would hold the relay's round, and every row after it, until the process ends.
        sending = asyncio.ensure_future(exchange.publish(
            aio_pika.Message(message.encode(), content_type=CONTENT_TYPE,
                             delivery_mode=aio_pika.DeliveryMode.PERSISTENT, message_id=message_id or uuid.uuid4().hex),
            key, timeout=timeout,
        ))
        try:
            done, _ = await asyncio.wait({sending} if lost is None else {sending, lost}, timeout=timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not sending.done():
                sending.cancel()
        if sending in done:
            try:
                sending.result()  # a nack, a return or a closed channel raises here
            except asyncio.TimeoutError:  # aio-pika's own confirm timeout, a hair before ours
                self._give_up(channel)
                raise
            return key
        # Not awaited: on a dead connection a publish may not end even when cancelled (seen with aiormq 6.9), and
        # its channel is not used again either way.
        sending.add_done_callback(drop_outcome)
        if lost is not None and lost.done():
            raise BrokerUnavailable("the broker session was lost before the publish was confirmed")
        self._give_up(channel)
        raise asyncio.TimeoutError(f"no confirm within {timeout:g} s")

    def _give_up(self, channel: Any) -> None:
        """A confirm that never came: nothing more goes out on that channel, and it is closed."""
        if channel is not None and self.channel is channel:
            self.detach()
            asyncio.get_running_loop().create_task(_close_quietly(channel))


async def _close_quietly(channel: Any) -> None:
    with contextlib.suppress(Exception):
        await finished_within(channel.close(), 2.0)
