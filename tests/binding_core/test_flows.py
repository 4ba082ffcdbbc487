"""The core against the real simulator over loopback, in virtual time: the cases issue 3 names."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest


from .conftest import core_config, until

pytestmark = pytest.mark.looptime

A, B, C = "13900000001", "13800000001", "13700000001"


async def test_the_hard_case_xb_and_axb_on_one_x_at_once_both_bind_and_calls_route(world):
    w = await world()
    [x] = w.numbers(1)
    (s1, r1), (s2, r2) = await asyncio.gather(
        w.call("POST", f"/v1/numbers/{x}/xb", json={"b": B}),
        w.call("POST", f"/v1/numbers/{x}/axb", json={"a": A, "b": B}),
    )
    assert (s1, s2) == (202, 202), (r1, r2)
    await w.settle()
    view = await w.view(x)
    assert view["xb"]["status"] == view["axb"]["status"] == "BIND"
    assert (await w.place_call(A, x))["callee"] == B
    assert (await w.place_call(B, x))["callee"] == A
    assert (await w.place_call(C, x))["callee"] == B
    w.assert_agrees(x)


async def test_fifty_concurrent_binds_on_one_x_accept_exactly_one(world):
    w = await world()
    [x] = w.numbers(1)
    results = await asyncio.gather(
        *(w.call("POST", f"/v1/numbers/{x}/xb", json={"b": f"138000001{i:02d}"}) for i in range(50))
    )
    statuses = [s for s, _ in results]
    assert statuses.count(202) == 1 and statuses.count(409) == 49
    for status, body in results:
        if status == 409:
            assert body["code"] == "STATE_CONFLICT" and body["current"]["status"] in ("OPERATION", "BIND")
    await w.settle()
    assert len(w.provider_bindings(x)) == 1
    w.assert_agrees(x)


async def test_a_request_in_one_mode_never_fails_because_of_the_other(world):
    w = await world()
    [x] = w.numbers(1)
    w.provider.faults.add({"match": {"operation": "create_binding", "x": x}, "action": {"kind": "latency", "seconds": 2}})
    assert (await w.call("POST", f"/v1/numbers/{x}/xb", json={"b": B}))[0] == 202
    assert (await w.call("POST", f"/v1/numbers/{x}/axb", json={"a": A, "b": C}))[0] == 202
    await w.settle()
    w.assert_agrees(x)


async def test_unbind_returns_to_not_bind_and_removes_the_provider_binding(world):
    w = await world()
    [x] = w.numbers(1)
    await w.call("POST", f"/v1/numbers/{x}/xb", json={"b": B})
    await w.settle()
    status, body = await w.call("DELETE", f"/v1/numbers/{x}/xb")
    assert status == 202 and body["status"] == "OPERATION"
    await w.settle()
    assert (await w.view(x))["xb"] == {"status": "NOT_BIND", "b": None, "binding_id": None, "version": 4, "operation_id": None}
    w.assert_agrees(x)


async def test_an_unbind_answered_not_found_is_done(world):
    w = await world()
    [x] = w.numbers(1)
    await w.call("POST", f"/v1/numbers/{x}/xb", json={"b": B})
    await w.settle()
    [held] = w.provider_bindings(x)
    w.provider.ledger.delete_binding(held.binding_id)  # gone behind the core's back (e.g. expired)
    await w.call("DELETE", f"/v1/numbers/{x}/xb")
    await w.settle()
    [op] = w.core.store.operations()[-1:]
    assert op.state == "done" and op.outcome == "unbound" and op.attempts == 0
    assert (await w.view(x))["xb"]["status"] == "NOT_BIND"


async def test_retry_exhaustion_gives_one_alert_a_dead_operation_and_a_consistent_row(world):
    config = core_config()
    w = await world(config)
    [x] = w.numbers(1)
    w.provider.faults.add({"match": {"operation": "create_binding", "x": x}, "action": {"kind": "status", "status": 503}})
    status, body = await w.call("POST", f"/v1/numbers/{x}/xb", json={"b": B})
    assert status == 202
    await w.settle()
    status, op = await w.call("GET", f"/v1/operations/{body['operation_id']}")
    assert op["state"] == "dead" and op["attempts"] == config.retry.max_attempts and op["alerted"]
    assert "503" in op["last_error"]
    status, alerts = await w.call("GET", "/v1/alerts")
    assert [(a["operation_id"], a["x"], a["mode"], a["attempts"]) for a in alerts["alerts"]] == [
        (body["operation_id"], x, "XB", config.retry.alert_threshold)
    ]
    assert len(w.core.alerts) == 1
    assert (await w.view(x))["xb"]["status"] == "NOT_BIND"
    w.assert_agrees(x)
    assert (await w.call("GET", "/v1/operations?state=dead"))[1]["operations"][0]["operation_id"] == body["operation_id"]


async def test_exhaustion_after_ghost_successes_settles_to_what_the_provider_holds(world):
    w = await world()
    [x] = w.numbers(1)
    # The first attempt is applied and its answer lost; every query until attempts run out fails too.
    w.provider.faults.add({"match": {"operation": "create_binding", "x": x},
                           "action": {"kind": "ghost_success", "status": 502}})
    w.provider.faults.add({"match": {"operation": "list_bindings", "x": x},
                           "action": {"kind": "status", "status": 500}, "when": {"first": 3}})
    await w.call("POST", f"/v1/numbers/{x}/xb", json={"b": B})
    await w.settle()
    op = w.core.store.operations()[0]
    assert (op.state, op.outcome, op.attempts) == ("dead", "settled", 4)
    assert len(w.core.alerts) == 1
    assert (await w.view(x))["xb"]["status"] == "BIND"
    assert len(w.provider_bindings(x)) == 1
    w.assert_agrees(x)


@pytest.mark.parametrize("then", [{"status": 503}, {"then": "reset"}, {"then": "timeout"}])
async def test_ghost_success_on_bind_leaves_exactly_one_provider_binding(world, then):
    w = await world()
    [x] = w.numbers(1)
    w.provider.faults.add({"match": {"operation": "create_binding", "x": x},
                           "action": {"kind": "ghost_success", **then}, "when": {"first": 2}})
    await w.call("POST", f"/v1/numbers/{x}/axb", json={"a": A, "b": B})
    await w.settle()
    view = await w.view(x)
    assert view["axb"]["status"] == "BIND"
    [held] = w.provider_bindings(x)
    assert view["axb"]["binding_id"] == held.binding_id
    assert not w.core.alerts
    w.assert_agrees(x)


async def test_every_attempt_carries_the_operation_s_idempotency_key(world):
    w = await world()
    [x] = w.numbers(1)
    w.provider.faults.add({"match": {"operation": "create_binding", "x": x},
                           "action": {"kind": "status", "status": 503}, "when": {"first": 2}})
    _, body = await w.call("POST", f"/v1/numbers/{x}/xb", json={"b": B})
    await w.settle()
    creates = [e for e in (await w.journal()) if e["operation"] == "create_binding"]
    keys = {e["request_headers"].get("idempotency-key") for e in creates}
    assert len(creates) == 3 and len(keys) == 1
    [key] = keys
    assert key is not None and key.endswith(body["operation_id"])


async def test_before_re_sending_a_bind_the_core_asks_the_provider_and_adopts(world):
    """The provider forgot the idempotency key (e.g. its key store expired): only the query prevents a second bind."""
    w = await world()
    [x] = w.numbers(1)
    w.provider.faults.add({"match": {"operation": "create_binding", "x": x},
                           "action": {"kind": "ghost_success", "status": 503}, "when": {"first": 1}})
    await w.call("POST", f"/v1/numbers/{x}/axb", json={"a": A, "b": B})
    await until(lambda: len(w.provider_bindings(x)) == 1)
    native = next(d for d in w.provider.state.dialects if d.name == "native")
    native.idempotency.reset()
    await w.settle()
    assert (await w.view(x))["axb"]["status"] == "BIND"
    # The adopting query, then (once the lost call can no longer land) the sweep's look for strays.
    assert [e["operation"] for e in (await w.journal())] == ["create_binding", "list_bindings", "list_bindings"]
    [bind, sweep] = w.core.store.operations()
    assert (sweep.kind, sweep.origin, sweep.outcome) == ("sweep", bind.id, "clean")
    w.assert_agrees(x)


async def test_a_failed_commit_is_retried_and_adopts_the_binding_already_made(world, monkeypatch):
    w = await world()
    [x] = w.numbers(1)
    store = w.core.store
    real_complete = store.complete
    failures = []

    def flaky_complete(*args, **kwargs):
        if not failures:
            failures.append(1)
            raise sqlite3.OperationalError("disk I/O error")
        return real_complete(*args, **kwargs)

    monkeypatch.setattr(store, "complete", flaky_complete)
    await w.call("POST", f"/v1/numbers/{x}/xb", json={"b": B})
    await w.settle()
    assert failures and (await w.view(x))["xb"]["status"] == "BIND"
    assert len(w.provider_bindings(x)) == 1
    op = store.operations()[0]
    assert op.attempts == 1 and "commit failed" in op.last_error
    w.assert_agrees(x)


async def test_a_definite_refusal_settles_at_once_without_retries(world):
    w = await world()
    [x] = w.numbers(1)
    w.provider.ledger.create_binding("XB", x=x, b=C)  # someone else's binding: the provider refuses ours
    await w.call("POST", f"/v1/numbers/{x}/xb", json={"b": B})
    await w.settle()
    op = w.core.store.operations()[0]
    assert (op.state, op.outcome, op.attempts) == ("done", "refused", 0)
    assert "BIND_CONFLICT" in op.last_error
    assert (await w.view(x))["xb"]["status"] == "NOT_BIND"


async def test_a_crashed_core_resumes_its_operations_after_restart(world):
    w = await world()
    [x, y] = w.numbers(2)
    w.provider.faults.add({"match": {"operation": "create_binding"}, "action": {"kind": "status", "status": 503},
                           "when": {"first": 2}})
    w.provider.faults.add({"match": {"operation": "create_binding", "x": y},
                           "action": {"kind": "latency", "seconds": 2.5}})
    await w.call("POST", f"/v1/numbers/{x}/xb", json={"b": B})
    await w.call("POST", f"/v1/numbers/{y}/xb", json={"b": B})
    # x fails into backoff, y's call hangs in the provider's latency: crash now.
    await until(lambda: w.core.store.operation("op_00000001").attempts == 1)
    assert w.core.store.operation("op_00000002").state == "running"
    await w.restart_core(crash=True)
    await w.settle()
    times = [t["at"] for t in w.core.store.transitions()]
    assert times == sorted(times)  # the restarted core's clock reads on, it does not start over
    for number in (x, y):
        assert (await w.view(number))["xb"]["status"] == "BIND"
        assert len(w.provider_bindings(number)) == 1
        w.assert_agrees(number)


async def test_a_graceful_restart_hands_operations_back_at_once(world):
    w = await world()
    [x] = w.numbers(1)
    w.provider.faults.add({"match": {"operation": "create_binding"}, "action": {"kind": "latency", "seconds": 2}})
    await w.call("POST", f"/v1/numbers/{x}/xb", json={"b": B})
    await w.restart_core(crash=False)
    assert w.core.store.operations()[0].state in ("pending", "running")
    await w.settle()
    assert (await w.view(x))["xb"]["status"] == "BIND"
    w.assert_agrees(x)


async def test_an_unbind_that_exhausts_its_attempts_settles_back_to_bind_with_one_alert(world):
    w = await world()
    [x] = w.numbers(1)
    await w.call("POST", f"/v1/numbers/{x}/xb", json={"b": B})
    await w.settle()
    w.provider.faults.add({"match": {"operation": "delete_binding"}, "action": {"kind": "timeout"}})
    _, body = await w.call("DELETE", f"/v1/numbers/{x}/xb")
    await w.settle()
    op = w.core.store.operation(body["operation_id"])
    assert (op.state, op.outcome, op.attempts, op.alerted) == ("dead", "settled", 4, True)
    view = (await w.view(x))["xb"]
    assert view["status"] == "BIND"  # the provider still holds it: the row says so
    assert len(w.core.alerts) == 1
    w.assert_agrees(x)


async def test_two_cores_on_one_database_share_the_queue_and_finish_each_operation_once(world):
    """Two processes (here: two Core instances, separate connections) claim from one operations table."""
    from binding_core.app import Core
    from binding_core.clock import LoopClock
    import random as _random

    w = await world()
    numbers = w.numbers(12)
    other = await Core(w.core.config, provider_url=w.provider.url, db_path=w.db_path,
                       clock=LoopClock(epoch=w.core.parts.worker.clock.now() - asyncio.get_running_loop().time()),
                       rng=_random.Random("second core")).start()
    claimed = {"first": 0, "second": 0}
    for name, core in (("first", w.core), ("second", other)):
        def counting(*args, _real=core.store.claim, _name=name, **kwargs):
            op = _real(*args, **kwargs)
            claimed[_name] += op is not None
            return op
        core.store.claim = counting
    try:
        # half the creates fail (applied or not), so retries land in the shared queue for either core to claim
        w.provider.faults.add({"match": {"operation": "create_binding"}, "action": {"kind": "ghost_success", "status": 503},
                               "when": {"probability": 0.5}})
        for i, x in enumerate(numbers):
            url = (w.core if i % 2 else other).url
            async with w.http.post(f"{url}/v1/numbers/{x}/xb", json={"b": B}) as response:
                assert response.status == 202
        assert await w.core.wait_settled(3600) and await other.wait_settled(3600)
        assert claimed["first"] > 0 and claimed["second"] > 0, claimed  # both worked the shared queue
        assert {op.lease_owner for op in w.core.store.operations()} == {None}
        for x in numbers:
            w.assert_agrees(x)
            assert (await w.view(x))["xb"]["status"] == "BIND"
        # each operation changed its row exactly twice (in, out), whoever ran it
        per_op = {}
        for t in w.core.store.transitions():
            per_op[t["operation_id"]] = per_op.get(t["operation_id"], 0) + 1
        assert set(per_op.values()) == {2} and len(per_op) == len(numbers)
    finally:
        await other.stop()


@pytest.mark.parametrize("crash", [True, False])
async def test_an_idle_core_stops_at_once_and_its_successor_carries_on(world, crash):
    """Regression: a cancellation racing the worker's wake-up must not leave the old loop running."""
    w = await world()
    [x] = w.numbers(1)
    await w.call("POST", f"/v1/numbers/{x}/xb", json={"b": B})
    await w.settle()
    loop = asyncio.get_running_loop()
    started = loop.time()
    await w.restart_core(crash=crash)
    assert loop.time() - started < 1.0  # no waiting on anything (virtual time would show it)
    await w.call("DELETE", f"/v1/numbers/{x}/xb")
    await w.settle()
    assert (await w.view(x))["xb"]["status"] == "NOT_BIND"
    w.assert_agrees(x)


async def test_an_operation_ends_within_attempts_times_timeout_plus_backoff(world):
    """Liveness: every provider call hangs past the deadline, yet the operation is dead and settled in bounded
    (virtual) time: max_attempts x (timeout + max_delay), then the in-doubt window, plus one settling query."""
    config = core_config()
    w = await world(config)
    [x] = w.numbers(1)
    w.provider.faults.add({"match": {"operation": "create_binding"}, "action": {"kind": "timeout"}})
    w.provider.faults.add({"match": {"operation": "list_bindings"}, "action": {"kind": "timeout"},
                           "when": {"first": config.retry.max_attempts - 1}})
    loop = asyncio.get_running_loop()
    started = loop.time()
    _, body = await w.call("POST", f"/v1/numbers/{x}/xb", json={"b": B})
    await w.settle()
    took = loop.time() - started
    bound = (config.retry.max_attempts * (config.provider.timeout + config.retry.max_delay)
             + config.provider.in_doubt_window + config.provider.timeout)
    op = w.core.store.operation(body["operation_id"])
    assert (op.state, op.attempts) == ("dead", config.retry.max_attempts)
    assert took <= bound, (took, bound)
    assert (await w.view(x))["xb"]["status"] == "NOT_BIND"
