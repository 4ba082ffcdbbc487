"""The core's clock: epoch seconds that advance with the event loop's clock.

Stored times (next attempt, lease expiry, transitions) are epoch seconds so that
two processes on one database, or a restarted process, compare them; waiting
uses the loop's clock, so the core runs unchanged under virtual time (looptime).
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float: ...


class LoopClock:
    """`now()` is `epoch + loop.time()`; the epoch is fixed at the first reading (wall time then, or given)."""

    def __init__(self, epoch: float | None = None) -> None:
        self._epoch = epoch
        self._offset: float | None = None

    def now(self) -> float:
        loop_now = asyncio.get_running_loop().time()
        if self._offset is None:
            start = time.time() if self._epoch is None else self._epoch
            self._offset = start - loop_now
        return self._offset + loop_now


def seconds_until(clock: Clock, at: float) -> float:
    """How long to wait on the loop's clock for the epoch time `at` (never negative)."""
    return max(0.0, at - clock.now())
