"""Broker-side faults on a live core's work queue: duplicated, redelivered and dead-lettered messages.

Each call opens its own connection to the real broker and joins `NS.work` as one more consumer, with a
higher consumer priority (`x-priority`) than the replicas and a prefetch of 1. RabbitMQ (quorum queues
included, checked on 3.10) offers every message to the highest-priority consumer that has capacity, so the
next message published, or returned, comes to us while the replicas keep receiving everything else:

- duplicate: take a message, publish a copy of it (confirmed) next to it, then return the original
  (nack, requeue): the replicas receive both.
- redeliver: take a message and return it: a replica receives it again, marked redelivered.
- delivery limit: return the same message over and over; the broker counts the returns and, past the work
  queue's `x-delivery-limit`, dead-letters it itself. A private queue bound to the fanout `NS.dlx` sees the
  dead letter, whoever consumes `NS.dead`, and confirms the outcome.

Before a message is returned to the replicas our consumer is cancelled, so the return goes to them and not
back to us. Every function returns a JSON-able dict of what happened (`outcome` plus details).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any, AsyncIterator

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue

# Above the replicas' consumers (which set none: priority 0).
NEMESIS_PRIORITY = 10
CONNECT_TIMEOUT = 5.0
RPC_TIMEOUT = 5.0  # seconds any one exchange with the broker may take, so a nemesis action never hangs
# Marks the copies we publish, for whoever reads a message dump; the core ignores headers it does not know.
COPY_HEADER = "x-pstnsim-nemesis"
# Headers the broker sets on delivery or dead-lettering; a copy must not carry the original's.
_BROKER_HEADERS = ("x-delivery-count", "x-death", "x-first-death-exchange", "x-first-death-queue",
                   "x-first-death-reason", "x-last-death-exchange", "x-last-death-queue", "x-last-death-reason")


def work_queue(namespace: str) -> str:
    return f"{namespace}.work"


def dead_letter_exchange(namespace: str) -> str:
    return f"{namespace}.dlx"


def describe(message: AbstractIncomingMessage) -> dict[str, Any]:
    """What a log needs to know about a message: its id, and the op and kind its body names."""
    info: dict[str, Any] = {"message_id": message.message_id}
    try:
        body = json.loads(message.body)
    except ValueError:
        body = None
    if isinstance(body, dict):
        info["op"] = body.get("op")
        info["kind"] = body.get("kind")
    count = (message.headers or {}).get("x-delivery-count")
    if count is not None:
        info["delivery_count"] = count
    return info


def _identity(message: AbstractIncomingMessage) -> tuple[str | None, bytes]:
    return message.message_id, bytes(message.body)


@contextlib.asynccontextmanager
async def _channel(url: str) -> AsyncIterator[AbstractChannel]:
    """Our own connection and a confirming channel with prefetch 1 (so we hold one message at a time)."""
    connection = await aio_pika.connect(url, timeout=CONNECT_TIMEOUT,
                                        client_properties={"connection_name": "pstnsim-nemesis"})
    try:
        channel = await connection.channel(publisher_confirms=True)
        await channel.set_qos(prefetch_count=1)
        yield channel
    finally:
        # Closing returns whatever we still hold to the queue; bounded, so a cancelled nemesis never hangs here.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(connection.close(), RPC_TIMEOUT)


class _PriorityConsumer:
    """A high-priority consumer on the work queue feeding an asyncio queue; `stop()` cancels it and returns
    (requeues) whatever it still holds."""

    def __init__(self, queue: AbstractQueue) -> None:
        self.queue = queue
        self.inbox: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        self.tag: str | None = None

    async def start(self) -> None:
        async def deliver(message: AbstractIncomingMessage) -> None:
            self.inbox.put_nowait(message)

        self.tag = await self.queue.consume(deliver, arguments={"x-priority": NEMESIS_PRIORITY}, timeout=RPC_TIMEOUT)

    async def take(self, wait: float) -> AbstractIncomingMessage | None:
        try:
            return await asyncio.wait_for(self.inbox.get(), timeout=max(0.0, wait))
        except TimeoutError:
            return None

    async def stop(self) -> None:
        """Best effort and bounded: if the channel is gone, closing the connection returns the messages anyway."""
        with contextlib.suppress(Exception):
            if self.tag is not None:
                tag, self.tag = self.tag, None
                await asyncio.wait_for(self.queue.cancel(tag), RPC_TIMEOUT)
            while not self.inbox.empty():
                await asyncio.wait_for(self.inbox.get_nowait().nack(requeue=True), RPC_TIMEOUT)


async def _take_one(queue: AbstractQueue, wait: float) -> AbstractIncomingMessage | None:
    """The next message the broker hands us within `wait` s, with our consumer already cancelled (so a return
    goes to the replicas)."""
    consumer = _PriorityConsumer(queue)
    await consumer.start()
    try:
        return await consumer.take(wait)
    finally:
        await consumer.stop()


def _died_of_delivery_limit(letter: AbstractIncomingMessage, queue: str) -> bool:
    """Whether the broker dead-lettered `letter` from `queue` for its delivery limit. Read from x-death, not
    x-first-death-reason: a message that came out of a delay queue first "died" there (expired)."""
    deaths = (letter.headers or {}).get("x-death")
    return isinstance(deaths, list) and any(
        isinstance(d, dict) and d.get("reason") == "delivery_limit" and d.get("queue") == queue for d in deaths)


def _copy(message: AbstractIncomingMessage) -> aio_pika.Message:
    headers = {k: v for k, v in (message.headers or {}).items() if k not in _BROKER_HEADERS}
    headers[COPY_HEADER] = "duplicate"
    return aio_pika.Message(
        bytes(message.body), headers=headers, content_type=message.content_type,
        content_encoding=message.content_encoding, message_id=message.message_id,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT, timestamp=message.timestamp, type=message.type,
        correlation_id=message.correlation_id, app_id=message.app_id)


async def _return_messages(url: str, namespace: str, *, messages: int, wait: float, copy: bool) -> dict[str, Any]:
    deadline = time.monotonic() + wait
    taken: list[dict[str, Any]] = []
    async with _channel(url) as channel:
        queue = await channel.declare_queue(work_queue(namespace), passive=True, timeout=RPC_TIMEOUT)
        exchange = await channel.get_exchange(namespace, ensure=False)
        for _ in range(messages):
            message = await _take_one(queue, deadline - time.monotonic())
            if message is None:
                break
            if copy:
                # The copy goes out (confirmed) before the original is returned, so both exist for the replicas.
                await exchange.publish(_copy(message), routing_key="work", mandatory=True, timeout=RPC_TIMEOUT)
            await message.nack(requeue=True)
            taken.append(describe(message))
    outcome = "done" if len(taken) == messages else ("no message" if not taken else "partly done")
    return {"outcome": outcome, "messages": taken}


async def duplicate(url: str, namespace: str, *, messages: int = 1, wait: float = 5.0) -> dict[str, Any]:
    """Take up to `messages` messages off `NS.work` (waiting at most `wait` s in all) and make each arrive twice."""
    return await _return_messages(url, namespace, messages=messages, wait=wait, copy=True)


async def redeliver(url: str, namespace: str, *, messages: int = 1, wait: float = 5.0) -> dict[str, Any]:
    """Take up to `messages` messages off `NS.work` and return each to the queue (a redelivery, which counts
    toward the delivery limit)."""
    return await _return_messages(url, namespace, messages=messages, wait=wait, copy=False)


async def deliver_past_limit(url: str, namespace: str, *, wait: float = 10.0) -> dict[str, Any]:
    """Return one message to `NS.work` until the broker dead-letters it for its delivery limit; the outcome is
    "dead-lettered" once the dead letter was seen on `NS.dlx`. If a return escapes to a replica, the next
    message we get is pushed instead."""
    deadline = time.monotonic() + wait
    deliveries: dict[tuple[str | None, bytes], int] = {}
    async with _channel(url) as channel:
        tap = await channel.declare_queue("", exclusive=True, auto_delete=True, timeout=RPC_TIMEOUT)
        await tap.bind(dead_letter_exchange(namespace), routing_key="", timeout=RPC_TIMEOUT)
        dead: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()

        async def on_dead(message: AbstractIncomingMessage) -> None:
            dead.put_nowait(message)

        await tap.consume(on_dead, no_ack=True, timeout=RPC_TIMEOUT)
        work = await channel.declare_queue(work_queue(namespace), passive=True, timeout=RPC_TIMEOUT)
        consumer = _PriorityConsumer(work)
        await consumer.start()
        try:
            while (left := deadline - time.monotonic()) > 0:
                got_work = asyncio.ensure_future(consumer.inbox.get())
                got_dead = asyncio.ensure_future(dead.get())
                done, _ = await asyncio.wait({got_work, got_dead}, timeout=left, return_when=asyncio.FIRST_COMPLETED)
                for waiter in (got_work, got_dead):
                    if waiter not in done:
                        waiter.cancel()
                if got_work in done:  # first: a message in hand always goes back
                    message = got_work.result()
                    key = _identity(message)
                    deliveries[key] = deliveries.get(key, 0) + 1
                    await message.nack(requeue=True)
                if got_dead in done:
                    letter = got_dead.result()
                    key = _identity(letter)
                    if key in deliveries and _died_of_delivery_limit(letter, work_queue(namespace)):
                        return {"outcome": "dead-lettered", **describe(letter), "deliveries": deliveries[key],
                                "reason": "delivery_limit", "queue": work_queue(namespace)}
        finally:
            await consumer.stop()
    if not deliveries:
        return {"outcome": "no message"}
    return {"outcome": "not dead-lettered", "deliveries": sum(deliveries.values()), "messages": len(deliveries)}
