"""The consumers: NS.work (run an operation's attempt, ack after its commit) and NS.dead (a message the
broker gave up on becomes a 'dead' message: the operation is settled by query, with its one alert).

Every message is only a hint: the store's claim decides. A 'run' message whose claim fails is dropped,
because the outbox invariant guarantees another message (or the holder's watchdog) for any operation still
to do, with one exception handled here: a message that arrives before its operation is claimable (a
replica's clock a little behind the writer's) is delayed again, since it may be that operation's only one.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ..clock import Clock
from ..records import Operation
from ..storage import STORE_ERRORS
from ..worker import Worker
from .bounded import finished_within
from .messages import DIRECT_WITHIN, MalformedMessage, WorkMessage, decode
from .publisher import Publisher

log = logging.getLogger("binding_core.broker.consumer")

# A message whose operation becomes claimable at most this many seconds after the message's own time is
# that operation's message, early (clock skew between replicas): delayed again rather than dropped.
SKEW = 1.0
FINAL_STATES = ("done", "dead")
# Seconds a message whose claim failed on a database error is held before it goes back to the broker: a database
# down for longer than delivery_limit x this dead-letters the messages that arrive meanwhile (alert, settle).
STORE_FAILURE_HOLD = 1.0
# Seconds an ack or nack may take to be written; on a dead connection aiormq 6.9 would wait for ever, holding
# the handler (and its prefetch slot).
SETTLE_TIMEOUT = 5.0


def after_failed_claim(op: Operation | None, at: float) -> float | None:
    """A 'run' message due at `at` found nothing to claim: None to drop it, or the epoch time to deliver it
    again (the operation is not claimable yet but should have been, so this may be its only message)."""
    if op is None or op.state in FINAL_STATES:
        return None
    claimable_at = op.next_attempt_at if op.state == "pending" else (op.lease_until or 0.0)
    return claimable_at if claimable_at <= at + SKEW else None


def delivery_count(headers: dict[str, Any] | None, delivery_limit: int) -> int | None:
    """How often the broker delivered a message before dead-lettering it: a quorum queue dead-letters on the
    delivery after `delivery_limit` returns (x-death reason 'delivery_limit'), so limit + 1; None when the
    headers name another reason or none."""
    deaths = (headers or {}).get("x-death")
    if isinstance(deaths, list) and deaths and isinstance(deaths[0], dict):
        if deaths[0].get("reason") == "delivery_limit":
            return delivery_limit + 1
    return None


class WorkConsumer:
    """Consumes NS.work with prefetch = the worker's concurrency."""

    def __init__(self, worker: Worker, publisher: Publisher, clock: Clock, *, delivery_limit: int) -> None:
        self.worker = worker
        self.publisher = publisher
        self.clock = clock
        self.delivery_limit = delivery_limit

    async def on_message(self, message: Any) -> None:
        try:
            work = decode(message.body)
        except MalformedMessage as exc:
            log.warning("malformed message %s on the work queue, dead-lettered: %s", message.message_id, exc)
            await _settle(message.reject(requeue=False), "reject", message)
            return
        try:
            wait = work.at - self.clock.now()
            if 0 < wait <= DIRECT_WITHIN:
                # Nearly due: the shortest delay queue would bring it back later than this wait.
                await asyncio.sleep(wait)
            elif wait > 0:
                await self._delay(message, work, work.at, "not due yet")
                return
            if work.kind == "run":
                await self._run(message, work)
            else:
                await self._dead(message, work)
        except STORE_ERRORS as exc:
            log.warning("%s message for %s returned to the broker in %g s (counts toward the delivery limit): "
                        "the database failed: %s", work.kind, work.op, STORE_FAILURE_HOLD, exc)
            # Held a moment first: returned at once, it would come straight back, and a database that is down
            # for a few milliseconds (a cut session reconnecting) would use up its deliveries in that time.
            await asyncio.sleep(STORE_FAILURE_HOLD)
            await _settle(message.nack(requeue=True), "nack", message)
        except Exception as exc:  # noqa: BLE001 - a failed re-publish: the broker keeps the original
            log.warning("%s message for %s returned to the broker (counts toward the delivery limit): %s",
                        work.kind, work.op, exc)
            await _settle(message.nack(requeue=True), "nack", message)

    async def _run(self, message: Any, work: WorkMessage) -> None:
        op = await self.worker.run_delivered(work.op)
        if op is None:
            try:
                current: Operation | None = self.worker.store.operation(work.op)
            except KeyError:
                current = None
            again_at = after_failed_claim(current, work.at)
            if again_at is not None:
                await self._delay(message, work, again_at, "not claimable yet")
                return
            log.debug("dropped run message for %s (%s)", work.op,
                      "unknown operation" if current is None else f"{current.state}, nothing to claim now")
        self.worker.crash("before_ack")
        await _settle(message.ack(), "ack", message)

    async def _dead(self, message: Any, work: WorkMessage) -> None:
        deliveries = work.deliveries if work.deliveries is not None else self.delivery_limit + 1
        try:
            again_at = await self.worker.settle_dead_letter(work.op, f"delivery limit reached ({deliveries} deliveries)")
        except KeyError:
            log.warning("dead letter for unknown operation %s dropped", work.op)
            again_at = None
        if again_at is not None:
            await self._delay(message, work, again_at, "its operation is not claimable yet")
            return
        log.info("dead letter for %s handled: settling by query (or already finished)", work.op)
        self.worker.crash("before_ack")
        await _settle(message.ack(), "ack", message)

    async def _delay(self, message: Any, work: WorkMessage, at: float, why: str) -> None:
        """Publish (confirmed) a copy due at `at`, then ack the original: the copy is out before the original
        goes, so a crash in between leaves two, never none."""
        copy = WorkMessage(work.op, at, work.kind, work.deliveries)
        key = await self.publisher.publish(copy)
        log.debug("re-delayed %s message for %s to %.3f via %s (%s)", work.kind, work.op, at, key, why)
        await _settle(message.ack(), "ack", message)


