"""A circuit breaker around any provider client: open after N consecutive failed calls, one probe after a cool-down.

A failed call is an `Unknown` outcome (timeout, 5xx, transport); a refusal is a
healthy answer, and so is an authentication refusal (`AuthFailed`): the provider
answers, it is our configuration that is wrong. `GuardedClient.auth_problem` keeps
the last one until the provider accepts a call again (/health shows it). While open, calls return `NotSent` at once. Time is the
injected clock's, so the cool-down passes in virtual time too.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Awaitable, Callable

from ..clock import Clock
from .base import AuthFailed, NotSent, Outcome, ProviderBinding, ProviderClient, Unknown

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


class CircuitBreaker:
    def __init__(self, clock: Clock, *, threshold: int, cooldown: float) -> None:
        self.clock = clock
        self.threshold = threshold
        self.cooldown = cooldown
        self.failures = 0
        self.opened_at: float | None = None
        self.trips = 0  # times the circuit went from closed to open
        self._probe_in_flight = False

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return CLOSED
        # A millisecond's slack: epoch-sized floats round, and a wake-up at retry_at() must find it half-open.
        if self.clock.now() - self.opened_at >= self.cooldown - 1e-3:
            return HALF_OPEN
        return OPEN

    def admit(self) -> bool:
        """May a call go out now? In half-open, exactly one probe is admitted until it reports back."""
        state = self.state
        if state == CLOSED:
            return True
        if state == HALF_OPEN and not self._probe_in_flight:
            self._probe_in_flight = True
            return True
        return False

    def record(self, failed: bool) -> None:
        self._probe_in_flight = False
        if not failed:
            self.failures = 0
            self.opened_at = None
            return
        self.failures += 1
        if self.opened_at is not None or self.failures >= self.threshold:
            if self.opened_at is None:
                self.trips += 1
            self.opened_at = self.clock.now()

    def retry_at(self) -> float | None:
        """When a probe will be admitted (None when closed)."""
        return None if self.opened_at is None else self.opened_at + self.cooldown


class GuardedClient:
    """A ProviderClient that asks the breaker before every call and reports every result to it."""

    def __init__(self, inner: ProviderClient, breaker: CircuitBreaker) -> None:
        self.inner = inner
        self.breaker = breaker
        # The provider's last refusal of our credentials (None once a call is accepted again).
        self.auth_problem: AuthFailed | None = None
        # For the harness's breaker check: when calls were refused unsent, and each admitted call's (start, end,
        # failed) in the order the breaker was told (clock time; a transport failure never reaches the provider).
        self.refused_at: deque[float] = deque(maxlen=10_000)
        self.outcomes: deque[tuple[float, float, bool]] = deque(maxlen=10_000)

    async def _guard(self, call: Callable[[], Awaitable[Any]]) -> Any:
        if not self.breaker.admit():
            self.refused_at.append(self.breaker.clock.now())
            return NotSent(f"circuit open after {self.breaker.failures} consecutive provider failures")
        started = self.breaker.clock.now()
        try:
            outcome = await call()
        except BaseException:
            self.breaker.record(failed=True)
            self.outcomes.append((started, self.breaker.clock.now(), True))
            raise
        self.breaker.record(failed=isinstance(outcome, Unknown))
        self.outcomes.append((started, self.breaker.clock.now(), isinstance(outcome, Unknown)))
        if isinstance(outcome, AuthFailed):
            self.auth_problem = outcome
        elif not isinstance(outcome, (Unknown, NotSent)):
            self.auth_problem = None  # answered on its merits: the credentials work
        return outcome

    async def create_binding(
        self, mode: str, x: str, b: str, a: str | None = None, *, idempotency_key: str
    ) -> Outcome[ProviderBinding]:
        return await self._guard(lambda: self.inner.create_binding(mode, x, b, a, idempotency_key=idempotency_key))

    async def find_bindings(
        self, mode: str, x: str, b: str | None = None, a: str | None = None
    ) -> Outcome[list[ProviderBinding]]:
        return await self._guard(lambda: self.inner.find_bindings(mode, x, b, a))

    async def get_binding(self, binding_id: str) -> Outcome[ProviderBinding | None]:
        return await self._guard(lambda: self.inner.get_binding(binding_id))

    async def delete_binding(self, binding_id: str, *, idempotency_key: str) -> Outcome[None]:
        return await self._guard(lambda: self.inner.delete_binding(binding_id, idempotency_key=idempotency_key))

    async def close(self) -> None:
        await self.inner.close()
