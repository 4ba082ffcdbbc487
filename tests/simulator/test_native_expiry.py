"""Expiry on the provider's own clock, under looptime virtual time (provider, webhook and client in one loop)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

A, B, C = "13900000001", "13800000002", "13700000003"

# looptime switches the loop to virtual time when the test body starts, after fixtures ran: each test
# starts its provider in the body, so the provider's clock is anchored on virtual time.
pytestmark = pytest.mark.looptime


async def _json(session: aiohttp.ClientSession, method: str, url: str, **kw: Any) -> tuple[int, Any]:
    async with session.request(method, url, **kw) as response:
        return response.status, await response.json()


async def test_a_binding_expires_on_time_and_says_so(pstnsim_provider_factory) -> None:
    url = (await pstnsim_provider_factory()).url
    loop = asyncio.get_running_loop()
    async with aiohttp.ClientSession() as s:
        _, axb = await _json(s, "POST", url + "/v1/bindings", json={"mode": "AXB", "a": A, "b": B, "expires_in": 30})
        start = loop.time()
        call = lambda: _json(s, "POST", url + "/v1/calls", json={"caller": A, "x": axb["x"]})  # noqa: E731

        await asyncio.sleep(29)
        assert (await call())[1]["outcome"] == "connected"
        await asyncio.sleep(2)
        status, seen = await _json(s, "GET", url + f"/v1/bindings/{axb['binding_id']}")
        assert status == 200 and seen["status"] == "expired" and seen["ended_at"] == seen["expires_at"]
        assert (await call())[1]["reason"] == "NO_BINDING"
        assert (await _json(s, "GET", url + "/v1/bindings"))[1]["bindings"] == []
        assert (await _json(s, "GET", url + "/v1/bindings?status=expired"))[1]["bindings"] == [seen]
        for method, body in (("PATCH", {"expires_in": 60}), ("DELETE", None)):
            status, error = await _json(s, method, url + f"/v1/bindings/{axb['binding_id']}", json=body)
            assert (status, error["code"]) == (404, "BINDING_NOT_FOUND") and "expired" in error["message"]
        # Its number is free again for a new binding of the same numbers.
        _, again = await _json(s, "POST", url + "/v1/bindings", json={"mode": "AXB", "x": axb["x"], "a": A, "b": B})
        assert again["status"] == "active"
        assert 31 <= loop.time() - start < 32  # virtual seconds
        assert axb["created_at"] == "2026-01-01T00:00:00.000Z"  # the fixture's fixed epoch, virtual t=0


async def test_patch_extends_the_expiry_so_the_binding_outlives_its_first_deadline(pstnsim_provider_factory) -> None:
    url = (await pstnsim_provider_factory()).url
    async with aiohttp.ClientSession() as s:
        _, xb = await _json(s, "POST", url + "/v1/bindings", json={"mode": "XB", "b": B, "expires_in": 60})
        await asyncio.sleep(50)
        status, extended = await _json(s, "PATCH", url + f"/v1/bindings/{xb['binding_id']}", json={"expires_in": 120})
        assert status == 200
        await asyncio.sleep(100)  # 150 s after creation: past the first deadline, before the new one
        assert (await _json(s, "GET", url + f"/v1/bindings/{xb['binding_id']}"))[1]["status"] == "active"
        await asyncio.sleep(21)
        assert (await _json(s, "GET", url + f"/v1/bindings/{xb['binding_id']}"))[1]["status"] == "expired"


async def test_expiry_and_calls_are_pushed_to_the_webhook_as_native_json(pstnsim_provider_factory) -> None:
    received: list[dict[str, Any]] = []
    arrived = asyncio.Condition()

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        async with arrived:
            arrived.notify_all()
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/hook", hook)
    async with TestServer(app, host="127.0.0.1") as receiver:
        provider = await pstnsim_provider_factory(webhook_url=str(receiver.make_url("/hook")))
        async with aiohttp.ClientSession() as s:
            _, xb = await _json(s, "POST", provider.url + "/v1/bindings", json={"mode": "XB", "b": B, "expires_in": 600})
            _, call = await _json(s, "POST", provider.url + "/v1/calls", json={"caller": C, "x": xb["x"]})
            # No more requests: the provider's own sweeper must notice the expiry at virtual t=600.
            async with arrived:
                await asyncio.wait_for(arrived.wait_for(lambda: len(received) >= 2), timeout=700)
    by_event = {body["event"]: body for body in received}
    assert by_event["call"]["data"] == call and by_event["call"]["event_id"] == call["call_id"]
    expired = by_event["binding_expired"]
    assert expired["event_id"] == f"{xb['binding_id']}:expired"
    assert expired["data"] == {**xb, "status": "expired", "ended_at": xb["expires_at"]}
    assert expired["at"] == xb["expires_at"]


async def test_queries_honour_delayed_visibility(pstnsim_provider_factory) -> None:
    """Ghost failure: the create answered 201, but the query API shows nothing for 5 s; a delete lingers."""
    provider = await pstnsim_provider_factory()
    for operation in ("create_binding", "delete_binding"):
        provider.faults.add({"match": {"operation": operation},
                             "action": {"kind": "delayed_visibility", "seconds": 5}, "when": {"first": 1}})
    async with aiohttp.ClientSession() as s:
        status, xb = await _json(s, "POST", provider.url + "/v1/bindings", json={"mode": "XB", "b": B})
        path = provider.url + f"/v1/bindings/{xb['binding_id']}"
        assert status == 201 and (await _json(s, "GET", path))[0] == 404
        assert (await _json(s, "GET", provider.url + "/v1/bindings", params={"b": B}))[1]["bindings"] == []
        assert (await _json(s, "POST", provider.url + "/v1/calls", json={"caller": C, "x": xb["x"]}))[1]["callee"] == B
        await asyncio.sleep(5)
        assert (await _json(s, "GET", path)) == (200, xb)
        assert (await _json(s, "DELETE", path))[0] == 200
        assert (await _json(s, "GET", path)) == (200, xb)  # the query API still shows it active
        await asyncio.sleep(5)
        assert (await _json(s, "GET", path))[0] == 404
