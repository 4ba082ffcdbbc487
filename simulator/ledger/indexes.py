"""The ledger's indexes over its bindings, kept up to date on every change so that a request costs
O(bindings on one X) however long a run gets and however large the pool is."""

from __future__ import annotations

from ..numbers import Number
from .pool_index import FreeNumbers
from .records import PARTY_MODES, SINGLE_MODES, Binding


class BindingIndexes:
    """- `live`: ids not released (or released but still shadowed), in creation order;
    - `ids_by_x`: the same per X; `active_by_x`: active ids per X, in creation order;
    - `singles`: XB/AXN bindings on each X; `party_xs`: the X's each AXB/AXN party is on (with counts);
    - `free`: what each owned number can take, for allocation without a scan (pool_index.py)."""

    def __init__(self, numbers: dict[str, Number], ordinal: dict[str, int]) -> None:
        self._numbers = numbers  # the ledger's own dicts, shared: numbers bought or added show up here
        self._ordinal = ordinal
        self.live: dict[str, None] = {}
        self.ids_by_x: dict[str, list[str]] = {}
        self.active_by_x: dict[str, dict[str, None]] = {}
        self.singles: dict[str, int] = {}
        self.party_xs: dict[str, dict[str, int]] = {}
        self.free = FreeNumbers()
        for x in numbers:
            self.refresh(x)

    def refresh(self, x: str) -> None:
        """Tell the allocation index what `x` can take now."""
        num = self._numbers.get(x)
        if num is None:
            return
        self.free.place(x, ordinal=self._ordinal[x], pool_key=num.pool_key, city=num.city,
                        load=len(self.active_by_x.get(x, ())), takes_single=not self.singles.get(x),
                        locked=num.locked)

    def added(self, binding: Binding) -> None:
        """A new binding (created or restored) becomes live; `activated` follows."""
        self.live[binding.binding_id] = None
        self.ids_by_x.setdefault(binding.x, []).append(binding.binding_id)

    def activated(self, binding: Binding) -> None:
        x = binding.x
        self.active_by_x.setdefault(x, {})[binding.binding_id] = None
        if binding.mode in SINGLE_MODES:
            self.singles[x] = self.singles.get(x, 0) + 1
        self.index_parties(binding)
        self.refresh(x)

    def index_parties(self, binding: Binding) -> None:
        if binding.mode in PARTY_MODES:
            for party in binding.numbers():
                on = self.party_xs.setdefault(party, {})
                on[binding.x] = on.get(binding.x, 0) + 1

    def unindex_parties(self, binding: Binding) -> None:
        if binding.mode in PARTY_MODES:
            for party in binding.numbers():
                on = self.party_xs[party]
                on[binding.x] -= 1
                if not on[binding.x]:
                    del on[binding.x]
                    if not on:
                        del self.party_xs[party]

    def deactivated(self, binding: Binding) -> None:
        """The binding ended (released or expired): it no longer counts on its X."""
        x = binding.x
        active = self.active_by_x.get(x)
        if active is None or binding.binding_id not in active:
            return  # not counted (already ended)
        del active[binding.binding_id]
        if not active:
            del self.active_by_x[x]
        if binding.mode in SINGLE_MODES:
            self.singles[x] -= 1
            if not self.singles[x]:
                del self.singles[x]
        self.unindex_parties(binding)
        self.refresh(x)

    def released(self, binding: Binding) -> None:
        """A released binding (its delayed-visibility shadow over, if it had one) leaves the live indexes."""
        self.live.pop(binding.binding_id, None)
        ids = self.ids_by_x.get(binding.x)
        if ids and binding.binding_id in ids:
            ids.remove(binding.binding_id)

    def forgotten(self, binding: Binding) -> None:
        """An ended binding past the history limit leaves every index."""
        self.released(binding)
        ids = self.ids_by_x.get(binding.x)
        if ids is not None and not ids:
            del self.ids_by_x[binding.x]
