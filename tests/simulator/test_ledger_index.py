"""The indexed ledger makes the same choices as a plain model that scans every number.

The model below states the rules the way the ledger's docstring does (conflicts on one X; allocation:
requested city first, then least load, then pool order) and keeps nothing but a list of bindings. Random
sequences of creates (with and without an X, a city, an expiry), updates, deletes, clock moves, locks and
number purchases/releases run on both; every outcome (the X chosen, or the refusal) and the set of active
bindings must agree after each step. Derandomized: the same sequences on every run, no seed to print.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.clock import ManualClock
from simulator.errors import BindingNotFound, LedgerError
from simulator.ledger import Ledger
from simulator.numbers import Number, PoolSpec

CITIES = ("Beijing", "Shanghai", "Hangzhou")
PARTIES = ("13900000001", "13900000002", "13800000001", "13800000002", "13700000003")
POOL = "FC1"
POOL_NUMBERS = tuple(
    Number(x=f"1700000{i:04d}", city=CITIES[i % 3], pool_key=POOL if i < 9 else None) for i in range(12)
)
PROPERTY = settings(derandomize=True, max_examples=120, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])


@dataclass
class _ModelBinding:
    binding_id: str
    mode: str
    x: str
    a: str | None
    b: str | None
    expires_at: float | None
    active: bool = True

    def parties(self) -> set[str]:
        return {n for n in (self.a, self.b) if n}


class PlainModel:
    """Rules only: a list of numbers and a list of bindings, every question answered by a scan."""

    def __init__(self, numbers: tuple[Number, ...]) -> None:
        self.numbers = [Number(**n.to_dict()) for n in numbers]
        self.bindings: list[_ModelBinding] = []
        self.now = 0.0

    def active_on(self, x: str) -> list[_ModelBinding]:
        return [b for b in self.bindings if b.active and b.x == x]

    def expire(self) -> None:
        for b in self.bindings:
            if b.active and b.expires_at is not None and b.expires_at <= self.now:
                b.active = False

    def conflicts(self, x: str, mode: str, parties: set[str], ignore: str | None = None) -> bool:
        for other in self.active_on(x):
            if other.binding_id == ignore:
                continue
            if mode in ("XB", "AXN") and other.mode in ("XB", "AXN"):
                return True
            if {mode, other.mode} <= {"AXB", "AXN"} and parties & other.parties():
                return True
        return False

    def allocate(self, mode: str, parties: set[str], city: str | None) -> str | None:
        options = [
            (city is not None and n.city != city, len(self.active_on(n.x)), i, n.x)
            for i, n in enumerate(n for n in self.numbers if n.pool_key == POOL)
            if not n.locked and not self.conflicts(n.x, mode, parties)
        ]
        return min(options)[3] if options else None

    def owned(self, x: str) -> Number | None:
        return next((n for n in self.numbers if n.x == x and n.pool_key == POOL), None)

    def create(self, binding_id: str, mode: str, a, b, x, city, expires_at) -> str:
        self.expire()
        parties = {n for n in (a, b) if n}
        if x is not None:
            num = self.owned(x)
            if num is None:
                return "NumberNotFound"
            if num.locked:
                return "NumberInUse"
            if self.conflicts(x, mode, parties):
                return "BindConflict"
        else:
            x = self.allocate(mode, parties, city)
            if x is None:
                return "NoAvailableNumber"
        self.bindings.append(_ModelBinding(binding_id, mode, x, a, b, expires_at))
        return x

    def find(self, binding_id: str) -> _ModelBinding | None:
        self.expire()
        return next((b for b in self.bindings if b.binding_id == binding_id and b.active), None)

    def update(self, binding_id: str, a, b) -> str:
        found = self.find(binding_id)
        if found is None:
            return "BindingNotFound"
        new_a = a if a is not None else found.a
        new_b = b if b is not None else found.b
        if found.mode == "XB" and a is not None:
            return "InvalidArgument"
        if new_a is not None and new_a == new_b:
            return "InvalidArgument"
        if self.conflicts(found.x, found.mode, {n for n in (new_a, new_b) if n}, ignore=binding_id):
            return "BindConflict"
        found.a, found.b = new_a, new_b
        return found.x

    def delete(self, binding_id: str) -> str:
        found = self.find(binding_id)
        if found is None:
            return "BindingNotFound"
        found.active = False
        return found.x

    def release(self, x: str) -> str:
        self.expire()
        num = self.owned(x)
        if num is None:
            return "NumberNotFound"
        if self.active_on(x):
            return "NumberInUse"
        num.pool_key, num.locked = None, False
        return x

    def buy(self, city: str) -> str:
        candidates = [n for n in self.numbers if n.pool_key is None and n.city == city]
        if not candidates:
            return "NoAvailableNumber"
        candidates[0].pool_key = POOL
        return candidates[0].x

    def lock(self, x: str, locked: bool) -> str:
        num = self.owned(x)
        if num is None:
            return "NumberNotFound"
        num.locked = locked
        return x

    def active(self) -> set[tuple]:
        self.expire()
        return {(b.binding_id, b.mode, b.x, b.a, b.b) for b in self.bindings if b.active}


def _outcome(call) -> str:
    try:
        result = call()
    except LedgerError as exc:
        return type(exc).__name__
    return result.x


party = st.sampled_from(PARTIES)
number = st.sampled_from([n.x for n in POOL_NUMBERS])
create = st.one_of(
    st.tuples(st.just("XB"), st.none(), party),
    st.tuples(st.just("AXB"), party, party).filter(lambda t: t[1] != t[2]),
    st.tuples(st.just("AXN"), party, st.one_of(st.none(), party)).filter(lambda t: t[1] != t[2]),
).flatmap(lambda m: st.tuples(st.just("create"), st.just(m), st.one_of(st.none(), number),
                              st.one_of(st.none(), st.sampled_from(CITIES)),
                              st.one_of(st.none(), st.integers(1, 30))))
operation = st.one_of(
    create, create, create,
    st.tuples(st.just("delete"), st.integers(0, 40)),
    st.tuples(st.just("update"), st.integers(0, 40), st.one_of(st.none(), party), st.one_of(st.none(), party)),
    st.tuples(st.just("advance"), st.integers(1, 20)),
    st.tuples(st.just("lock"), number, st.booleans()),
    st.tuples(st.just("release"), number),
    st.tuples(st.just("buy"), st.sampled_from(CITIES)),
)


@PROPERTY
@given(st.lists(operation, min_size=1, max_size=60))
def test_indexed_ledger_chooses_as_the_plain_model_does(operations) -> None:
    clock = ManualClock()
    ledger = Ledger(clock, PoolSpec(numbers=POOL_NUMBERS), history_limit=5)
    model = PlainModel(POOL_NUMBERS)
    ids: list[str] = []
    for op in operations:
        kind = op[0]
        if kind == "create":
            (mode, a, b), x, city, ttl = op[1:]
            expires_at = None if ttl is None else clock.now() + ttl
            binding_id = f"bnd_{len(ids) + 1:08d}"
            got = _outcome(lambda: ledger.create_binding(mode, a=a, b=b, x=x, city=city, pool_key=POOL,
                                                         expires_at=expires_at))
            want = model.create(binding_id, mode, a, b, x, city, None if ttl is None else model.now + ttl)
            if got == want and not got[0].isupper():
                ids.append(binding_id)
        elif kind == "delete" and ids:
            binding_id = ids[op[1] % len(ids)]
            got, want = _outcome(lambda: ledger.delete_binding(binding_id)), model.delete(binding_id)
        elif kind == "update" and ids:
            binding_id = ids[op[1] % len(ids)]
            got = _outcome(lambda: ledger.update_binding(binding_id, a=op[2], b=op[3]))
            want = model.update(binding_id, op[2], op[3])
        elif kind == "advance":
            clock.advance(op[1])
            model.now += op[1]
            got = want = ""
        elif kind == "lock":
            got, want = _outcome(lambda: ledger.set_locked(POOL, op[1], op[2])), model.lock(op[1], op[2])
        elif kind == "release":
            got, want = _outcome(lambda: ledger.release_number(POOL, op[1])), model.release(op[1])
        elif kind == "buy":
            got, want = _outcome(lambda: ledger.buy_number(POOL, op[1])), model.buy(op[1])
        else:
            continue
        assert got == want, f"{op}: ledger {got}, plain model {want}"
        seen = {(b.binding_id, b.mode, b.x, b.a, b.b) for b in ledger.bindings(pool_key=POOL)}
        assert seen == model.active(), f"after {op}"
        for x in {b[2] for b in seen}:  # each X lists its bindings in creation order, updates included
            assert [b.binding_id for b in ledger.bindings(x=x)] == [b.binding_id for b in model.active_on(x)]


def test_history_is_bounded_and_keeps_the_newest_ended_bindings() -> None:
    """A soak's released bindings leave memory past the limit; the newest stay visible with ?released=true."""
    clock = ManualClock()
    ledger = Ledger(clock, PoolSpec(numbers=POOL_NUMBERS), history_limit=10)
    made = []
    for _ in range(50):
        binding = ledger.create_binding("XB", b=PARTIES[0], pool_key=POOL)
        ledger.delete_binding(binding.binding_id)
        made.append(binding.binding_id)
        ledger.place_call(PARTIES[1], binding.x)
    kept = [b["binding_id"] for b in ledger.snapshot(released=True)["bindings"]]
    assert kept == made[-10:]
    assert [c.call_id for c in ledger.calls()] == [f"call_{n:08d}" for n in range(41, 51)]
    assert ledger.call("call_00000050").caller == PARTIES[1]
    with pytest.raises(BindingNotFound):
        ledger.call("call_00000001")


