"""`Ledger`: the provider's ground truth (numbers, bindings, calls); every state change goes through it.

No HTTP here and no randomness: dialects parse their wire format and call these methods; the fault engine
only decides *whether* a call reaches them and what the client sees. Time comes from the injected `Clock`,
so expiry works the same under virtual time. The rules a binding must follow and where a call goes are in
rules.py; the indexes that keep every request cheap in indexes.py and pool_index.py.
"""

from __future__ import annotations

import contextlib
import copy
from collections import deque
from typing import Any, Callable, Iterable, Iterator

from ..clock import Clock
from ..errors import (
    BindConflict,
    BindingNotFound,
    ExpiryIllegal,
    InvalidArgument,
    NoAvailableNumber,
    NumberInUse,
    NumberNotFound,
)
from ..numbers import DEFAULT_POOL_KEY, Number, PoolSpec, normalize
from . import rules
from .expiry import ExpiryQueue
from .indexes import BindingIndexes
from .records import MODES, PARTY_MODES, SINGLE_MODES, Binding, CallRecord, LedgerEvent
from .visibility import Shadows, visibility_delay

# How many ended (released or expired) bindings, and how many call records, the ledger keeps: the oldest
# go first, so a long soak's memory stays flat. `?released=true`, the harness and traces see these.
HISTORY_LIMIT = 20_000


