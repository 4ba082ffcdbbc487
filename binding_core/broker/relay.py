"""The relay: outbox rows -> broker messages (confirmed) -> rows deleted.

A row is deleted only after the broker confirmed its message, so a relay that dies or loses the broker
between publish and confirm leaves the row to be taken again once its relay lease ran out: the message
may then exist twice (harmless: the consumer's claim is the fence), but is never lost.
"""

from __future__ import annotations

import asyncio
import logging

from ..clock import Clock
from ..storage import STORE_ERRORS, OperationStore
from .messages import WorkMessage
from .publisher import Publisher

log = logging.getLogger("binding_core.broker.relay")

RELAY_LEASE = 10.0  # seconds a relay holds the rows it took; longer than a publish may take to be confirmed
BATCH = 200  # rows taken (and published concurrently) per round


class Relay:
    def __init__(self, store: OperationStore, publisher: Publisher, clock: Clock, *, name: str,
                 poll_interval: float, lease: float = RELAY_LEASE, batch: int = BATCH) -> None:
        self.store = store
        self.publisher = publisher
        self.clock = clock
        self.name = name
        self.poll_interval = poll_interval
        self.lease = lease
        self.batch = batch
        self._wake = asyncio.Event()
        self.published = 0  # messages confirmed by the broker (for tests and logs)
        self._task: asyncio.Task[None] | None = None
        # Python 3.11's wait_for can swallow a cancellation that races with a wake-up: the loop checks this too.
        self._stopping = False

    def wake(self) -> None:
        """Something was just written: look at the outbox now rather than at the next poll."""
        self._wake.set()

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self.run(), name="binding_core.broker.relay")

    async def stop(self, grace: float = 5.0) -> None:
        """Stop after the round in progress (its publishes confirmed and rows deleted, so a graceful stop
        leaves no row taken and unpublished); cut it off after `grace` seconds."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            done, _ = await asyncio.wait({self._task}, timeout=grace)
            if not done:
                self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def run(self) -> None:
        """Relay until stopped; store and broker failures are logged and retried at the next poll."""
        while not self._stopping:
            self._wake.clear()
            delay = self.poll_interval
            try:
                if await self.relay_once() >= self.batch:
                    continue  # more may be waiting
                next_at = self.store.next_outbox_at()
                if next_at is not None:
                    delay = min(delay, max(next_at - self.clock.now(), 0.005))
            except STORE_ERRORS as exc:
                log.error("outbox relay: the database failed, trying again in %ss: %s", self.poll_interval, exc)
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=delay)
            except asyncio.TimeoutError:
                pass

    async def relay_once(self) -> int:
        """Take a batch of rows, publish each (concurrently, each waiting for its confirm), delete the
        confirmed ones; how many rows were taken. Rows whose publish failed stay, taken by us until the
        lease runs out, then taken again. Without a broker session nothing is taken (the rows wait)."""
        if not self.publisher.ready:
            return 0
        rows = self.store.claim_outbox(self.name, now=self.clock.now(), lease=self.lease, limit=self.batch)
        if not rows:
            return 0
        results = await asyncio.gather(
            *(self.publisher.publish(WorkMessage(row["op_id"], row["deliver_at"], row["kind"]),
                                     message_id=f"outbox-{row['seq']}") for row in rows),
            return_exceptions=True)
        confirmed: list[int] = []
        for row, result in zip(rows, results):
            if isinstance(result, BaseException):
                log.warning("outbox row %s (%s %s) not confirmed by the broker, published again in %ss: %s",
                            row["seq"], row["kind"], row["op_id"], self.lease, _describe(result))
            else:
                log.debug("relayed %s %s due %.3f via %s", row["kind"], row["op_id"], row["deliver_at"], result)
                confirmed.append(row["seq"])
        if confirmed:
            self.store.delete_outbox(confirmed)
            self.published += len(confirmed)
        return len(rows)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
