"""The durable retry queue's policy: when a failed operation is tried again, when it alerts, when it is dead.

The queue itself is the operations table (store.py): claims are compare-and-sets
with a lease, so two core processes never run one operation at once, and an
operation whose holder died becomes claimable when its lease runs out. This
module is the pure part: backoff (exponential, full jitter, from an injected
seeded generator), the attempt cap and the alert threshold.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from .config import RetrySettings


@dataclass(frozen=True)
class RetryDecision:
    """What to do after a failed attempt: retry after `delay`, or stop (dead-letter and settle)."""

    retry: bool
    delay: float
    alert: bool


class RetryPolicy:
    def __init__(self, settings: RetrySettings, rng: random.Random) -> None:
        self.settings = settings
        self.rng = rng

    def backoff(self, failed_attempts: int) -> float:
        """Full jitter: uniform in [0, min(max_delay, base_delay * 2**(n-1))] after the n-th failure."""
        ceiling = min(self.settings.max_delay, self.settings.base_delay * 2 ** max(0, failed_attempts - 1))
        return self.rng.uniform(0.0, ceiling)

    @property
    def alert_at(self) -> int:
        """The failed-attempt count that raises the operation's one alert (dead-lettering always alerts)."""
        return min(self.settings.alert_threshold, self.settings.max_attempts)

    def after_failure(self, failed_attempts: int) -> RetryDecision:
        """`failed_attempts` counts the attempt that just failed."""
        alert = failed_attempts >= self.alert_at
        if failed_attempts >= self.settings.max_attempts:
            return RetryDecision(retry=False, delay=0.0, alert=alert)
        return RetryDecision(retry=True, delay=self.backoff(failed_attempts), alert=alert)

    def settle_delay(self, tries: int) -> float:
        """Backoff between queries that settle a dead operation (these never stop: the row must not stay OPERATION)."""
        return self.backoff(min(tries, 30))
