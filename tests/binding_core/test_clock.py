"""The core's clock: epoch seconds on the loop's clock, the same in every LoopClock of one loop."""

from __future__ import annotations

import asyncio

import pytest

from binding_core.clock import LoopClock, seconds_until

pytestmark = pytest.mark.looptime


async def test_a_clock_made_later_in_the_same_loop_reads_the_same_time():
    first = LoopClock(epoch=1_000_000.0)
    before = first.now()
    await asyncio.sleep(3600)  # an hour of virtual time passes (a crashed core's downtime)
    restarted = LoopClock(epoch=1_000_000.0)
    assert restarted.now() == pytest.approx(first.now())
    assert restarted.now() - before == pytest.approx(3600)
    assert seconds_until(restarted, before + 3605) == pytest.approx(5)


async def test_without_an_epoch_the_clock_is_wall_time():
    import time

    assert LoopClock().now() == pytest.approx(time.time(), abs=5)
