"""How long a scenario's search may go on: a wall-clock budget, and the end of shrinking.

Hypothesis has no "stop at this time" setting, so the machine asks the budget
before each example starts. While no example has failed, a spent budget ends
the search (`StopSearch`, which Hypothesis lets through); once one has failed
and its shrinking time is over, later examples only draw their steps and pass at
once (machine.py, "dry"), so the shrinker keeps the smallest failing example
found so far and finishes quickly. Shrinking always ends well before
Hypothesis's own five-minute limit (and its warning).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

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
