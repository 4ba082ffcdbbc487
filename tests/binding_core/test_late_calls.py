"""Calls that land late: a create held by the provider past the core's timeout takes effect after the core
has moved on. The core must not settle or forget a row while such a call can still land (the in-doubt
window), and must delete what a late call created once the row no longer wants it.

Each case runs twice: with the window (no orphan) and with `in_doubt_window = 0`, which shows the late call
really lands after the core settled: without the window it leaves an orphan. The provider's request
deadline (30 s) is below the core's default window (60 s), so nothing lands after the window.
"""

from __future__ import annotations

import dataclasses

import pytest

from binding_core.config import GraySettings, RetrySettings

from .conftest import core_config, until

pytestmark = pytest.mark.looptime
B = "13800000001"
HELD = 5.0  # seconds the provider holds the first create, past the core's 3 s timeout

WINDOWS = [pytest.param(60.0, id="with-window"), pytest.param(0.0, id="no-window")]


def config_with(window: float, **changes):
    config = core_config(**changes)
    return config.replace(provider=dataclasses.replace(config.provider, in_doubt_window=window))


def quick_death(attempts: int) -> RetrySettings:
    """Dead-lettered after `attempts` failed attempts, a fraction of a second apart."""
    return RetrySettings(max_attempts=attempts, base_delay=0.1, max_delay=0.2, alert_threshold=attempts)


async def hold_first_create(w, x: str) -> None:
    """The first create on X waits HELD seconds at the provider before it is applied."""
    w.provider.faults.add({"id": "held", "match": {"operation": "create_binding", "x": x},
                           "action": {"kind": "latency", "distribution": "fixed", "seconds": HELD},
                           "when": {"first": 1}})


async def quiescent(w) -> None:
    """The core's queue is empty and no request is still being handled by the provider."""
    await w.settle()
    await until(lambda: w.provider.state.in_flight == 0, timeout=120)


@pytest.mark.parametrize("window", WINDOWS)
async def test_a_bind_that_lands_after_dead_lettering_is_settled_to_bind(world, window):
    w = await world(config_with(window, retry=quick_death(3)))
    [x] = w.numbers(1)
    await hold_first_create(w, x)
    status, body = await w.call("POST", f"/v1/numbers/{x}/xb", json={"b": B})
    assert status == 202
    await until(lambda: w.provider.state.in_flight == 1)
    # Every later create is refused with 503, so the operation is dead well before the held one lands.
    w.provider.faults.add({"match": {"operation": "create_binding", "x": x},
                           "action": {"kind": "status", "status": 503}})
    await quiescent(w)
    op = w.core.store.operation(body["operation_id"])
    assert (op.state, op.attempts) == ("dead", 3)
    held = w.provider_bindings(x)
    assert len(held) == 1  # the held create did land
    view = (await w.view(x))["xb"]
    if window:
        assert (view["status"], view["binding_id"]) == ("BIND", held[0].binding_id)  # adopted, not orphaned
        w.assert_agrees(x)
    else:
        assert view["status"] == "NOT_BIND"  # settled before it landed: an orphan


@pytest.mark.parametrize("window", WINDOWS)
async def test_a_bind_that_lands_after_the_row_was_unbound_is_swept(world, window):
    w = await world(config_with(window))
    [x] = w.numbers(1)
    await hold_first_create(w, x)
    _, body = await w.call("POST", f"/v1/numbers/{x}/xb", json={"b": B})
    await until(lambda: w.core.store.view(x)["xb"]["status"] == "BIND")  # the retry made it
    # The provider has forgotten the idempotency key (its key store expired): nothing absorbs the late call.
    next(d for d in w.provider.state.dialects if d.name == "native").idempotency.reset()
    assert (await w.call("DELETE", f"/v1/numbers/{x}/xb"))[0] == 202
    await until(lambda: w.core.store.view(x)["xb"]["status"] == "NOT_BIND")
    await quiescent(w)
    ops = {op.kind: op for op in w.core.store.operations()}
    if window:
        w.assert_agrees(x)
        sweep = ops["sweep"]
        assert (sweep.origin, sweep.state, sweep.outcome) == (body["operation_id"], "done", "swept")
        # It deleted the late binding, not the one the retry made (that one the unbind deleted).
        assert sweep.binding_id and sweep.binding_id != ops["bind"].binding_id
        deletes = [e.path for e in w.provider.journal.entries() if e.operation == "delete_binding" and e.status == 200]
        assert deletes == [f"/v1/bindings/{ops['bind'].binding_id}", f"/v1/bindings/{sweep.binding_id}"]
    else:
        assert "sweep" not in ops
        assert len(w.provider_bindings(x)) == 1  # the orphan: nobody's binding, X still rings B


