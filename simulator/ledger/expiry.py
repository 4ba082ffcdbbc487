"""When bindings expire: a heap of (expires_at, binding id), stale entries (deleted, re-timed bindings)
skipped when they surface and dropped in bulk when they pile up."""

from __future__ import annotations

import heapq
from typing import Callable

MIN_COMPACT_AT = 1024


class ExpiryQueue:
    def __init__(self, still_due: Callable[[float, str], bool]) -> None:
        """`still_due(at, binding_id)`: the binding is active and still expires at `at`."""
        self._heap: list[tuple[float, str]] = []
        self._still_due = still_due
        self._compact_at = MIN_COMPACT_AT

    def __bool__(self) -> bool:
        return bool(self._heap)

    def watch(self, expires_at: float, binding_id: str) -> None:
        heap = self._heap
        heapq.heappush(heap, (expires_at, binding_id))
        if len(heap) > self._compact_at:  # deleted bindings' entries: drop them now and then
            heap[:] = [entry for entry in heap if self._still_due(*entry)]
            heapq.heapify(heap)
            self._compact_at = max(MIN_COMPACT_AT, 2 * len(heap))

    def first_at(self) -> float | None:
        """The earliest time in the queue (stale entries included): a cheap "nothing due yet" test."""
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: float) -> list[str]:
        """Ids whose time has come (stale ones skipped), in creation order (ids are sequential)."""
        heap = self._heap
        due: set[str] = set()
        while heap and heap[0][0] <= now:
            at, binding_id = heapq.heappop(heap)
            if self._still_due(at, binding_id):
                due.add(binding_id)
        return sorted(due)

    def next_at(self) -> float | None:
        """The next real expiry (stale entries at the top dropped)."""
        heap = self._heap
        while heap and not self._still_due(*heap[0]):
            heapq.heappop(heap)
        return heap[0][0] if heap else None
