"""Calls into the broker library that may never end, even when cancelled (a frame queued on a dead aiormq
connection): the core gives up on them after a bound instead of hanging its stop, its reconnect or a consumer."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from binding_core.broker.bounded import finished_within
from binding_core.broker.consumer import SETTLE_TIMEOUT, WorkConsumer
from binding_core.clock import LoopClock

pytestmark = pytest.mark.looptime


class Stuck:
    """A call that ignores cancellation until the test releases it (so the loop can close)."""

    def __init__(self) -> None:
        self.released = asyncio.Event()

    async def call(self) -> None:
        while not self.released.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await self.released.wait()


async def test_a_call_that_ignores_cancellation_is_left_after_the_bound():
    stuck = Stuck()
    started = asyncio.get_running_loop().time()
    try:
        done = asyncio.ensure_future(finished_within(stuck.call(), 2.0))
        finished, _ = await asyncio.wait({done}, timeout=60.0)
        assert finished, "finished_within waited for a call that would not end"
        assert done.result() is False
        assert asyncio.get_running_loop().time() - started == pytest.approx(2.0)
    finally:
        stuck.released.set()


async def test_a_call_that_ends_in_time_says_so_and_its_error_comes_through():
    async def fails() -> None:
        raise ConnectionResetError("channel closed")

    async def ends() -> str:
        return "ok"

    assert await finished_within(ends(), 2.0) is True
    with pytest.raises(ConnectionResetError, match="channel closed"):
        await finished_within(fails(), 2.0)


class _StuckReject:
    """A malformed message (rejected at once) whose reject never gets written."""

    def __init__(self, stuck: Stuck) -> None:
        self.body, self.message_id, self.headers = b"not json", "m1", {}
        self.stuck = stuck

    def reject(self, requeue: bool = False) -> object:
        return self.stuck.call()


async def test_a_consumer_whose_reject_is_never_written_goes_on_after_the_settle_timeout():
    stuck = Stuck()
    consumer = WorkConsumer(worker=None, publisher=None, clock=LoopClock(), delivery_limit=5)  # type: ignore[arg-type]
    started = asyncio.get_running_loop().time()
    try:
        handling = asyncio.ensure_future(consumer.on_message(_StuckReject(stuck)))
        finished, _ = await asyncio.wait({handling}, timeout=60.0)
        assert finished, "the consumer still waited on its reject"
        handling.result()
        assert asyncio.get_running_loop().time() - started == pytest.approx(SETTLE_TIMEOUT)
    finally:
        stuck.released.set()
