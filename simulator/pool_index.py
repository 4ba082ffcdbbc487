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

from typing import Iterable, NamedTuple

from sortedcontainers import SortedList

ANY_CITY = None


class _Slot(NamedTuple):
    pool_key: str
    city: str
    load: int
    takes_single: bool  # no XB or AXN binding on it: it can take one
    ordinal: int


class FreeNumbers:
    """Owned, unlocked numbers by pool key, city and load; `pick` answers the ledger's allocation rule."""

    def __init__(self) -> None:
        # (pool_key, single_only, city or ANY_CITY) -> load -> sorted (ordinal, x)
        self._buckets: dict[tuple[str, bool, str | None], dict[int, SortedList]] = {}
        self._slots: dict[str, _Slot] = {}

    def clear(self) -> None:
        self._buckets.clear()
        self._slots.clear()

    def place(self, x: str, *, ordinal: int, pool_key: str | None, city: str, load: int, takes_single: bool,
              locked: bool) -> None:
        """Record `x`'s current state (pool_key None or locked: it can take nothing)."""
        old = self._slots.pop(x, None)
        if old is not None:
            for key in self._keys(old):
                self._remove(key, old.load, (old.ordinal, x))
        if pool_key is None or locked:
            return
        slot = _Slot(pool_key, city, load, takes_single, ordinal)
        self._slots[x] = slot
        for key in self._keys(slot):
            self._buckets.setdefault(key, {}).setdefault(load, SortedList()).add((ordinal, x))

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
    def _first(by_load: dict[int, SortedList] | None, skip) -> str | None:
        if not by_load:
            return None
        for load in sorted(by_load):
            for _, x in by_load[load]:
                if x not in skip:
                    return x
        return None

    @staticmethod
    def _keys(slot: _Slot) -> list[tuple[str, bool, str | None]]:
        keys = [(slot.pool_key, False, slot.city), (slot.pool_key, False, ANY_CITY)]
        if slot.takes_single:
            keys += [(slot.pool_key, True, slot.city), (slot.pool_key, True, ANY_CITY)]
        return keys

    def _remove(self, key: tuple[str, bool, str | None], load: int, entry: tuple[int, str]) -> None:
        by_load = self._buckets[key]
        entries = by_load[load]
        entries.remove(entry)
        if not entries:
            del by_load[load]
            if not by_load:
                del self._buckets[key]
