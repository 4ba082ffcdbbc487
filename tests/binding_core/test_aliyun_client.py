"""The core speaking Aliyun dyplsapi (`[provider] dialect = "aliyun"`) to the real simulator, in virtual time.

Same cases as over the native API: XB (BindXB), AXB (BindAxb) and unbind; unknown
outcomes (ghost success, timeouts, 5xx, throttling) end with exactly the bindings
the core believes in.
"""

from __future__ import annotations

import asyncio

import pytest

from binding_core.config import ProviderSettings
from binding_core.provider.base import Ok

from .conftest import core_config

pytestmark = pytest.mark.looptime

A, B, C = "13900000001", "13800000001", "13700000001"


def aliyun_config():
    return core_config(provider=ProviderSettings(dialect="aliyun", timeout=3.0))


async def test_xb_and_axb_bind_and_unbind_over_aliyun(world) -> None:
    w = await world(config=aliyun_config())
    [x] = w.numbers(1)
    (s1, _), (s2, _) = await asyncio.gather(
        w.call("POST", f"/v1/numbers/{x}/xb", json={"b": B}),
        w.call("POST", f"/v1/numbers/{x}/axb", json={"a": A, "b": B}),
    )
    assert (s1, s2) == (202, 202)
    await w.settle()
    view = await w.view(x)
    assert view["xb"]["status"] == view["axb"]["status"] == "BIND"
    assert [(await w.place_call(n, x))["callee"] for n in (A, B, C)] == [B, A, B]
    w.assert_agrees(x)
    assert sorted(w.provider_actions("aliyun")) == ["BindAxb", "BindXB"]

    for mode in ("axb", "xb"):
        status, _ = await w.call("DELETE", f"/v1/numbers/{x}/{mode}")
        assert status == 202
    await w.settle()
    view = await w.view(x)
    assert view["xb"]["status"] == view["axb"]["status"] == "NOT_BIND"
    assert w.provider_bindings(x) == []
    assert sorted(w.provider_actions("aliyun")) == ["BindAxb", "BindXB", "UnBindXB", "UnbindSubscription"]
    w.assert_agrees(x)


async def test_a_refused_bind_ends_not_bound(world) -> None:
    w = await world(config=aliyun_config())
    [x] = w.numbers(1)
    await w.call("POST", f"/v1/numbers/{x}/xb", json={"b": B})
    await w.settle()
    w.provider.ledger.delete_binding(w.provider_bindings(x)[0].binding_id)
    w.provider.ledger.create_binding("XB", b=C, x=x)  # someone else's work number now holds X
    await w.call("DELETE", f"/v1/numbers/{x}/xb")  # "not found": done
    await w.settle()
    await w.call("POST", f"/v1/numbers/{x}/xb", json={"b": B})
    await w.settle()
    assert (await w.view(x))["xb"]["status"] == "NOT_BIND"
    [other] = w.provider_bindings(x)
    assert other.b == C


@pytest.mark.parametrize("mode,operation", [("xb", "BindXB"), ("axb", "BindAxb")])
@pytest.mark.parametrize("then", [{"then": "status", "status": 503}, {"then": "timeout", "seconds": 60}, {"then": "reset"}])
async def test_ghost_bind_is_adopted_not_duplicated(world, mode: str, operation: str, then: dict) -> None:
    w = await world(config=aliyun_config())
    [x] = w.numbers(1)
    w.provider.faults.add({"match": {"dialect": "aliyun", "operation": operation},
                           "action": {"kind": "ghost_success", **then}, "when": {"first": 1}})
    await w.call("POST", f"/v1/numbers/{x}/{mode}", json={"a": A, "b": B} if mode == "axb" else {"b": B})
    await w.settle()
    assert (await w.view(x))[mode]["status"] == "BIND"
    assert len(w.provider_bindings(x)) == 1
    w.assert_agrees(x)
    # (The journal records an exchange when it ends: a hung ghost may not be there yet.)
    sent = w.provider_actions("aliyun")
    if mode == "axb":  # looked up and adopted, never bound a second time
        assert "QuerySubsId" in sent and "QuerySubscriptionDetail" in sent and sent.count("BindAxb") <= 1
    else:  # BindXB re-sent with the same ReqId returned the ghost's binding
        assert sent.count("BindXB") >= 1

    await w.call("DELETE", f"/v1/numbers/{x}/{mode}")
    await w.settle()
    assert w.provider_bindings(x) == []
    w.assert_agrees(x)


@pytest.mark.parametrize("action", [{"kind": "status", "status": 429, "retry_after": 1},
                                    {"kind": "status", "status": 500},
                                    {"kind": "timeout", "seconds": 60},
                                    {"kind": "ghost_success", "status": 502}])