class DeadLetterConsumer:
    """Consumes NS.dead: each dead-lettered message becomes a 'dead' message on the work queue."""

    def __init__(self, publisher: Publisher, clock: Clock, *, delivery_limit: int) -> None:
        self.publisher = publisher
        self.clock = clock
        self.delivery_limit = delivery_limit

    async def on_message(self, message: Any) -> None:
        try:
            work = decode(message.body)
        except MalformedMessage as exc:
            log.warning("malformed dead letter %s dropped: %s", message.message_id, exc)
            await _settle(message.ack(), "ack", message)
            return
        deliveries = delivery_count(message.headers, self.delivery_limit)
        log.info("message for %s dead-lettered by the broker after %s deliveries: settling it by query",
                 work.op, deliveries if deliveries is not None else "too many")
        try:
            await self.publisher.publish(WorkMessage(work.op, self.clock.now(), "dead", deliveries))
        except Exception as exc:  # noqa: BLE001 - any failure to publish: keep the dead letter
            log.warning("dead letter for %s kept (publishing its dead message failed): %s", work.op, exc)
            await _settle(message.nack(requeue=True), "nack", message)
            return
        await _settle(message.ack(), "ack", message)


async def _settle(acking: Any, what: str, message: Any) -> None:
    """Ack/nack/reject; on a closed channel the broker has returned the message already and delivers it
    again (a duplicate the claim makes harmless)."""
    try:
        if not await finished_within(acking, SETTLE_TIMEOUT):
            log.info("%s of message %s not written in %g s (connection lost?); the broker delivers it again if it "
                     "did not get it", what, message.message_id, SETTLE_TIMEOUT)
    except Exception as exc:  # noqa: BLE001 - aio-pika raises several types for a closed channel
        log.info("%s of message %s lost (%s); the broker delivers it again", what, message.message_id, exc)
