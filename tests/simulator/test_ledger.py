"""The ledger's rules, without HTTP: routing, conflicts, allocation, expiry, delayed visibility, reset."""

from __future__ import annotations

import pytest

from simulator.clock import ManualClock
from simulator.errors import (
    BindConflict,
    BindingNotFound,
    ExpiryIllegal,
    InvalidArgument,
    InvalidNumber,
    NoAvailableNumber,
    NumberInUse,
    NumberNotFound,
)
from simulator.ledger import Ledger
from simulator.numbers import PoolSpec, normalize

A, A2, B, B2, C = "13900000001", "13900000002", "13800000001", "13800000002", "13700000009"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def ledger(clock: ManualClock) -> Ledger:
    return Ledger(clock, PoolSpec(seed=3, cities=("Beijing", "Shanghai"), per_city=2, stock_per_city=1))


def route(ledger: Ledger, caller: str, x: str) -> tuple[str, str | None, str]:
    call = ledger.place_call(caller, x)
    return call.outcome, call.callee, call.reason


def test_pool_is_seeded_and_reproducible() -> None:
    first = [n.x for n in PoolSpec(seed=9).build()]
    assert first == [n.x for n in PoolSpec(seed=9).build()]
    assert first != [n.x for n in PoolSpec(seed=10).build()]
    assert len(set(first)) == len(first)


def test_xb_routes_anyone_to_b_showing_x(ledger: Ledger) -> None:
    xb = ledger.create_binding("XB", b=B)
    assert route(ledger, C, xb.x) == ("connected", B, "XB")
    assert ledger.calls()[-1].shown_caller == xb.x


def test_axb_routes_a_and_b_to_each_other_and_rejects_third_party(ledger: Ledger) -> None:
    axb = ledger.create_binding("AXB", a=A, b=B)
    assert route(ledger, A, axb.x)[:2] == ("connected", B)
    assert route(ledger, B, axb.x)[:2] == ("connected", A)
    assert route(ledger, C, axb.x) == ("rejected", None, "NOT_A_PARTY")


def test_xb_and_axb_on_one_x_the_seed_hard_case(ledger: Ledger) -> None:
    xb = ledger.create_binding("XB", b=B)
    ledger.create_binding("AXB", a=A, b=B, x=xb.x)
    assert route(ledger, A, xb.x)[:2] == ("connected", B)
    assert route(ledger, B, xb.x)[:2] == ("connected", A)
    assert route(ledger, C, xb.x)[:2] == ("connected", B)


def test_second_xb_on_one_x_is_a_conflict(ledger: Ledger) -> None:
    xb = ledger.create_binding("XB", b=B)
    with pytest.raises(BindConflict):
        ledger.create_binding("XB", b=B2, x=xb.x)


def test_axb_on_one_x_only_with_disjoint_numbers(ledger: Ledger) -> None:
    first = ledger.create_binding("AXB", a=A, b=B)
    ledger.create_binding("AXB", a=A2, b=B2, x=first.x)
    with pytest.raises(BindConflict, match="ambiguous"):
        ledger.create_binding("AXB", a=A, b=C, x=first.x)
    assert len(ledger.bindings(x=first.x)) == 2


def test_allocation_prefers_city_and_runs_out_clearly(ledger: Ledger) -> None:
    shanghai = {n.x for n in ledger.numbers(city="Shanghai")}
    assert ledger.create_binding("XB", b=B, city="Shanghai").x in shanghai
    assert ledger.create_binding("XB", b=B2, city="Shanghai").x in shanghai
    third = ledger.create_binding("XB", b=C, city="Shanghai")  # falls back to another city
    assert third.x not in shanghai
    ledger.create_binding("XB", b=A)
    with pytest.raises(NoAvailableNumber):
        ledger.create_binding("XB", b=A2)


def test_locked_numbers_are_never_allocated(ledger: Ledger) -> None:
    numbers = ledger.numbers()
    for num in numbers[1:]:
        ledger.set_locked(num.pool_key, num.x, True)
    assert ledger.create_binding("XB", b=B).x == numbers[0].x
    with pytest.raises(NumberInUse):
        ledger.create_binding("XB", b=B2, x=numbers[1].x)


