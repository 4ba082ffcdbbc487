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
    """`now()` is `offset + loop.time()`, so every LoopClock in one loop agrees (a core restarted in-process
    reads on from where the last one stopped).

    `epoch` given: the epoch time at loop time 0 (deterministic runs). Not given: wall time, anchored at
    the first reading (processes sharing a database then agree to within clock drift).
    """

    def __init__(self, epoch: float | None = None) -> None:
        self._offset: float | None = epoch

    def now(self) -> float:
        loop_now = asyncio.get_running_loop().time()
        if self._offset is None:
            self._offset = time.time() - loop_now
        return self._offset + loop_now


def seconds_until(clock: Clock, at: float) -> float:
    """How long to wait on the loop's clock for the epoch time `at` (never negative)."""
    return max(0.0, at - clock.now())
