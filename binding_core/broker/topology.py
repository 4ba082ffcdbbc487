"""The namespace's exchanges and queues: declared by every replica at start (idempotent), deleted by tests.

    NS            direct exchange           'work' -> NS.work, 'delay.<ms>' -> NS.delay.<ms>
    NS.work       quorum queue              x-delivery-limit, dead letters to NS.dlx
    NS.delay.<ms> classic queue, TTL <ms>   expired messages go back to NS with key 'work'
    NS.dlx        fanout exchange           -> NS.dead (classic)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .connection import BrokerUnavailable, connect
from .messages import DELAY_TIERS_MS, WORK_KEY, delay_key


@dataclass(frozen=True)
class Names:
    namespace: str

    @property
    def exchange(self) -> str:
        return self.namespace

    @property
    def work(self) -> str:
        return f"{self.namespace}.work"

    @property
    def dlx(self) -> str:
        return f"{self.namespace}.dlx"

    @property
    def dead(self) -> str:
        return f"{self.namespace}.dead"

    def delay(self, ms: int) -> str:
        return f"{self.namespace}.delay.{ms}"

    def queues(self) -> list[str]:
        return [self.work, self.dead, *(self.delay(ms) for ms in DELAY_TIERS_MS)]

    def exchanges(self) -> list[str]:
        return [self.exchange, self.dlx]


@dataclass
class Topology:
    """What `declare` returns: the objects the relay and the consumers use (aio-pika's)."""

    names: Names
    exchange: Any
    work: Any
    dead: Any


async def declare(channel: Any, namespace: str, *, delivery_limit: int) -> Topology:
    """Declare everything (durable). A queue that exists with other arguments (another delivery limit)
    is refused by the broker: BrokerUnavailable naming it."""
    import aio_pika

    names = Names(namespace)
    try:
        exchange = await channel.declare_exchange(names.exchange, aio_pika.ExchangeType.DIRECT, durable=True)
        dlx = await channel.declare_exchange(names.dlx, aio_pika.ExchangeType.FANOUT, durable=True)
        work = await channel.declare_queue(names.work, durable=True, arguments={
            "x-queue-type": "quorum", "x-delivery-limit": delivery_limit, "x-dead-letter-exchange": names.dlx})
        await work.bind(exchange, WORK_KEY)
        dead = await channel.declare_queue(names.dead, durable=True)
        await dead.bind(dlx, "")
        for ms in DELAY_TIERS_MS:
            tier = await channel.declare_queue(names.delay(ms), durable=True, arguments={
                "x-message-ttl": ms, "x-dead-letter-exchange": names.exchange, "x-dead-letter-routing-key": WORK_KEY})
            await tier.bind(exchange, delay_key(ms))
    except aio_pika.exceptions.ChannelPreconditionFailed as exc:
        raise BrokerUnavailable(f"the broker's queues for namespace {namespace!r} exist with other settings "
                                f"(a different [broker] delivery_limit?): {exc}") from None
    return Topology(names, exchange, work, dead)


async def delete_topology(url: str, namespace: str) -> None:
    """Delete the namespace's queues and exchanges, messages and all (a test's cleanup); missing ones are fine."""
    names = Names(namespace)
    connection = await connect(url, robust=False)
    try:
        for queue in names.queues():
            channel = await connection.channel()
            await channel.queue_delete(queue)
            await channel.close()
        for exchange in names.exchanges():
            channel = await connection.channel()
            await channel.exchange_delete(exchange)
            await channel.close()
    finally:
        await connection.close()
