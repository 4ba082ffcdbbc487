"""The core speaking Tencent NPP (`[provider] dialect = "tencent"`) to the real simulator, in virtual time.

Same cases as over the native API: XB, AXB and unbind; unknown outcomes (ghost
success, timeouts, 5xx) end with exactly the bindings the core believes in.
"""

from __future__ import annotations

import asyncio

import pytest

from binding_core.config import ProviderSettings

from .conftest import core_config

pytestmark = pytest.mark.looptime

A, B, C = "13900000001", "13800000001", "13700000001"


def assert_agrees_with_references(w, x: str) -> None:
    """As World.assert_agrees, and every binding the core holds still has an NPP reference."""
    for held in w.assert_agrees(x):
        assert held.extra["tencent"]["ref_num"] >= 1


def tencent_config(**retry: object):
    config = core_config(provider=ProviderSettings(dialect="tencent", timeout=3.0))
    return config.replace(retry=config.retry.__class__(**{**config.retry.__dict__, **retry})) if retry else config


async def test_xb_and_axb_bind_and_unbind_over_tencent(world) -> None:
    w = await world(config=tencent_config())
    [x] = w.numbers(1)
    (s1, _), (s2, _) = await asyncio.gather(
        w.call("POST", f"/v1/numbers/{x}/xb", json={"b": B}),
        w.call("POST", f"/v1/numbers/{x}/axb", json={"a": A, "b": B}),
    )
    assert (s1, s2) == (202, 202)
    await w.settle()
    view = await w.view(x)
    assert view["xb"]["status"] == view["axb"]["status"] == "BIND"
    assert (await w.place_call(A, x))["callee"] == B
    assert (await w.place_call(C, x))["callee"] == B
    assert_agrees_with_references(w, x)
    assert sorted(w.provider_actions("tencent")) == ["GetVirtualNum", "GetVirtualNum"]
    assert [e.dialect for e in w.provider.journal.entries() if e.path == "/"] == ["tencent", "tencent"]

    for mode in ("axb", "xb"):
        status, _ = await w.call("DELETE", f"/v1/numbers/{x}/{mode}")
        assert status == 202
    await w.settle()
    view = await w.view(x)
    assert view["xb"]["status"] == view["axb"]["status"] == "NOT_BIND"
    assert w.provider_bindings(x) == []
    assert_agrees_with_references(w, x)


@pytest.mark.parametrize("then", [{"then": "status", "status": 503}, {"then": "timeout", "seconds": 60}, {"then": "reset"}])
async def test_ghost_bind_is_adopted_not_duplicated(world, then: dict) -> None:
    w = await world(config=tencent_config())
    [x] = w.numbers(1)
    w.provider.faults.add({"match": {"dialect": "tencent", "operation": "GetVirtualNum"},
                           "action": {"kind": "ghost_success", **then}, "when": {"first": 1}})
    await w.call("POST", f"/v1/numbers/{x}/xb", json={"b": B})
    await w.settle()
    assert (await w.view(x))["xb"]["status"] == "BIND"
    [binding] = w.provider_bindings(x)
    assert binding.extra["tencent"]["ref_num"] == 1  # the probe gave its reference back
    assert_agrees_with_references(w, x)

    await w.call("DELETE", f"/v1/numbers/{x}/xb")
    await w.settle()
    assert w.provider_bindings(x) == []


@pytest.mark.parametrize("action", [{"kind": "status", "status": 429, "retry_after": 1},
                                    {"kind": "status", "status": 500},
                                    {"kind": "timeout", "seconds": 60},
                                    {"kind": "ghost_success", "status": 502}])
async def test_unbind_survives_faults(world, action: dict) -> None:
    w = await world(config=tencent_config())
    [x] = w.numbers(1)
    await w.call("POST", f"/v1/numbers/{x}/axb", json={"a": A, "b": B})
    await w.settle()
    w.provider.faults.add({"match": {"dialect": "tencent", "operation": "DelVirtualNum"}, "action": action,
                           "when": {"first": 1}})
    await w.call("DELETE", f"/v1/numbers/{x}/axb")
    await w.settle()
    assert (await w.view(x))["axb"]["status"] == "NOT_BIND"
    assert w.provider_bindings(x) == []
    assert_agrees_with_references(w, x)


async def test_retry_exhaustion_alerts_once_and_settles_when_the_provider_answers(world) -> None:
    w = await world(config=tencent_config())
    [x] = w.numbers(1)
    rule = w.provider.faults.add({"match": {"dialect": "tencent", "operation": "GetVirtualNum"},
                                  "action": {"kind": "ghost_success", "status": 503}})
    await w.call("POST", f"/v1/numbers/{x}/xb", json={"b": B})
    # Every attempt is applied and its reply lost. Settling needs an answer (NPP's only lookup is a
    # GetVirtualNum probe), so lift the fault once the operation is dead-lettered: poll in virtual time.
    deadline = asyncio.get_running_loop().time() + 600
    while True:
        _, listed = await w.call("GET", "/v1/operations")
        [op] = listed["operations"]
        if op["phase"] == "settle":
            break
        assert asyncio.get_running_loop().time() < deadline, op
        await asyncio.sleep(1)
    assert op["attempts"] == w.core.config.retry.max_attempts
    w.provider.faults.remove(rule.id)
    await w.settle()
    _, alerts = await w.call("GET", "/v1/alerts")
    assert len(alerts["alerts"]) == 1
    assert (await w.view(x))["xb"]["status"] == "BIND"  # the provider holds it: the core adopts it
    [binding] = w.provider_bindings(x)
    assert binding.extra["tencent"]["ref_num"] >= 1
    assert_agrees_with_references(w, x)


async def test_a_lost_bind_is_found_beside_another_binding_on_x(world) -> None:
    """X already carries another AXB binding when the core's bind is applied but its answer lost: the probe
    (GetVirtualNum with the core's own numbers) reuses the core's binding whatever else X carries, so the
    lookup finds it and never reads "X is taken" as "ours is absent"."""
    w = await world(config=tencent_config())
    [x] = w.numbers(1)
    older = w.provider.ledger.create_binding("AXB", a="13600000001", b="13500000001", x=x)
    w.provider.faults.add({"match": {"dialect": "tencent", "operation": "GetVirtualNum"},
                           "action": {"kind": "ghost_success", "status": 503}, "when": {"first": 1}})
    await w.call("POST", f"/v1/numbers/{x}/axb", json={"a": A, "b": B})
    await w.settle()
    [ours] = [held for held in w.provider_bindings(x) if held.binding_id != older.binding_id]
    assert (ours.a, ours.b) == (A, B)
    view = await w.view(x)
    assert view["axb"]["status"] == "BIND" and view["axb"]["binding_id"] == ours.binding_id
    assert ours.extra["tencent"]["ref_num"] == 1  # the probe gave its reference back
