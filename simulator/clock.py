"""The provider's clock: epoch seconds derived from the event loop's clock.

Everything that waits or expires reads this clock, never `time.time()`, so the
provider runs unchanged under virtual time (looptime) and in real time.
"""

from __future__ import annotations

import asyncio
import math
import time
from datetime import datetime, timezone
from typing import Callable

# The epoch a deterministic run starts at: 2026-01-01T00:00:00Z.
FIXED_EPOCH = 1767225600.0


class Clock:
    """`now()` is `epoch + (monotonic() - start)`: wall-like seconds that advance with the loop."""

    def __init__(self, monotonic: Callable[[], float] | None = None, epoch: float | None = None) -> None:
        self._monotonic = monotonic or _loop_time
        # Anchored on first use, so a clock made outside the loop reads the loop's time once inside it.
        self._start: float | None = None
        self.epoch = time.time() if epoch is None else epoch

    def now(self) -> float:
        t = self._monotonic()
        if self._start is None:
            self._start = t
        return self.epoch + (t - self._start)

    def monotonic(self) -> float:
        return self._monotonic()

    def isoformat(self, at: float | None = None) -> str:
        return iso(self.now() if at is None else at)


def iso(at: float) -> str:
    """RFC 3339 UTC with milliseconds, the native API's time format.

    The same string `datetime.fromtimestamp(at, timezone.utc).isoformat(timespec="milliseconds")` gives
    (microseconds rounded half-even, then cut to milliseconds), with the seconds part formatted once per
    second: every binding a response shows formats one or more times."""
    global _iso_second, _iso_prefix
    frac, whole = math.modf(at)
    micros = round(frac * 1e6)
    if micros >= 1_000_000:
        whole, micros = whole + 1, micros - 1_000_000
    elif micros < 0:
        whole, micros = whole - 1, micros + 1_000_000
    if whole != _iso_second:
        if not _ISO_RANGE[0] <= whole <= _ISO_RANGE[1]:
            return _iso_slow(at)
        _iso_prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
        _iso_second = whole
    return f"{_iso_prefix}.{micros // 1000:03d}Z"


def _iso_slow(at: float) -> str:
    return datetime.fromtimestamp(at, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# Years 1000..9999: four-digit years, where strftime and isoformat agree.
_ISO_RANGE = (-30610224000.0, 253402300799.0)
_iso_second = math.nan
_iso_prefix = ""


def _loop_time() -> float:
    loop = asyncio._get_running_loop()  # None outside a loop; cheaper than catching get_running_loop's error
    return time.monotonic() if loop is None else loop.time()


class ManualClock(Clock):
    """A clock tests move by hand (pure ledger tests, no event loop)."""

    def __init__(self, epoch: float = FIXED_EPOCH) -> None:
        self._t = 0.0
        super().__init__(monotonic=lambda: self._t, epoch=epoch)

    def advance(self, seconds: float) -> None:
        self._t += seconds
