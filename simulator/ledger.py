"""The provider's ground truth: numbers, bindings, calls. Every state change goes through `Ledger`.

No HTTP here and no randomness: dialects parse their wire format and call these
methods; the fault engine only decides *whether* a call reaches them and what
the client sees. Time comes from the injected `Clock`, so expiry works the same
under virtual time.

Routing rules (what a call to X reaches; the harness checks calls against the core's view of the same):
- AXB (A, B on X): A -> X reaches B, B -> X reaches A, both shown X.
- AXN (A on X, optional default N): A -> X reaches N; anyone else -> X reaches A.
- XB (B on X): anyone not matched above -> X reaches B, shown X.
- Several AXB on one X only with disjoint numbers; at most one XB or AXN per X.
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import heapq
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable, Iterator, Literal

from .clock import Clock
from .errors import (
    BindConflict,
    BindingNotFound,
    ExpiryIllegal,
    InvalidArgument,
    NoAvailableNumber,
    NumberInUse,
    NumberNotFound,
)
from .numbers import DEFAULT_POOL_KEY, Number, PoolSpec, normalize
from .pool_index import FreeNumbers

Mode = Literal["XB", "AXB", "AXN"]
MODES: tuple[str, ...] = ("XB", "AXB", "AXN")
BindingStatus = Literal["active", "expired", "released"]
SINGLE_MODES = frozenset({"XB", "AXN"})  # at most one of these per X
PARTY_MODES = frozenset({"AXB", "AXN"})  # these may not share a party on one X

# How many ended (released or expired) bindings, and how many call records, the ledger keeps: the oldest
# go first, so a long soak's memory stays flat. `?released=true`, the harness and traces see these.
HISTORY_LIMIT = 20_000

# Set by the fault engine for the duration of one request: changes it applies
# stay invisible to queries (or deleted bindings stay visible) for this long.
visibility_delay: contextvars.ContextVar[float] = contextvars.ContextVar("visibility_delay", default=0.0)


@dataclass
class Binding:
    binding_id: str
    mode: str
    x: str
    a: str | None
    b: str | None
    pool_key: str
    created_at: float
    expires_at: float | None
    status: str = "active"
    ended_at: float | None = None
    # Free-form data a dialect keeps with the binding (OutId, UserData, callback URLs...).
    extra: dict[str, Any] = field(default_factory=dict)

    def numbers(self) -> set[str]:
        return {n for n in (self.a, self.b) if n}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class CallRecord:
    call_id: str
    caller: str
    x: str
    outcome: str  # "connected" | "rejected"
    callee: str | None
    shown_caller: str | None
    reason: str  # "AXB_A_TO_B", "AXB_B_TO_A", "AXN_...", "XB", or why it was rejected
    binding_id: str | None
    mode: str | None
    started_at: float
    duration: float
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class LedgerEvent:
    """What the provider tells the outside world: `kind` is "call" or "binding_expired"."""

    kind: str
    at: float
    payload: dict[str, Any]


@dataclass
class _Shadow:
    """What queries show instead of the truth until `until` (None: the binding is not visible)."""

    snapshot: Binding | None
    until: float


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
        # Indexes that keep requests O(bindings on one X) however long a run gets: ids that are not released
        # (or released but still shadowed), in creation order, overall and on each X; active ids on each X.
        self._live: dict[str, None] = {}
        self._ids_by_x: dict[str, list[str]] = {}
        self._active_by_x: dict[str, dict[str, None]] = {}
        # What allocation needs without a scan: XB/AXN bindings on each X, the X's each AXB/AXN party is on.
        self._singles: dict[str, int] = {}
        self._party_xs: dict[str, dict[str, int]] = {}
        self._free = FreeNumbers()
        for x in self._numbers:
            self._refresh(x)
        self._expiry_heap: list[tuple[float, str]] = []  # (expires_at, id); stale entries skipped
        self._heap_compact_at = 1024
        self._ended: deque[Binding] = deque()
        self._shadows: dict[str, _Shadow] = {}
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
        self._refresh(num.x)
        return num

    def release_number(self, pool_key: str, x: str) -> Number:
        num = self.number(x, pool_key)
        if self.bindings(x=x):
            raise NumberInUse(f"virtual number {x} still has active bindings", x=x)
        num.pool_key, num.locked, num.purchased_at = None, False, None
        self._refresh(x)
        return num

    def set_locked(self, pool_key: str, x: str, locked: bool) -> Number:
        num = self.number(x, pool_key)
        num.locked = locked
        self._refresh(num.x)
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
        self._refresh(x)
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
        self._live[binding_id] = None
        self._ids_by_x.setdefault(x, []).append(binding_id)
        self._activated(binding)
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
            raise InvalidArgument(f"mode must be one of {', '.join(MODES)}, got {mode!r}", field="mode")
        a = normalize(a, "a") if a is not None else None
        b = normalize(b, "b") if b is not None else None
        if mode == "XB" and (b is None or a is not None):
            raise InvalidArgument("an XB binding takes b and no a", field="a" if a else "b")
        if mode == "AXB" and (a is None or b is None):
            raise InvalidArgument("an AXB binding takes both a and b", field="b" if a else "a")
        if mode == "AXN" and a is None:
            raise InvalidArgument("an AXN binding takes a", field="a")
        if a is not None and a == b:
            raise InvalidArgument("a and b must be different numbers", field="b")
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
        self._live[candidate.binding_id] = None
        self._ids_by_x.setdefault(x, []).append(candidate.binding_id)
        self._activated(candidate)
        self._watch_expiry(candidate)
        self._shadow(candidate.binding_id, None)
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
        self._unindex_parties(binding)  # same X, same mode: only the parties' index changes (order kept)
        binding.a, binding.b, binding.expires_at, binding.extra = changed.a, changed.b, changed.expires_at, changed.extra
        self._index_parties(binding)
        if expires_at is not None:
            self._watch_expiry(binding)
        self._shadow(binding_id, before)
        return binding

    def delete_binding(self, binding_id: str) -> Binding:
        binding = self._active(binding_id)
        before = copy.deepcopy(binding) if visibility_delay.get() > 0 else None  # only a shadow needs it
        binding.status = "released"
        binding.ended_at = self.clock.now()
        self._deactivated(binding)
        self._shadow(binding_id, before)
        if binding_id not in self._shadows:
            self._ids_by_x[binding.x].remove(binding_id)
            self._live.pop(binding_id, None)
        self._ended.append(binding)
        self._forget_oldest()
        return binding

    # ---- bindings: queries ----------------------------------------------

    def binding(self, binding_id: str, *, as_queried: bool = False) -> Binding:
        """The binding (any status). `as_queried`: as the query API shows it, delayed-visibility faults included."""
        self.expire_due()
        found = self._bindings.get(binding_id)
        if as_queried:
            found = self._queried(binding_id, found)
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
        result = []
        if x is not None and status == "active" and not as_queried:
            ids = list(self._active_by_x.get(x, ()))  # the hot path: conflicts, routing, allocation
        else:
            ids = list(self._ids_by_x.get(x, ())) if x is not None else list(self._live)
        for binding_id in ids:
            truth = self._bindings[binding_id]
            seen = self._queried(binding_id, truth) if as_queried else truth
            if truth.status == "released" and binding_id not in self._shadows:
                self._drop_released(truth)  # its delayed-visibility shadow is over
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
        heap = self._expiry_heap
        if not heap:
            return []
        now = self.clock.now()
        if heap[0][0] > now:
            return []
        due: dict[str, Binding] = {}
        while heap and heap[0][0] <= now:
            at, binding_id = heapq.heappop(heap)
            binding = self._bindings.get(binding_id)
            if binding is not None and binding.status == "active" and binding.expires_at == at:
                due[binding_id] = binding
        expired = [due[binding_id] for binding_id in sorted(due)]  # ids are sequential: creation order
        for binding in expired:
            binding.status = "expired"
            binding.ended_at = binding.expires_at
            self._deactivated(binding)
            self._ended.append(binding)
        self._forget_oldest()
        for binding in expired:
            self._emit("binding_expired", binding.to_dict())
        return expired

    def next_expiry(self) -> float | None:
        heap = self._expiry_heap
        while heap and not self._still_due(*heap[0]):
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    # ---- calls -----------------------------------------------------------

    def place_call(self, caller: str, x: str, *, duration: float = 60.0, extra: dict[str, Any] | None = None) -> CallRecord:
        """Route `caller` dialling `x` by the rules above; every call, connected or not, leaves a record."""
        self.expire_due()
        caller = normalize(caller, "caller")
        x = normalize(x, "x")
        callee, reason, binding = self._route(caller, x)
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

    def _route(self, caller: str, x: str) -> tuple[str | None, str, Binding | None]:
        if x not in self._numbers or self._numbers[x].pool_key is None:
            return None, "UNKNOWN_NUMBER", None
        active = self.bindings(x=x)
        for binding in active:
            if binding.mode == "AXB" and caller == binding.a:
                return binding.b, "AXB_A_TO_B", binding
            if binding.mode == "AXB" and caller == binding.b:
                return binding.a, "AXB_B_TO_A", binding
        for binding in active:
            if binding.mode == "AXN":
                if caller == binding.a:
                    if binding.b:
                        return binding.b, "AXN_A_TO_N", binding
                    return None, "NO_DEFAULT_CALLEE", binding
                return binding.a, "AXN_N_TO_A", binding
        for binding in active:
            if binding.mode == "XB":
                if caller == binding.b:
                    return None, "CALLER_IS_CALLEE", binding
                return binding.b, "XB", binding
        return None, ("NOT_A_PARTY" if active else "NO_BINDING"), None

    # ---- internals -------------------------------------------------------

    def _active(self, binding_id: str) -> Binding:
        binding = self.binding(binding_id)
        if binding.status != "active":
            raise BindingNotFound(f"binding {binding_id} expired", binding_id=binding_id, status=binding.status)
        return binding

    def _check_expiry(self, expires_at: float | None) -> None:
        if expires_at is not None and expires_at <= self.clock.now():
            raise ExpiryIllegal("expiry must be in the future", field="expires_at")

    def _conflict(self, x: str, candidate: Binding, ignore: str | None = None) -> str | None:
        """Why `candidate` cannot sit on `x` beside its active bindings, or None if it can."""
        for other in self.bindings(x=x):
            if other.binding_id == ignore:
                continue
            if candidate.mode in ("XB", "AXN") and other.mode in ("XB", "AXN"):
                return f"{x} already has an {other.mode} binding ({other.binding_id})"
            pair_modes = {candidate.mode, other.mode}
            if pair_modes <= {"AXB", "AXN"} and candidate.numbers() & other.numbers():
                shared = ", ".join(sorted(candidate.numbers() & other.numbers()))
                return f"{shared} already bound on {x} by {other.binding_id}: routing would be ambiguous"
        return None

    def _check_conflicts(self, x: str, candidate: Binding, ignore: str | None = None) -> None:
        reason = self._conflict(x, candidate, ignore)
        if reason:
            raise BindConflict(reason, x=x)

    def _allocate(self, candidate: Binding, city: str | None) -> str:
        """The first usable X, preferring the requested city, then the least-loaded number, then pool order."""
        excluded: set[str] = set()
        if candidate.mode in PARTY_MODES:
            for party in candidate.numbers():
                excluded.update(self._party_xs.get(party, ()))
        x = self._free.pick(candidate.pool_key, single=candidate.mode in SINGLE_MODES, city=city, excluded=excluded)
        if x is None:
            raise NoAvailableNumber(
                f"no virtual number in pool {candidate.pool_key} can take this {candidate.mode} binding",
                pool_key=candidate.pool_key,
            )
        return x

    # ---- indexes -----------------------------------------------------------

    def _refresh(self, x: str) -> None:
        """Tell the allocation index what `x` can take now."""
        num = self._numbers.get(x)
        if num is None:
            return
        self._free.place(x, ordinal=self._ordinal[x], pool_key=num.pool_key, city=num.city,
                         load=len(self._active_by_x.get(x, ())), takes_single=not self._singles.get(x),
                         locked=num.locked)

    def _activated(self, binding: Binding) -> None:
        x = binding.x
        self._active_by_x.setdefault(x, {})[binding.binding_id] = None
        if binding.mode in SINGLE_MODES:
            self._singles[x] = self._singles.get(x, 0) + 1
        self._index_parties(binding)
        self._refresh(x)

    def _index_parties(self, binding: Binding) -> None:
        if binding.mode in PARTY_MODES:
            for party in binding.numbers():
                on = self._party_xs.setdefault(party, {})
                on[binding.x] = on.get(binding.x, 0) + 1

    def _unindex_parties(self, binding: Binding) -> None:
        if binding.mode in PARTY_MODES:
            for party in binding.numbers():
                on = self._party_xs[party]
                on[binding.x] -= 1
                if not on[binding.x]:
                    del on[binding.x]
                    if not on:
                        del self._party_xs[party]

    def _deactivated(self, binding: Binding) -> None:
        x = binding.x
        active = self._active_by_x.get(x)
        if active is None or binding.binding_id not in active:
            return  # not counted (already ended)
        del active[binding.binding_id]
        if not active:
            del self._active_by_x[x]
        if binding.mode in SINGLE_MODES:
            self._singles[x] -= 1
            if not self._singles[x]:
                del self._singles[x]
        self._unindex_parties(binding)
        self._refresh(x)

    def _watch_expiry(self, binding: Binding) -> None:
        if binding.expires_at is None:
            return
        heap = self._expiry_heap
        heapq.heappush(heap, (binding.expires_at, binding.binding_id))
        if len(heap) > self._heap_compact_at:  # deleted bindings' entries: drop them now and then
            heap[:] = [entry for entry in heap if self._still_due(*entry)]
            heapq.heapify(heap)
            self._heap_compact_at = max(1024, 2 * len(heap))

    def _still_due(self, at: float, binding_id: str) -> bool:
        binding = self._bindings.get(binding_id)
        return binding is not None and binding.status == "active" and binding.expires_at == at

    def _drop_released(self, binding: Binding) -> None:
        """A released binding whose shadow is over leaves the live indexes."""
        self._live.pop(binding.binding_id, None)
        ids = self._ids_by_x.get(binding.x)
        if ids and binding.binding_id in ids:
            ids.remove(binding.binding_id)

    def _forget_oldest(self) -> None:
        """Keep `history_limit` ended bindings: older ones leave every structure."""
        while len(self._ended) > self.history_limit:
            binding = self._ended.popleft()
            binding_id = binding.binding_id
            if self._bindings.get(binding_id) is not binding:
                continue  # restored since under the same id
            del self._bindings[binding_id]
            self._shadows.pop(binding_id, None)
            self._live.pop(binding_id, None)
            ids = self._ids_by_x.get(binding.x)
            if ids and binding_id in ids:
                ids.remove(binding_id)
            if ids is not None and not ids:
                del self._ids_by_x[binding.x]

    def _shadow(self, binding_id: str, snapshot: Binding | None) -> None:
        delay = visibility_delay.get()
        if delay > 0:
            self._shadows[binding_id] = _Shadow(snapshot, self.clock.now() + delay)
        else:
            self._shadows.pop(binding_id, None)

    def _queried(self, binding_id: str, truth: Binding | None) -> Binding | None:
        shadow = self._shadows.get(binding_id)
        if shadow is None:
            return truth
        if self.clock.now() >= shadow.until:
            del self._shadows[binding_id]
            return truth
        return shadow.snapshot

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
