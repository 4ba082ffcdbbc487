"""The core speaking Volcengine vms (`[provider] dialect = "volcengine"`) to the real simulator, in virtual time.

XB (as AXN) and AXB bind and unbind; unknown outcomes (ghost success, timeouts,
5xx, throttling) end with exactly the bindings the core believes in: the core
sends each call once and settles by QuerySubscriptionForList, unlike the SDK.
"""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from binding_core.clock import LoopClock
from binding_core.config import ProviderSettings
from binding_core.provider.base import Ok, Unknown
from binding_core.provider.volcengine import VolcengineClient, v4_headers
from simulator.dialects.volcengine import signing

from .conftest import core_config

pytestmark = pytest.mark.looptime

A, B, C = "13900000001", "13800000001", "13700000001"


def volc_config(**provider: object):
    return core_config(provider=ProviderSettings(dialect="volcengine", timeout=3.0, **provider))


def test_the_core_signs_as_the_simulator_verifies() -> None:
    """Two independent writings of the V4 signature agree (the SDK-driven tests pin the simulator's)."""
    body = b"NumberPoolNo=NP1&PhoneNoA=13900000001"
    headers = v4_headers("BindAXN", body, "127.0.0.1:8090", 1_800_000_000, "ak", "sk")
    auth = signing.parse_authorization(headers["Authorization"])
    lower = {k.lower(): v for k, v in headers.items()}
    canonical = signing.canonical_request("POST", "/", signing.canonical_query([("Action", "BindAXN"), ("Version", "2022-01-01")]),
                                          lower, auth.signed_headers, body)
    scope = f"{auth.date}/{auth.region}/{auth.service}/request"
    expected = signing.signature("sk", auth.date, auth.region, auth.service,
                                 signing.string_to_sign(headers["X-Date"], scope, canonical))
    assert auth.signature == expected and auth.signed_headers == ("content-type", "host", "x-content-sha256", "x-date")


async def test_xb_and_axb_bind_and_unbind_over_volcengine(world) -> None:
    w = await world(config=volc_config())
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
    w.assert_agrees(x)
    assert sorted(w.provider_actions("volcengine")) == ["BindAXB", "BindAXN"]

    for mode in ("axb", "xb"):
        status, _ = await w.call("DELETE", f"/v1/numbers/{x}/{mode}")
        assert status == 202
    await w.settle()
    view = await w.view(x)
    assert view["xb"]["status"] == view["axb"]["status"] == "NOT_BIND"
    assert w.provider_bindings(x) == []
    assert sorted(w.provider_actions("volcengine"))[-2:] == ["UnbindAXB", "UnbindAXN"]


@pytest.mark.parametrize("mode,action", [("xb", "BindAXN"), ("axb", "BindAXB")])
@pytest.mark.parametrize("then", [{"then": "status", "status": 503}, {"then": "timeout", "seconds": 60}, {"then": "reset"}])
async def test_ghost_bind_is_adopted_not_duplicated(world, mode: str, action: str, then: dict) -> None:
    w = await world(config=volc_config())
    [x] = w.numbers(1)
    w.provider.faults.add({"match": {"dialect": "volcengine", "operation": action},
                           "action": {"kind": "ghost_success", **then}, "when": {"first": 1}})
    await w.call("POST", f"/v1/numbers/{x}/{mode}", json={"a": A, "b": B} if mode == "axb" else {"b": B})
    await w.settle()
    assert (await w.view(x))[mode]["status"] == "BIND"
    [binding] = w.provider_bindings(x)
    w.assert_agrees(x)
    await w.call("DELETE", f"/v1/numbers/{x}/{mode}")
    await w.settle()
    assert w.provider_bindings(x) == []


@pytest.mark.parametrize("action", [{"kind": "status", "status": 429, "retry_after": 1},
                                    {"kind": "status", "status": 500},
                                    {"kind": "timeout", "seconds": 60},
                                    {"kind": "ghost_success", "status": 502}])
async def test_unbind_survives_faults(world, action: dict) -> None:
    w = await world(config=volc_config())
    [x] = w.numbers(1)
    await w.call("POST", f"/v1/numbers/{x}/axb", json={"a": A, "b": B})
    await w.settle()
    w.provider.faults.add({"match": {"dialect": "volcengine", "operation": "UnbindAXB"}, "action": action,
                           "when": {"first": 1}})
    await w.call("DELETE", f"/v1/numbers/{x}/axb")
    await w.settle()
    assert (await w.view(x))["axb"]["status"] == "NOT_BIND"
    assert w.provider_bindings(x) == []
    w.assert_agrees(x)


async def test_a_wrong_secret_is_an_auth_failure_not_a_business_refusal(world) -> None:
    w = await world(config=volc_config(volcengine_secret_access_key="wrong"))
    [x] = w.numbers(1)
    await w.call("POST", f"/v1/numbers/{x}/xb", json={"b": B})
    deadline = asyncio.get_running_loop().time() + 120
    while True:
        _, health = await w.call("GET", "/health")
        if health.get("status") == "degraded":
            break
        assert asyncio.get_running_loop().time() < deadline, health
        await asyncio.sleep(1)
    assert w.provider_bindings(x) == []
    assert "wrong" not in str(await w.journal())


async def test_a_lookup_with_an_unreadable_record_is_unknown_not_none() -> None:
    """A QuerySubscriptionForList row without a SubId may be the core's binding: the lookup answers Unknown
    (settling waits and asks again) instead of "none there" (which would settle a bind NOT_BIND)."""
    rows: list[object] = [{"Status": 1, "PhoneNoX": C, "PhoneNoA": A, "PhoneNoB": B}]  # its SubId lost

    async def query(request: web.Request) -> web.Response:
        return web.json_response({"ResponseMetadata": {"Action": request.query["Action"]},
                                  "Result": {"Records": rows, "Total": len(rows)}})

    app = web.Application()
    app.router.add_post("/", query)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    client = VolcengineClient(f"http://127.0.0.1:{port}", access_key_id="ak", secret_access_key="sk",
                              number_pool_no="NP1", clock=LoopClock(), timeout=3.0, connect_timeout=1.0)
    try:
        found = await client.find_bindings("AXB", C, B, A)
        assert isinstance(found, Unknown) and not found.may_apply
        rows[0] = {**rows[0], "SubId": "S1"}  # readable: found
        found = await client.find_bindings("AXB", C, B, A)
        assert isinstance(found, Ok) and [f.binding_id for f in found.value] == ["S1"]
    finally:
        await client.close()
        await runner.cleanup()
