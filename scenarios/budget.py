"""How long a scenario's search may go on: a wall-clock budget, and the end of shrinking.

Hypothesis has no "stop at this time" setting, so the machine asks the budget
before each example starts. While no example has failed, a spent budget ends
the search (`StopSearch`, which Hypothesis lets through); once one has failed
and its shrinking time is over, later examples only draw their steps and pass at
once (machine.py, "dry"), so the shrinker keeps the smallest failing example
found so far and finishes quickly. Shrinking always ends well before
Hypothesis's own five-minute limit (and its warning).

In-process, each single wait of an example (a step, a settle) is bounded in
real time too (`run_guarded`): virtual time passes only while the loop idles,
so a service that keeps the loop busy stops the clock and no virtual deadline
ever comes. The machine reports such a wait as a service not going quiet.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, TypeVar

from .scenario_file import ScenarioError

T = TypeVar("T")

# Shrinking stops this long after the first failure at the latest (Hypothesis gives up at 300 s, with a warning).
MAX_SHRINK_SECONDS = 240.0


class StopSearch(KeyboardInterrupt):
    """No failure found and no time (or numbers) left: the scenario ends with what ran. A KeyboardInterrupt, the
    one exception Hypothesis lets through untouched (neither a failing example nor recorded in its search tree)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class SearchBudget:
    """`seconds`: the scenario's share of `--time-budget` (None: only the example count bounds the search).
    Shrinking gets as long again as the share, at most MAX_SHRINK_SECONDS."""

    seconds: float | None = None
    started: float = 0.0
    failed_at: float | None = None
    stopped: str = ""  # why the search ended early ("" if it did not)
    # Examples begun: a budget spent before the first one (a slow start on a crowded machine) still lets one run,
    # so a run under any budget checks something instead of ending vacuous.
    examples_begun: int = 0

    def start(self) -> None:
        self.started = time.perf_counter()
        self.failed_at = None
        self.stopped = ""
        self.examples_begun = 0

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def remaining(self) -> float | None:
        return None if self.seconds is None else max(0.0, self.seconds - self.elapsed())

    def shrink_deadline(self) -> float | None:
        if self.failed_at is None:
            return None
        return self.failed_at + min(self.seconds if self.seconds is not None else MAX_SHRINK_SECONDS, MAX_SHRINK_SECONDS)

    def before_example(self) -> bool:
        """Whether this example should only draw (shrinking is over); raises StopSearch once the search's time
        is spent. Hypothesis's final run of the failing example (and a --replay) always runs for real."""
        now = time.perf_counter()
        if self.failed_at is None:
            if self.seconds is not None and self.examples_begun and now - self.started >= self.seconds:
                self.stop(f"its {self.seconds:.1f} s of the time budget were spent")
            self.examples_begun += 1
            return False
        return now >= (self.shrink_deadline() or now + 1) and not _final_run()

    def stop(self, reason: str) -> None:
        """End the search here (StopSearch) while searching; while shrinking, nothing (the example runs dry)."""
        if self.failed_at is None:
            self.stopped = reason
            raise StopSearch(reason)

    def failure(self) -> None:
        if self.failed_at is None:
            self.failed_at = time.perf_counter()


def _final_run() -> bool:
    """Whether Hypothesis is running its final, reported example (rejecting it would lose the failure)."""
    from hypothesis.control import _current_build_context

    context = _current_build_context.value
    return bool(context is not None and getattr(context, "is_final", False))


# ---- the wall-clock guard on one harness wait ------------------------------------------------------------------

# Real seconds one in-process harness wait (a step, a settle) may take before the service counts as not going
# quiet. Virtual time passes only while the loop is idle: a core that keeps it busy (a retry loop that never
# sleeps) slows the clock to a crawl, so no virtual deadline comes. The longest real wait of the bundled suite at
# seeds 7, 8 and 9 was under 2 s on a busy 2-core machine; this leaves more than ten times that.
DEFAULT_WALL_GUARD = 30.0
WALL_GUARD_ENV = "PSTNSIM_WALL_GUARD"
# After the guard cancels a wait that will not end (it swallows the cancellation), this long more, then the loop
# is stopped under it.
CANCEL_GRACE = 5.0


class BadWallGuard(ScenarioError):
    """A wall-clock guard that is not 0 or a positive number of seconds (the CLI exits 2 with the message)."""