class Ledger:
    def __init__(self, clock: Clock, pool: PoolSpec | None = None, *, history_limit: int = HISTORY_LIMIT) -> None:
        self.clock = clock
        self.pool_spec = pool or PoolSpec()
        self.history_limit = history_limit
        self._listeners: list[Callable[[LedgerEvent], None]] = []
        self._reset_hooks: list[Callable[[], None]] = []
        self.reset()

    # ---- lifecycle -------------------------------------------------------

    def reset(self) -> None:
        """Back to the seeded initial state: the same pool, no bindings, no calls, counters at zero."""
        self._numbers: dict[str, Number] = {n.x: n for n in self.pool_spec.build()}
        self._ordinal: dict[str, int] = {x: i for i, x in enumerate(self._numbers)}
        # Every binding still known: live ones and the last `history_limit` ended ones, in creation order.
        self._bindings: dict[str, Binding] = {}
        self._index = BindingIndexes(self._numbers, self._ordinal)
        self._expiry = ExpiryQueue(self._still_due)
        self._ended: deque[Binding] = deque()
        self._shadows = Shadows(self.clock)
        self._calls: deque[CallRecord] = deque()
        self._calls_by_id: dict[str, CallRecord] = {}
        self._next_binding = 1
        self._next_call = 1
        for hook in self._reset_hooks:
            hook()

    def on_reset(self, hook: Callable[[], None]) -> None:
        """Call `hook` after every reset: state kept beside the ledger (idempotency keys) goes with it."""
        self._reset_hooks.append(hook)

    def subscribe(self, listener: Callable[[LedgerEvent], None]) -> None:
        self._listeners.append(listener)

    def _emit(self, kind: str, payload: dict[str, Any]) -> None:
        event = LedgerEvent(kind=kind, at=self.clock.now(), payload=payload)
        for listener in self._listeners:
            listener(event)

    # ---- numbers ---------------------------------------------------------

    def numbers(self, pool_key: str | None = DEFAULT_POOL_KEY, city: str | None = None) -> list[Number]:
        """Numbers owned by `pool_key` (all owned numbers if None), optionally in one city."""
        return [
            n
            for n in self._numbers.values()
            if n.pool_key is not None
            and (pool_key is None or n.pool_key == pool_key)
            and (city is None or n.city == city)
        ]

    def stock(self, city: str | None = None, prefix: str = "") -> list[Number]:
        """Numbers nobody has bought yet."""
        return [
            n
            for n in self._numbers.values()
            if n.pool_key is None and (city is None or n.city == city) and n.x.startswith(prefix)
        ]

    def number(self, x: str, pool_key: str | None = None) -> Number:
        num = self._numbers.get(x)
        if num is None or num.pool_key is None or (pool_key is not None and num.pool_key != pool_key):
            raise NumberNotFound(f"virtual number {x} is not in pool {pool_key or 'any'}", x=x)
        return num

    def buy_number(self, pool_key: str, city: str, prefix: str = "") -> Number:
        candidates = self.stock(city, prefix)
        if not candidates:
            raise NoAvailableNumber(f"no number left in stock for city {city!r} with prefix {prefix!r}")
        num = candidates[0]
        num.pool_key = pool_key
        num.purchased_at = self.clock.now()
        self._index.refresh(num.x)
        return num

    def release_number(self, pool_key: str, x: str) -> Number:
        num = self.number(x, pool_key)
        if self.bindings(x=x):
            raise NumberInUse(f"virtual number {x} still has active bindings", x=x)
        num.pool_key, num.locked, num.purchased_at = None, False, None
        self._index.refresh(x)
        return num

    def set_locked(self, pool_key: str, x: str, locked: bool) -> Number:
        num = self.number(x, pool_key)
        num.locked = locked
        self._index.refresh(num.x)
        return num

    def number_status(self, x: str) -> str:
        """"locked", "bound" or "free" (Aliyun's SecretStatus 2, 1, 0)."""
        num = self.number(x)
        if num.locked:
            return "locked"
        return "bound" if self.bindings(x=x) else "free"

    # ---- restoring what a record shows (trace replay) ----------------------

    def own_number(self, x: str, pool_key: str, city: str = "Unknown") -> Number:
        """Put `x` in `pool_key`, adding it to the provider's numbers if it has no such number."""
        x = normalize(x, "x")
        num = self._numbers.setdefault(x, Number(x=x, city=city, pool_key=pool_key))
        self._ordinal.setdefault(x, len(self._ordinal))
        if num.pool_key is None:
            num.pool_key = pool_key
        self._index.refresh(x)
        return num

    def restore_binding(self, binding_id: str, mode: str, x: str, *, a: str | None = None, b: str | None = None,
                        pool_key: str = DEFAULT_POOL_KEY, expires_at: float | None = None,
                        extra: dict[str, Any] | None = None) -> Binding:
        """The binding a record shows, with its own id and X, without conflict checks (the record is the truth).
        An id that is already active is left as it is and returned."""
        found = self._bindings.get(binding_id)
        if found is not None and found.status == "active":
            return found
        x = self.own_number(x, pool_key).x
        binding = Binding(binding_id=binding_id, mode=mode, x=x, a=a, b=b, pool_key=pool_key,
                          created_at=self.clock.now(), expires_at=expires_at, extra=dict(extra or {}))
        self._bindings[binding_id] = binding
        self._index.added(binding)
        self._index.activated(binding)
        self._watch_expiry(binding)
        self.reserve_binding_ids([binding_id])
        return binding

    def reserve_binding_ids(self, binding_ids: Iterable[str]) -> None:
        """Ids this ledger hands out from now on skip past these `bnd_NNNNNNNN` ones (a replay restores them later)."""
        for binding_id in binding_ids:
            if binding_id.startswith("bnd_") and binding_id[4:].isdigit():
                self._next_binding = max(self._next_binding, int(binding_id[4:]) + 1)

    # ---- bindings: commands ---------------------------------------------

    def create_binding(
        self,
        mode: str,
        *,
        a: str | None = None,
        b: str | None = None,
        x: str | None = None,
        city: str | None = None,
        pool_key: str = DEFAULT_POOL_KEY,
        expires_at: float | None = None,
        extra: dict[str, Any] | None = None,
    ) -> Binding:
        self.expire_due()
        if mode not in MODES:
            rules.check_parties(mode, None, None)  # refuses the mode before looking at the numbers
        a = normalize(a, "a") if a is not None else None
        b = normalize(b, "b") if b is not None else None
        rules.check_parties(mode, a, b)
        self._check_expiry(expires_at)
        candidate = Binding(
            binding_id="",
            mode=mode,
            x="",
            a=a,
            b=b,
            pool_key=pool_key,
            created_at=self.clock.now(),
            expires_at=expires_at,
            extra=dict(extra or {}),
        )
        if x is not None:
            x = normalize(x, "x")
            num = self.number(x, pool_key)
            if num.locked:
                raise NumberInUse(f"virtual number {x} is locked", x=x)
            self._check_conflicts(x, candidate)
        else:
            x = self._allocate(candidate, city)
        candidate.x = x
        candidate.binding_id = f"bnd_{self._next_binding:08d}"
        self._next_binding += 1
        self._bindings[candidate.binding_id] = candidate
        self._index.added(candidate)
        self._index.activated(candidate)
        self._watch_expiry(candidate)
        self._shadows.cast(candidate.binding_id, None)
        return candidate

    def update_binding(
        self,
        binding_id: str,
        *,
        a: str | None = None,
        b: str | None = None,
        expires_at: float | None = None,
        extra: dict[str, Any] | None = None,
    ) -> Binding:
        """Change A or B (the mode's rules still hold) and/or the expiry of an active binding."""
        binding = self._active(binding_id)
        before = copy.deepcopy(binding) if visibility_delay.get() > 0 else None  # only a shadow needs it
        changed = copy.deepcopy(binding)
        if a is not None:
            if binding.mode == "XB":
                raise InvalidArgument("an XB binding has no a", field="a")
            changed.a = normalize(a, "a")
        if b is not None:
            changed.b = normalize(b, "b")
        if changed.a is not None and changed.a == changed.b:
            raise InvalidArgument("a and b must be different numbers", field="b")
        if expires_at is not None:
            self._check_expiry(expires_at)
            changed.expires_at = expires_at
        if extra:
            changed.extra.update(extra)
        self._check_conflicts(binding.x, changed, ignore=binding_id)
        self._index.unindex_parties(binding)  # same X, same mode: only the parties' index changes (order kept)
        binding.a, binding.b, binding.expires_at, binding.extra = changed.a, changed.b, changed.expires_at, changed.extra
        self._index.index_parties(binding)
        if expires_at is not None:
            self._watch_expiry(binding)
        self._shadows.cast(binding_id, before)
        return binding

    def delete_binding(self, binding_id: str) -> Binding:
        binding = self._active(binding_id)
        before = copy.deepcopy(binding) if visibility_delay.get() > 0 else None  # only a shadow needs it
        binding.status = "released"
        binding.ended_at = self.clock.now()
        self._index.deactivated(binding)
        self._shadows.cast(binding_id, before)
        if binding_id not in self._shadows:
            self._index.released(binding)
        self._ended.append(binding)
        self._forget_oldest()
        return binding

    # ---- bindings: queries ----------------------------------------------

    def binding(self, binding_id: str, *, as_queried: bool = False) -> Binding:
        """The binding (any status). `as_queried`: as the query API shows it, delayed-visibility faults included."""
        self.expire_due()
        found = self._bindings.get(binding_id)
        if as_queried:
            found = self._shadows.queried(binding_id, found)
        if found is None or found.status == "released":
            raise BindingNotFound(f"binding {binding_id} does not exist", binding_id=binding_id)
        return found

    def bindings(
        self,
        *,
        x: str | None = None,
        a: str | None = None,
        b: str | None = None,
        mode: str | None = None,
        pool_key: str | None = None,
        status: str | None = "active",
        as_queried: bool = False,
    ) -> list[Binding]:
        """Bindings in creation order. `status=None` includes expired ones; released ones are never listed."""
        self.expire_due()
        index = self._index
        result = []
        if x is not None and status == "active" and not as_queried:
            ids = list(index.active_by_x.get(x, ()))  # the hot path: conflicts, routing, allocation
        else:
            ids = list(index.ids_by_x.get(x, ())) if x is not None else list(index.live)
        for binding_id in ids:
            truth = self._bindings[binding_id]
            seen = self._shadows.queried(binding_id, truth) if as_queried else truth
            if truth.status == "released" and binding_id not in self._shadows:
                index.released(truth)  # its delayed-visibility shadow is over
            if seen is None or seen.status == "released":
                continue
            if status is not None and seen.status != status:
                continue
            if x is not None and seen.x != x:
                continue
            if a is not None and seen.a != a:
                continue
            if b is not None and seen.b != b:
                continue
            if mode is not None and seen.mode != mode:
                continue
            if pool_key is not None and seen.pool_key != pool_key:
                continue
            result.append(seen)
        return result

    # ---- expiry ----------------------------------------------------------

    def expire_due(self) -> list[Binding]:
        """Expire every active binding whose time has come; tell listeners. Called before every operation."""
        first = self._expiry.first_at()
        if first is None:
            return []
        now = self.clock.now()
        if first > now:
            return []
        expired = [self._bindings[binding_id] for binding_id in self._expiry.pop_due(now)]
        for binding in expired:
            binding.status = "expired"
            binding.ended_at = binding.expires_at
            self._index.deactivated(binding)
            self._ended.append(binding)
        self._forget_oldest()
        for binding in expired:
            self._emit("binding_expired", binding.to_dict())
        return expired

    def next_expiry(self) -> float | None:
        return self._expiry.next_at()

    # ---- calls -----------------------------------------------------------

    def place_call(self, caller: str, x: str, *, duration: float = 60.0, extra: dict[str, Any] | None = None) -> CallRecord:
        """Route `caller` dialling `x` by the rules (rules.py); every call, connected or not, leaves a record."""
        self.expire_due()
        caller = normalize(caller, "caller")
        x = normalize(x, "x")
        if x not in self._numbers or self._numbers[x].pool_key is None:
            callee, reason, binding = None, "UNKNOWN_NUMBER", None
        else:
            callee, reason, binding = rules.route(caller, self.bindings(x=x))
        record = CallRecord(
            call_id=f"call_{self._next_call:08d}",
            caller=caller,
            x=x,
            outcome="connected" if callee else "rejected",
            callee=callee,
            shown_caller=x if callee else None,
            reason=reason,
            binding_id=binding.binding_id if binding else None,
            mode=binding.mode if binding else None,
            started_at=self.clock.now(),
            duration=duration if callee else 0.0,
            extra=dict(extra or {}),
        )
        self._next_call += 1
        self._calls.append(record)
        self._calls_by_id[record.call_id] = record
        while len(self._calls) > self.history_limit:
            self._calls_by_id.pop(self._calls.popleft().call_id, None)
        self._emit("call", record.to_dict())
        return record

    def calls(self, *, x: str | None = None, caller: str | None = None) -> list[CallRecord]:
        """The last `history_limit` calls, oldest first."""
        return [c for c in self._calls if (x is None or c.x == x) and (caller is None or c.caller == caller)]

    def call(self, call_id: str) -> CallRecord:
        record = self._calls_by_id.get(call_id)
        if record is None:
            raise BindingNotFound(f"call {call_id} does not exist", call_id=call_id)
        return record

    # ---- internals -------------------------------------------------------

    def _active(self, binding_id: str) -> Binding:
        binding = self.binding(binding_id)
        if binding.status != "active":
            raise BindingNotFound(f"binding {binding_id} expired", binding_id=binding_id, status=binding.status)
        return binding

    def _check_expiry(self, expires_at: float | None) -> None:
        if expires_at is not None and expires_at <= self.clock.now():
            raise ExpiryIllegal("expiry must be in the future", field="expires_at")

    def _check_conflicts(self, x: str, candidate: Binding, ignore: str | None = None) -> None:
        reason = rules.conflict(x, candidate, self.bindings(x=x), ignore)
        if reason:
            raise BindConflict(reason, x=x)

    def _allocate(self, candidate: Binding, city: str | None) -> str:
        """The first usable X, preferring the requested city, then the least-loaded number, then pool order."""
        excluded: set[str] = set()
        if candidate.mode in PARTY_MODES:
            for party in candidate.numbers():
                excluded.update(self._index.party_xs.get(party, ()))
        x = self._index.free.pick(candidate.pool_key, single=candidate.mode in SINGLE_MODES, city=city,
                                  excluded=excluded)
        if x is None:
            raise NoAvailableNumber(
                f"no virtual number in pool {candidate.pool_key} can take this {candidate.mode} binding",
                pool_key=candidate.pool_key,
            )
        return x

    def _watch_expiry(self, binding: Binding) -> None:
        if binding.expires_at is not None:
            self._expiry.watch(binding.expires_at, binding.binding_id)

    def _still_due(self, at: float, binding_id: str) -> bool:
        binding = self._bindings.get(binding_id)
        return binding is not None and binding.status == "active" and binding.expires_at == at

    def _forget_oldest(self) -> None:
        """Keep `history_limit` ended bindings: older ones leave every structure."""
        while len(self._ended) > self.history_limit:
            binding = self._ended.popleft()
            binding_id = binding.binding_id
            if self._bindings.get(binding_id) is not binding:
                continue  # restored since under the same id
            del self._bindings[binding_id]
            self._shadows.forget(binding_id)
            self._index.forgotten(binding)

    @contextlib.contextmanager
    def delayed_visibility(self, seconds: float) -> Iterator[None]:
        """Changes made inside stay hidden from `as_queried` reads for `seconds` (the ghost-failure fault)."""
        token = visibility_delay.set(seconds)
        try:
            yield
        finally:
            visibility_delay.reset(token)

    def snapshot(self, *, released: bool = False) -> dict[str, Any]:
        """The whole ground truth as plain data (the admin API's ledger view); `released` adds deleted
        bindings, so each binding's whole life (created_at .. ended_at) can be checked against a client's."""
        self.expire_due()
        return {
            "now": self.clock.now(),
            "numbers": [n.to_dict() for n in self._numbers.values() if n.pool_key is not None],
            "stock": len(self.stock()),
            "bindings": [b.to_dict() for b in self._bindings.values() if released or b.status != "released"],
            "calls": [c.to_dict() for c in self._calls],
        }
