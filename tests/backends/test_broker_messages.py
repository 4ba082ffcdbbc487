"""The broker's pure parts, no server: the message format, which queue a due time goes to, what a consumer
does with a message whose claim found nothing or failed on the database, and the dead letter's delivery count."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from typing import Any, AsyncIterator

import pytest

from binding_core.broker.consumer import STORE_FAILURE_HOLD, SKEW, WorkConsumer, after_failed_claim, delivery_count
from binding_core.clock import LoopClock
from binding_core.storage import StoreUnavailable
from binding_core.broker.messages import MalformedMessage, WorkMessage, decode, routing_key
from binding_core.broker.connection import BrokerUnavailable
from binding_core.broker.publisher import PUBLISH_TIMEOUT, Publisher
from binding_core.records import Operation


def test_a_message_survives_the_wire_and_a_bad_body_is_named():
    message = WorkMessage("op_00000007", 1700000000.25, "dead", 6)
    assert decode(message.encode()) == message
    assert decode(b'{"op": "op_1", "at": 5}') == WorkMessage("op_1", 5.0, "run")
    for body, said in [(b"\xff", "not JSON"), (b"[]", "not a JSON object"), (b'{"at": 1}', "'op'"),
                       (b'{"op": "a", "at": true}', "'at'"), (b'{"op": "a", "at": 1, "kind": "x"}', "'kind'"),
                       (b'{"op": "a", "at": 1, "deliveries": "5"}', "'deliveries'")]:
        with pytest.raises(MalformedMessage, match=said):
            decode(body)


@pytest.mark.parametrize(("wait", "key"), [
    (-3.0, "work"), (0.0, "work"), (0.1, "work"), (0.25, "work"),  # due within a tier: the consumer holds it
    (0.26, "delay.250"), (0.9, "delay.250"),
    (1.0, "delay.1000"), (3.99, "delay.1000"), (4.0, "delay.4000"), (20.0, "delay.15000"),
    (60.0, "delay.60000"), (3600.0, "delay.60000"),  # longer than every tier: the largest, then again
])
def test_a_message_waits_in_the_largest_tier_that_does_not_overshoot(wait, key):
    assert routing_key(1000.0 + wait, 1000.0) == key


OP = Operation(id="op_1", x="18800000001", mode="XB", kind="bind", a=None, b="13800000001", binding_id=None,
               path="async", phase="call", state="pending", version=1, attempts=1, claims=1,
               next_attempt_at=100.0, lease_owner=None, lease_until=None, outcome=None, last_error=None,
               alerted=False, created_at=90.0, finished_at=None)


def test_a_message_that_found_nothing_to_claim_is_dropped_unless_it_came_early_for_its_operation():
    assert after_failed_claim(None, 100.0) is None  # unknown operation
    for state in ("done", "dead"):
        assert after_failed_claim(dataclasses.replace(OP, state=state), 100.0) is None
    # due at 100: a message for 99.5 is this operation's, early (another replica's clock): again at 100
    assert after_failed_claim(OP, 100.0 - SKEW / 2) == 100.0
    assert after_failed_claim(OP, 90.0) is None  # an older message: the one for 100 exists
    running = dataclasses.replace(OP, state="running", lease_owner="w", lease_until=110.0)
    assert after_failed_claim(running, 109.9) == 110.0  # the holder's watchdog, a little early
    assert after_failed_claim(running, 100.0) is None  # held by a live lease: its watchdog exists


def test_a_dead_letter_counts_the_deliveries_the_limit_allowed():
    death = {"x-death": [{"count": 1, "reason": "delivery_limit", "queue": "ns.work"}]}
    assert delivery_count(death, 5) == 6
    assert delivery_count({"x-death": [{"count": 1, "reason": "rejected"}]}, 5) is None
    assert delivery_count(None, 5) is None


class _Message:
    """A delivered message as the consumer sees it: a body, and ack/nack/reject recorded with the loop's time."""

    def __init__(self, body: bytes) -> None:
        self.body, self.message_id, self.headers = body, "m1", {}
        self.settled: list[tuple[str, bool | None, float]] = []

    def _record(self, what: str, requeue: bool | None = None) -> Any:
        async def settle() -> None:
            self.settled.append((what, requeue, asyncio.get_running_loop().time()))
        return settle()

    def ack(self) -> Any:
        return self._record("ack")

    def nack(self, requeue: bool = True) -> Any:
        return self._record("nack", requeue)

    def reject(self, requeue: bool = False) -> Any:
        return self._record("reject", requeue)


