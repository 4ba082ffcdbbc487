"""Which virtual numbers can take a new binding, kept sorted so that picking one costs the same with 40
numbers or 100,000.

The ledger's choice for a binding without an X: among the pool's unlocked numbers that can take it, the
requested city first, then the least-loaded number, then the earliest in the pool's order. This index
holds every owned, unlocked number in buckets by (pool key, who it can take, city) and, inside each,
by load then pool order; the ledger tells it whenever a number's load, lock, owner or XB/AXN occupancy
changes. Numbers excluded by shared parties (AXB/AXN conflicts) are skipped at pick time: there are as
many as the parties have bindings, not as many as the pool has numbers.
"""

from __future__ import annotations

import heapq
from typing import Iterable, NamedTuple

ANY_CITY = None


class _Slot(NamedTuple):
    pool_key: str
    city: str
    load: int
    takes_single: bool  # no XB or AXN binding on it: it can take one
    ordinal: int


class _Bucket:
    """Numbers of one load in one group: a set (membership) and a heap of pool positions (the first one).

    A removal only leaves the set; the heap's stale entries are dropped when they reach the top, or all at
    once when they outnumber the live ones, so every change costs O(log n) in C."""

    __slots__ = ("members", "heap")

    def __init__(self) -> None:
        self.members: dict[int, str] = {}  # ordinal -> x
        self.heap: list[int] = []

    def add(self, ordinal: int, x: str) -> None:
        self.members[ordinal] = x
        heapq.heappush(self.heap, ordinal)
        if len(self.heap) > 2 * len(self.members) + 64:
            self.heap = sorted(self.members)  # a sorted list is a heap

    def first(self, skip) -> str | None:
        """The earliest member not in `skip`: skipped ones are popped and pushed back (as many as are skipped)."""
        heap, members = self.heap, self.members
        put_back = []
        found = None
        while heap:
            ordinal = heap[0]
            x = members.get(ordinal)
            if x is None:
                heapq.heappop(heap)  # stale: left the bucket
            elif x in skip:
                put_back.append(heapq.heappop(heap))
            else:
                found = x
                break
        for ordinal in put_back:
            heapq.heappush(heap, ordinal)
        return found


class FreeNumbers:
    """Owned, unlocked numbers by pool key, city and load; `pick` answers the ledger's allocation rule."""

    def __init__(self) -> None:
        # (pool_key, single_only, city or ANY_CITY) -> load -> bucket
        self._buckets: dict[tuple[str, bool, str | None], dict[int, _Bucket]] = {}
        self._slots: dict[str, _Slot] = {}

    def clear(self) -> None:
        self._buckets.clear()
        self._slots.clear()

    def place(self, x: str, *, ordinal: int, pool_key: str | None, city: str, load: int, takes_single: bool,
              locked: bool) -> None:
        """Record `x`'s current state (pool_key None or locked: it can take nothing)."""
        slot = None if pool_key is None or locked else _Slot(pool_key, city, load, takes_single, ordinal)
        old = self._slots.get(x)
        if old == slot:
            return
        if old is not None:
            del self._slots[x]
            for key in self._keys(old):
                by_load = self._buckets[key]
                bucket = by_load[old.load]
                del bucket.members[old.ordinal]
                if not bucket.members:
                    del by_load[old.load]
        if slot is None:
            return
        self._slots[x] = slot
        for key in self._keys(slot):
            by_load = self._buckets.get(key)
            if by_load is None:
                by_load = self._buckets[key] = {}
            bucket = by_load.get(load)
            if bucket is None:
                bucket = by_load[load] = _Bucket()
            bucket.add(ordinal, x)

    def pick(self, pool_key: str, *, single: bool, city: str | None, excluded: Iterable[str] = ()) -> str | None:
        """The X for a new binding: `single` for XB/AXN (a number without one), `excluded` numbers skipped;
        the requested city first, then least load, then pool order. None: no number can take it."""
        skip = excluded if isinstance(excluded, (set, frozenset, dict)) else set(excluded)
        if city is not None:
            found = self._first(self._buckets.get((pool_key, single, city)), skip)
            if found is not None:
                return found
        return self._first(self._buckets.get((pool_key, single, ANY_CITY)), skip)

    @staticmethod
    def _first(by_load: dict[int, _Bucket] | None, skip) -> str | None:
        if not by_load:
            return None
        for load in sorted(by_load):
            found = by_load[load].first(skip)
            if found is not None:
                return found
        return None

    @staticmethod
    def _keys(slot: _Slot) -> tuple[tuple[str, bool, str | None], ...]:
        if slot.takes_single:
            return ((slot.pool_key, False, slot.city), (slot.pool_key, False, ANY_CITY),
                    (slot.pool_key, True, slot.city), (slot.pool_key, True, ANY_CITY))
        return (slot.pool_key, False, slot.city), (slot.pool_key, False, ANY_CITY)