@pytest.mark.parametrize("mode,operation", [("xb", "UnBindXB"), ("axb", "UnbindSubscription")])
async def test_unbind_survives_faults(world, action: dict, mode: str, operation: str) -> None:
    w = await world(config=aliyun_config())
    [x] = w.numbers(1)
    await w.call("POST", f"/v1/numbers/{x}/{mode}", json={"a": A, "b": B} if mode == "axb" else {"b": B})
    await w.settle()
    w.provider.faults.add({"match": {"dialect": "aliyun", "operation": operation}, "action": action,
                           "when": {"first": 1}})
    await w.call("DELETE", f"/v1/numbers/{x}/{mode}")
    await w.settle()
    assert (await w.view(x))[mode]["status"] == "NOT_BIND"
    assert w.provider_bindings(x) == []
    w.assert_agrees(x)


async def test_retry_exhaustion_alerts_once_and_settles_to_what_the_provider_holds(world) -> None:
    w = await world(config=aliyun_config())
    [x] = w.numbers(1)
    w.provider.faults.add({"match": {"dialect": "aliyun", "operation": "BindAxb"},
                           "action": {"kind": "status", "status": 503}})
    await w.call("POST", f"/v1/numbers/{x}/axb", json={"a": A, "b": B})
    await w.settle()
    _, alerts = await w.call("GET", "/v1/alerts")
    assert len(alerts["alerts"]) == 1
    assert (await w.view(x))["axb"]["status"] == "NOT_BIND"  # settled by QuerySubsId: nothing there
    assert w.provider_bindings(x) == []
    assert w.provider_actions("aliyun").count("BindAxb") == w.core.config.retry.max_attempts
    w.assert_agrees(x)


@pytest.mark.parametrize("mode", ["xb", "axb"])
async def test_unbind_after_a_core_restart(world, mode: str) -> None:
    w = await world(config=aliyun_config())
    [x] = w.numbers(1)
    await w.call("POST", f"/v1/numbers/{x}/{mode}", json={"a": A, "b": B} if mode == "axb" else {"b": B})
    await w.settle()
    await w.restart_core(crash=True)  # the new core's client has never seen this binding or its X
    await w.call("DELETE", f"/v1/numbers/{x}/{mode}")
    await w.settle()
    assert (await w.view(x))[mode]["status"] == "NOT_BIND"
    assert w.provider_bindings(x) == []
    assert "ListXTelephones" in w.provider_actions("aliyun")  # X found again through the pool's numbers
    w.assert_agrees(x)


D, E = "13600000001", "13500000001"


async def test_a_lost_bind_is_found_beside_an_older_subscription_on_x(world) -> None:
    """X already carries another AXB subscription (a stray, or someone's) when the core's bind is applied but
    its answer lost: QuerySubsId names both, and the core must adopt its own, not read the older one as "none"
    (which would settle the bind NOT_BIND while its binding routes calls)."""
    w = await world(config=aliyun_config())
    [x] = w.numbers(1)
    older = w.provider.ledger.create_binding("AXB", a=D, b=E, x=x)
    w.provider.faults.add({"match": {"dialect": "aliyun", "operation": "BindAxb"},
                           "action": {"kind": "ghost_success", "status": 503}, "when": {"first": 1}})
    await w.call("POST", f"/v1/numbers/{x}/axb", json={"a": A, "b": B})
    await w.settle()
    view = await w.view(x)
    [ours] = [held for held in w.provider_bindings(x) if held.binding_id != older.binding_id]
    assert (ours.a, ours.b) == (A, B)
    assert view["axb"]["status"] == "BIND" and view["axb"]["binding_id"] == ours.binding_id
    assert w.provider_actions("aliyun").count("BindAxb") <= 2  # the ghost, then at most one conflicting retry


async def test_lookup_reads_every_subscription_on_x(world) -> None:
    """The client's lookup (what settling and the sweep ask) finds the core's binding second on X, and says
    "none" only when no subscription on X has the numbers."""
    w = await world(config=aliyun_config())
    [x] = w.numbers(1)
    w.provider.ledger.create_binding("AXB", a=D, b=E, x=x)
    ours = w.provider.ledger.create_binding("AXB", a=A, b=B, x=x)
    client = w.core.parts.provider  # the client the worker settles and sweeps with (behind the breaker)
    found = await client.find_bindings("AXB", x, B, A)
    assert isinstance(found, Ok) and [f.binding_id for f in found.value] == [ours.binding_id]
    assert await client.find_bindings("AXB", x, C, A) == Ok([])