@pytest.mark.parametrize("window", WINDOWS)
async def test_an_old_path_bind_that_times_out_stays_in_operation_until_it_can_no_longer_land(world, window):
    w = await world(config_with(window, gray=GraySettings()))  # no gray number: the synchronous path
    [x] = w.numbers(1)
    await hold_first_create(w, x)
    status, body = await w.call("POST", f"/v1/numbers/{x}/xb", json={"b": B})
    assert status == 504, body  # the caller gets the timeout
    if window:
        await until(lambda: len(w.provider_bindings(x)) == 1)
        assert w.core.store.view(x)["xb"]["status"] == "OPERATION"  # unknown yet: no guess
    await quiescent(w)
    assert len(w.provider_bindings(x)) == 1
    if window:
        assert w.core.store.view(x)["xb"]["status"] == "BIND"
        w.assert_agrees(x)
    else:
        assert w.core.store.view(x)["xb"]["status"] == "NOT_BIND"


async def test_a_sweep_waits_for_an_operation_that_holds_the_mode(world):
    w = await world(config_with(60.0))
    [x] = w.numbers(1)
    await hold_first_create(w, x)
    await w.call("POST", f"/v1/numbers/{x}/xb", json={"b": B})
    await until(lambda: w.core.store.view(x)["xb"]["status"] == "BIND")
    [bind, sweep] = w.core.store.operations()
    assert bind.in_doubt_until is not None and (sweep.kind, sweep.state) == ("sweep", "pending")
    # An unbind whose every delete times out (never applied) is dead-lettered, then settled only after its
    # own window: it holds the mode in OPERATION past the sweep's due time.
    w.provider.faults.add({"match": {"operation": "delete_binding", "x": x},
                           "action": {"kind": "timeout", "seconds": 10}})
    assert (await w.call("DELETE", f"/v1/numbers/{x}/xb"))[0] == 202
    await quiescent(w)
    ops = {op.kind: op for op in w.core.store.operations()}
    unbind, sweep = ops["unbind"], ops["sweep"]
    assert (unbind.state, unbind.outcome) == ("dead", "settled")
    assert unbind.finished_at > bind.in_doubt_until  # the sweep was due while the unbind held the mode
    assert sweep.outcome == "clean" and sweep.claims > 1 and sweep.finished_at >= unbind.finished_at
    w.assert_agrees(x)  # settled back to BIND: the deletes never happened


async def test_a_throttled_call_was_never_applied_so_a_dead_bind_settles_at_once(world):
    """429 is refused at the gate: nothing can land later, so there is nothing to wait out or sweep."""
    w = await world(config_with(60.0, retry=quick_death(2)))
    [x] = w.numbers(1)
    w.provider.faults.add({"match": {"operation": "create_binding", "x": x},
                           "action": {"kind": "status", "status": 429, "retry_after": 0}})
    _, body = await w.call("POST", f"/v1/numbers/{x}/xb", json={"b": B})
    await quiescent(w)
    op = w.core.store.operation(body["operation_id"])
    assert (op.state, op.outcome, op.in_doubt_until) == ("dead", "settled", None)
    assert op.finished_at - op.created_at < 60.0  # no in-doubt wait
    assert [o.kind for o in w.core.store.operations()] == ["bind"]  # and no sweep


async def test_a_lost_query_leaves_nothing_in_doubt(world):
    """A GET that times out changes nothing at the provider, so it does not delay settling."""
    w = await world(config_with(60.0, retry=quick_death(1)))
    [x] = w.numbers(1)
    w.provider.faults.add({"match": {"operation": "create_binding", "x": x},
                           "action": {"kind": "status", "status": 429, "retry_after": 0}})
    w.provider.faults.add({"match": {"operation": "list_bindings", "x": x},
                           "action": {"kind": "timeout", "seconds": 10}, "when": {"first": 2}})
    _, body = await w.call("POST", f"/v1/numbers/{x}/xb", json={"b": B})
    await quiescent(w)
    op = w.core.store.operation(body["operation_id"])
    assert (op.state, op.outcome, op.in_doubt_until) == ("dead", "settled", None)
    assert op.finished_at - op.created_at < 60.0  # two lookups lost, then the third settled it: no window


async def test_a_bind_that_finds_exactly_its_numbers_already_bound_adopts_that_binding(world):
    """A late call of an earlier bind of the same numbers left X -> B behind: that is what is asked for."""
    w = await world(config_with(60.0))
    [x] = w.numbers(1)
    async with w.http.post(f"{w.provider.url}/v1/bindings", json={"mode": "XB", "x": x, "b": B}) as response:
        assert response.status == 201
        stray = (await response.json())["binding_id"]
    _, body = await w.call("POST", f"/v1/numbers/{x}/xb", json={"b": B})
    await quiescent(w)
    op = w.core.store.operation(body["operation_id"])
    assert (op.outcome, op.binding_id) == ("bound", stray)
    w.assert_agrees(x)


async def test_a_bind_that_finds_x_taken_by_other_numbers_is_refused(world):
    w = await world(config_with(60.0))
    [x] = w.numbers(1)
    async with w.http.post(f"{w.provider.url}/v1/bindings", json={"mode": "XB", "x": x, "b": "13700000009"}) as response:
        assert response.status == 201
    _, body = await w.call("POST", f"/v1/numbers/{x}/xb", json={"b": B})
    await quiescent(w)
    op = w.core.store.operation(body["operation_id"])
    assert (op.state, op.outcome, op.attempts) == ("done", "refused", 0)
    assert "BIND_CONFLICT" in (op.last_error or "")