def test_free_numbers_stays_right_through_many_moves() -> None:
    """Thousands of load changes (enough to compact the heaps many times): every pick is the plain minimum."""
    import random

    from simulator.ledger.pool_index import FreeNumbers

    seed = 12
    print(f"seed {seed}")
    rng = random.Random(seed)
    index = FreeNumbers()
    state = {f"1700000{i:04d}": [CITIES[i % 3], 0, True, False] for i in range(10)}  # city, load, single, locked
    order = list(state)
    for i, x in enumerate(order):
        index.place(x, ordinal=i, pool_key=POOL, city=state[x][0], load=0, takes_single=True, locked=False)
    for _ in range(3000):
        x = rng.choice(order)
        entry = state[x]
        entry[1] = max(0, entry[1] + rng.choice((-1, 1)))
        entry[2], entry[3] = rng.random() < 0.8, rng.random() < 0.1
        index.place(x, ordinal=order.index(x), pool_key=POOL, city=entry[0], load=entry[1], takes_single=entry[2],
                    locked=entry[3])
        single, city = rng.random() < 0.5, rng.choice((None, *CITIES))
        skip = set(rng.sample(order, 2))
        options = [(city is not None and state[n][0] != city, state[n][1], i, n) for i, n in enumerate(order)
                   if not state[n][3] and (state[n][2] or not single) and n not in skip]
        assert index.pick(POOL, single=single, city=city, excluded=skip) == (min(options)[3] if options else None)