def test_bad_input_changes_nothing(ledger: Ledger) -> None:
    before = ledger.snapshot()
    for call in (
        lambda: ledger.create_binding("XB", b="12345"),
        lambda: ledger.create_binding("AXB", a=A, b=A),
        lambda: ledger.create_binding("AXB", b=B),
        lambda: ledger.create_binding("XY", b=B),
        lambda: ledger.create_binding("XB", b=B, x="17000000000"),
        lambda: ledger.create_binding("XB", b=B, expires_at=ledger.clock.now() - 1),
        lambda: ledger.delete_binding("bnd_missing"),
    ):
        with pytest.raises((InvalidArgument, NumberNotFound, BindingNotFound)):
            call()
    assert ledger.snapshot() == before


def test_numbers_are_normalised_from_wire_prefixes() -> None:
    assert normalize("+8613800000001") == "13800000001"
    assert normalize("008613800000001") == "13800000001"
    assert normalize("01012345678") == "01012345678"
    for bad in ("1380000000", "23800000001", 13800000001, "+1 555 0100"):
        with pytest.raises(InvalidNumber):
            normalize(bad)


def test_expiry_on_the_provider_clock(ledger: Ledger, clock: ManualClock) -> None:
    events = []
    ledger.subscribe(events.append)
    xb = ledger.create_binding("XB", b=B, expires_at=clock.now() + 60)
    clock.advance(59)
    assert route(ledger, C, xb.x)[0] == "connected"
    clock.advance(1)
    assert route(ledger, C, xb.x) == ("rejected", None, "NO_BINDING")
    assert ledger.binding(xb.binding_id).status == "expired"
    assert ledger.bindings() == []
    assert [e.kind for e in events] == ["call", "binding_expired", "call"]
    with pytest.raises(BindingNotFound):
        ledger.delete_binding(xb.binding_id)
    with pytest.raises(ExpiryIllegal):
        ledger.create_binding("XB", b=B, expires_at=clock.now())


def test_update_changes_b_and_keeps_rules(ledger: Ledger) -> None:
    first = ledger.create_binding("AXB", a=A, b=B)
    second = ledger.create_binding("AXB", a=A2, b=B2, x=first.x)
    ledger.update_binding(first.binding_id, b=C)
    assert route(ledger, A, first.x)[1] == C
    with pytest.raises(BindConflict):
        ledger.update_binding(second.binding_id, b=A)
    assert ledger.binding(second.binding_id).b == B2


def test_delayed_visibility_hides_creates_and_deletes_from_queries_only(ledger: Ledger, clock: ManualClock) -> None:
    with ledger.delayed_visibility(5):
        xb = ledger.create_binding("XB", b=B)
    assert ledger.bindings(as_queried=True) == []
    assert route(ledger, C, xb.x)[0] == "connected"  # applied: routing already uses it
    with pytest.raises(BindingNotFound):
        ledger.binding(xb.binding_id, as_queried=True)
    clock.advance(5)
    assert [b.binding_id for b in ledger.bindings(as_queried=True)] == [xb.binding_id]
    with ledger.delayed_visibility(5):
        ledger.delete_binding(xb.binding_id)
    assert [b.binding_id for b in ledger.bindings(as_queried=True)] == [xb.binding_id]
    assert ledger.bindings() == []
    clock.advance(5)
    assert ledger.bindings(as_queried=True) == []


def test_reset_returns_to_the_seeded_initial_state(ledger: Ledger) -> None:
    initial = ledger.snapshot()
    ledger.create_binding("XB", b=B)
    ledger.buy_number("FC100000000000001", "Beijing")
    ledger.reset()
    assert ledger.snapshot() == initial
    assert ledger.create_binding("XB", b=B).binding_id == "bnd_00000001"


def test_release_refuses_a_number_with_bindings(ledger: Ledger) -> None:
    bought = ledger.buy_number("FC100000000000001", "Beijing")
    ledger.create_binding("XB", b=B, x=bought.x)
    with pytest.raises(NumberInUse):
        ledger.release_number("FC100000000000001", bought.x)
    assert ledger.number_status(bought.x) == "bound"
