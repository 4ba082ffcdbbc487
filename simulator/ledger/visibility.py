"""Delayed visibility (the ghost-failure fault): for a while after a change, queries show the binding as it
was before, or not at all. The fault engine sets the delay for one request; the ledger keeps the shadows."""

from __future__ import annotations

import contextvars
from dataclasses import dataclass

from ..clock import Clock
from .records import Binding

# Set by the fault engine for the duration of one request: changes it applies
# stay invisible to queries (or deleted bindings stay visible) for this long.
visibility_delay: contextvars.ContextVar[float] = contextvars.ContextVar("visibility_delay", default=0.0)


@dataclass
class Shadow:
    """What queries show instead of the truth until `until` (None: the binding is not visible)."""

    snapshot: Binding | None
    until: float


class Shadows:
    """binding id -> its shadow while one lasts."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._shadows: dict[str, Shadow] = {}

    def __contains__(self, binding_id: str) -> bool:
        return binding_id in self._shadows

    def cast(self, binding_id: str, snapshot: Binding | None) -> None:
        """After a change: under a visibility delay, queries see `snapshot` for that long; else the truth."""
        delay = visibility_delay.get()
        if delay > 0:
            self._shadows[binding_id] = Shadow(snapshot, self._clock.now() + delay)
        else:
            self._shadows.pop(binding_id, None)

    def queried(self, binding_id: str, truth: Binding | None) -> Binding | None:
        """What a query shows of this binding now (a shadow that is over is dropped)."""
        shadow = self._shadows.get(binding_id)
        if shadow is None:
            return truth
        if self._clock.now() >= shadow.until:
            del self._shadows[binding_id]
            return truth
        return shadow.snapshot

    def forget(self, binding_id: str) -> None:
        self._shadows.pop(binding_id, None)