def wall_guard_seconds(value: float | None = None) -> float | None:
    """The guard in force: `value` if given, else $PSTNSIM_WALL_GUARD, else DEFAULT_WALL_GUARD; 0 turns it off
    (None)."""
    if value is None:
        text = os.environ.get(WALL_GUARD_ENV, "").strip()
        try:
            value = float(text) if text else DEFAULT_WALL_GUARD
        except ValueError:
            raise BadWallGuard(f"{WALL_GUARD_ENV}={text!r} is not a number of seconds") from None
    if not value >= 0 or value == float("inf"):
        raise BadWallGuard(f"the wall-clock guard must be 0 (off) or a positive number of seconds, not {value:g}")
    return value or None


class WallGuardExpired(Exception):
    """A harness wait went on for `seconds` of real time and was cancelled (not an error of the harness: the
    service kept the loop busy, or never went quiet)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"still waiting after {seconds:g} s of real time")
        self.seconds = seconds


class _Watchdog:
    """One daemon thread holding every guard's timer: a threading.Timer per wait started a thread each time
    (hundreds per scenario), about a tenth of an in-process run's wall time."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._timers: dict[int, tuple[float, Callable[[], Any]]] = {}
        self._tokens = itertools.count()
        self._thread: threading.Thread | None = None

    def call_after(self, seconds: float, callback: Callable[[], Any]) -> int:
        """Call `callback` on the watchdog's thread after `seconds` of real time; a token for `cancel`."""
        with self._cond:
            token = next(self._tokens)
            self._timers[token] = (time.monotonic() + seconds, callback)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="pstnsim-wall-guard", daemon=True)
                self._thread.start()
            self._cond.notify()
        return token

    def cancel(self, token: int) -> None:
        with self._cond:
            self._timers.pop(token, None)

    def _run(self) -> None:
        while True:
            with self._cond:
                now = time.monotonic()
                due = [token for token, (at, _) in self._timers.items() if at <= now]
                callbacks = [self._timers.pop(token)[1] for token in due]
                if not callbacks:
                    soonest = min((at for at, _ in self._timers.values()), default=None)
                    self._cond.wait(None if soonest is None else soonest - now)
                    continue
            for callback in callbacks:
                callback()


_WATCHDOG = _Watchdog()


def run_guarded(loop: asyncio.AbstractEventLoop, work: Awaitable[T], seconds: float | None,
                grace: float = CANCEL_GRACE) -> T:
    """Run `work` to its end on `loop`; after `seconds` of real time (None: no bound) cancel it and raise
    WallGuardExpired. The timer is a thread: a callback on the loop itself would run on virtual time (which a busy
    loop stops) and keep a looptime loop from ever idling."""
    task = asyncio.ensure_future(work, loop=loop)
    if seconds is None:
        try:
            return loop.run_until_complete(task)
        finally:
            _abandon_if_pending(task)
    fired = threading.Event()

    def on_loop(callback: Callable[[], Any]) -> None:
        try:
            loop.call_soon_threadsafe(callback)
        except RuntimeError:  # the loop closed meanwhile: nothing left to stop
            pass

    def start(after: float, callback: Callable[[], None]) -> None:
        timers.append(_WATCHDOG.call_after(after, callback))

    def stop_loop() -> None:  # on the loop's thread: never stops a later run_until_complete
        if not finished:
            loop.stop()

    def expire() -> None:
        fired.set()
        on_loop(task.cancel)
        start(grace, lambda: on_loop(stop_loop))

    finished = False
    timers: list[int] = []
    start(seconds, expire)
    try:
        return loop.run_until_complete(task)
    except asyncio.CancelledError:
        if fired.is_set():
            raise WallGuardExpired(seconds) from None
        raise
    except RuntimeError:
        if fired.is_set() and not task.done():  # the loop was stopped under a wait that ignored its cancellation
            raise WallGuardExpired(seconds) from None
        raise
    finally:
        finished = True
        for token in list(timers):
            _WATCHDOG.cancel(token)
        _abandon_if_pending(task)


def _abandon_if_pending(task: asyncio.Future[Any]) -> None:
    """Work left unfinished (Ctrl-C, a stopped loop) is cancelled, and its outcome retrieved: a later run of the
    loop (a teardown) would otherwise resume it against closed clients, and asyncio would print its error as a
    "Task exception was never retrieved" traceback."""
    if not task.done():
        task.cancel()
        task.add_done_callback(_retrieve)


def _retrieve(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()