class _DatabaseDown:
    """A worker whose every claim fails on the database."""

    def __init__(self) -> None:
        self.claims = 0

    async def run_delivered(self, op_id: str) -> None:
        self.claims += 1
        raise StoreUnavailable("connection refused")


@pytest.mark.looptime
async def test_a_message_whose_claim_failed_on_the_database_goes_back_only_after_a_hold():
    # Returned at once it would come straight back: a database down for milliseconds would use up its deliveries.
    worker = _DatabaseDown()
    consumer = WorkConsumer(worker, publisher=None, clock=LoopClock(), delivery_limit=5)  # type: ignore[arg-type]
    message = _Message(WorkMessage("op_00000001", 0.0).encode())
    started = asyncio.get_running_loop().time()
    await consumer.on_message(message)
    [(what, requeue, at)] = message.settled
    assert (what, requeue, worker.claims) == ("nack", True, 1)
    assert at - started >= STORE_FAILURE_HOLD  # virtual seconds: held, not returned at once


class _ConnectionDiedUnderTheWrite:
    """An exchange whose publish waits forever for its frame to be written, ignoring its own timeout: what a
    publish queued on a connection that dies before writing it does."""

    def __init__(self) -> None:
        self.closed = False
        self.entered = asyncio.Event()
        self.released = asyncio.Event()  # set by the test at its end, so the loop can close

    async def publish(self, message: Any, routing_key: str, *, timeout: float) -> None:
        self.entered.set()
        while not self.released.is_set():  # not even cancelling ends it, as on a dead aiormq 6.9 connection
            with contextlib.suppress(asyncio.CancelledError):
                await self.released.wait()

    async def close(self) -> None:
        self.closed = True


@contextlib.asynccontextmanager
async def publish_that_hangs() -> AsyncIterator[tuple[_ConnectionDiedUnderTheWrite, Publisher, asyncio.Future[str]]]:
    """A publish under way on an exchange that never writes it; released at the end so the loop can close."""
    channel = _ConnectionDiedUnderTheWrite()
    publisher = Publisher(None, LoopClock())
    publisher.attach(channel, channel)
    publish = asyncio.ensure_future(publisher.publish(WorkMessage("op_00000001", 0.0), timeout=PUBLISH_TIMEOUT))
    try:
        await channel.entered.wait()
        yield channel, publisher, publish
    finally:
        channel.released.set()


async def ended(publish: asyncio.Future[str]) -> asyncio.Future[str]:
    done, _ = await asyncio.wait({publish}, timeout=3 * PUBLISH_TIMEOUT)  # virtual seconds
    assert done, "the publish was still waiting three timeouts later"
    return publish


@pytest.mark.looptime
async def test_a_publish_that_hangs_under_the_library_times_out_and_gives_up_its_channel():
    started = asyncio.get_running_loop().time()
    async with publish_that_hangs() as (_, publisher, publish):
        with pytest.raises(asyncio.TimeoutError):
            (await ended(publish)).result()
        assert asyncio.get_running_loop().time() - started == pytest.approx(PUBLISH_TIMEOUT)
        assert not publisher.ready  # nothing more goes out on that channel: the link opens a new session


@pytest.mark.looptime
async def test_a_publish_waiting_on_a_session_the_link_dropped_fails_at_once():
    # Its row is then published again on the new session once the relay's lease on it runs out.
    started = asyncio.get_running_loop().time()
    async with publish_that_hangs() as (_, publisher, publish):
        publisher.detach()
        with pytest.raises(BrokerUnavailable, match="lost before the publish was confirmed"):
            (await ended(publish)).result()
        assert asyncio.get_running_loop().time() == started  # not a virtual second waited


class _ConfirmTimesOut(_ConnectionDiedUnderTheWrite):
    """An exchange whose own confirm timeout fires (aio-pika raises asyncio.TimeoutError from the publish)."""

    async def publish(self, message: Any, routing_key: str, *, timeout: float) -> None:
        raise asyncio.TimeoutError  # the library's countdown ran out before ours


@pytest.mark.looptime
async def test_a_confirm_timeout_raised_by_the_library_also_gives_up_its_channel():
    channel = _ConfirmTimesOut()
    publisher = Publisher(None, LoopClock())
    publisher.attach(channel, channel)
    with pytest.raises(asyncio.TimeoutError):
        await publisher.publish(WorkMessage("op_00000001", 0.0), timeout=PUBLISH_TIMEOUT)
    assert not publisher.ready  # a confirm channel that timed out once times out for good: the link reconnects
