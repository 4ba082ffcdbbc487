"""Tencent's wire edge through a real aiohttp client in the test's loop: bad input, exact envelopes, pushes.

Requests are signed here with the dialect's own signing functions (the SDK tests
prove those agree with the SDK), on the provider's clock, so the tests run in the
provider's fixed-epoch time.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from simulator.dialects.tencent import signing
from simulator.server import Provider
from simulator.testing import loopback_server

A, B, N = "13900000001", "13800000001", "13700000009"
SECRET_ID, SECRET_KEY = "pstnsim-id", "pstnsim-secret"


@pytest.fixture
async def provider(pstnsim_provider_factory: Any) -> Provider:
    return await pstnsim_provider_factory()


def tc3_headers(provider: Provider, action: str, body: bytes, **overrides: str) -> dict[str, str]:
    timestamp = int(provider.ledger.clock.now())
    host = f"127.0.0.1:{provider.port}"
    headers = {"Content-Type": "application/json", "Host": host}
    canonical = signing.tc3_canonical_request("POST", "", {"content-type": "application/json", "host": host},
                                              ("content-type", "host"), body)
    headers.update({
        "X-TC-Action": action,
        "X-TC-Version": "2019-08-23",
        "X-TC-Timestamp": str(timestamp),
        "Authorization": signing.tc3_authorization(SECRET_ID, SECRET_KEY, timestamp, canonical),
    })
    headers.update(overrides)
    return {k: v for k, v in headers.items() if v != ""}


async def send(provider: Provider, action: str, body: bytes | dict, **header_overrides: str) -> tuple[int, str, dict]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{provider.url}/", data=raw, headers=tc3_headers(provider, action, raw, **header_overrides)) as r:
            return r.status, r.headers.get("Content-Type", ""), await r.json(content_type=None)


def error_code(reply: tuple[int, str, dict]) -> str:
    status, content_type, body = reply
    assert status == 200 and content_type == "application/json", reply  # exactly: the SDK needs it
    assert body["Response"]["RequestId"]
    return body["Response"]["Error"]["Code"]


BIND = {"BizAppId": "pstnsim", "Dst": "0086" + B}


async def test_a_signed_bind_succeeds_with_the_exact_content_type(provider: Provider) -> None:
    status, content_type, body = await send(provider, "GetVirtualNum", BIND)
    assert (status, content_type) == (200, "application/json")
    assert body["Response"]["ErrorCode"] == "0" and body["Response"]["VirtualNum"].startswith("0086")


@pytest.mark.parametrize(
    "body,code,words",
    [
        (b'{"BizAppId": "pstnsim", "Dst": ', "InvalidParameter", "not valid JSON"),
        (b'["pstnsim"]', "InvalidParameter", "JSON object"),
        ({**BIND, "Colour": "blue"}, "UnknownParameter", "Colour"),
        ({**BIND, "Dst": 8613800000001}, "InvalidParameter", "Dst must be a string"),
        ({**BIND, "AccreditList": "0086" + N}, "InvalidParameter", "AccreditList"),
        ({"Dst": "0086" + B}, "MissingParameter", "BizAppId"),
        ({**BIND, "Dst": ""}, "MissingParameter", "Dst"),
    ],
)
async def test_bad_bodies_are_refused_naming_the_problem_and_bind_nothing(
    provider: Provider, body: bytes | dict, code: str, words: str
) -> None:
    reply = await send(provider, "GetVirtualNum", body)
    assert error_code(reply) == code
    assert words in reply[2]["Response"]["Error"]["Message"]
    assert provider.ledger.bindings() == []


@pytest.mark.parametrize(
    "headers,code",
    [
        ({"X-TC-Version": "2017-03-12"}, "NoSuchVersion"),
        ({"X-TC-Version": ""}, "MissingParameter"),
        ({"Authorization": ""}, "AuthFailure.InvalidAuthorization"),
        ({"Authorization": "Basic cHN0bnNpbTpzZWNyZXQ="}, "AuthFailure.InvalidAuthorization"),
        ({"X-TC-Timestamp": "yesterday"}, "AuthFailure.InvalidAuthorization"),
        ({"X-TC-Timestamp": ""}, "MissingParameter"),
        ({"X-TC-Action": "DescribeInstances"}, "InvalidAction"),
    ],
)
async def test_bad_headers_are_gateway_errors(provider: Provider, headers: dict, code: str) -> None:
    assert error_code(await send(provider, "GetVirtualNum", BIND, **headers)) == code
    assert provider.ledger.bindings() == []


async def test_credential_date_must_be_the_timestamps_utc_date(provider: Provider) -> None:
    raw = json.dumps(BIND).encode()
    headers = tc3_headers(provider, "GetVirtualNum", raw)
    headers["Authorization"] = headers["Authorization"].replace(signing.utc_date(int(headers["X-TC-Timestamp"])), "2020-01-01")
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{provider.url}/", data=raw, headers=headers) as r:
            body = await r.json(content_type=None)
    assert body["Response"]["Error"]["Code"] == "AuthFailure.SignatureFailure"


async def test_legacy_form_without_signature_is_missing_parameter(provider: Provider) -> None:
    form = {"Action": "GetVirtualNum", "Version": "2019-08-23", "SecretId": SECRET_ID, "Nonce": "1",
            "Timestamp": str(int(provider.ledger.clock.now())), "BizAppId": "pstnsim", "Dst": "0086" + B}
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{provider.url}/", data=form) as r:
            body = await r.json(content_type=None)
    assert body["Response"]["Error"]["Code"] == "MissingParameter" and "Signature" in body["Response"]["Error"]["Message"]


async def test_oversize_body_is_refused_and_binds_nothing(provider: Provider) -> None:
    huge = json.dumps({**BIND, "BizId": "x" * (provider.config.max_body_bytes + 1)}).encode()
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{provider.url}/", data=huge, headers=tc3_headers(provider, "GetVirtualNum", huge)) as r:
            # the gateway's envelope, as for any refusal (HTTP 200: the SDK raises it by code)
            assert r.status == 200
            assert (await r.json())["Response"]["Error"]["Code"] == "RequestSizeLimitExceeded"
    assert provider.ledger.bindings() == []


async def test_unbind_is_journaled_with_the_bindings_numbers(provider: Provider) -> None:
    _, _, bound = await send(provider, "GetVirtualNum", {**BIND, "Src": "0086" + A})
    bind_id = bound["Response"]["BindId"]
    await send(provider, "DelVirtualNum", {"BizAppId": "pstnsim", "BindId": bind_id})
    entries = [e for e in provider.journal.entries() if e.dialect == "tencent"]
    assert [(e.operation, e.a, e.b) for e in entries] == [("GetVirtualNum", A, B), ("DelVirtualNum", A, B)]
    assert entries[1].x == bound["Response"]["VirtualNum"][4:]


# ---- pushes to the per-binding URLs -------------------------------------------------


@pytest.fixture
async def receiver() -> Any:
    """A webhook receiver answering as Tencent asks: 200, text/plain, empty body."""
    got: list[tuple[str, dict]] = []
    app = web.Application()

    async def collect(request: web.Request) -> web.Response:
        got.append((request.path, await request.json()))
        return web.Response(text="", content_type="text/plain", charset="utf-8")

    app.router.add_post("/{kind}", collect)
    async with loopback_server(app) as url:
        yield url, got


async def place_call(provider: Provider, caller: str, x: str) -> dict:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{provider.url}/v1/calls", json={"caller": caller, "x": x}) as r:
            assert r.status in (200, 201)
            call = await r.json()
    await asyncio.wait_for(provider.pusher.drain(), 10)
    return call


async def test_connected_call_pushes_status_hangup_and_recording(provider: Provider, receiver: Any) -> None:
    base, got = receiver
    _, _, bound = await send(provider, "GetVirtualNum", {
        **BIND, "Src": "0086" + A, "Record": "1", "StatusFlag": "16191",
        "StatusUrl": f"{base}/status", "HangupUrl": f"{base}/hangup", "RecordUrl": f"{base}/record",
    })
    x = bound["Response"]["VirtualNum"][4:]
    call = await place_call(provider, A, x)
    statuses = [(body["userFlag"], body["callStatus"]) for path, body in got if path == "/status"]
    assert statuses == [("src", "invite"), ("dst", "invite"), ("dst", "ringing"), ("src", "ringing"),
                        ("dst", "answered"), ("src", "answered"), ("src", "disaccept"), ("dst", "disaccept")]
    [hangup] = [body for path, body in got if path == "/hangup"]
    assert (hangup["callId"], hangup["bindId"], hangup["src"], hangup["dst"], hangup["dstVirtualNum"]) == (
        call["call_id"], bound["Response"]["BindId"], "0086" + A, "0086" + B, "0086" + x)
    assert hangup["requestId"] == bound["Response"]["RequestId"] and hangup["appId"] == "pstnsim"
    assert hangup["callEndStatus"] == "1" and hangup["callEndStatusDetail"] == "1"
    [record] = [body for path, body in got if path == "/record"]
    assert record["recordUrl"] == hangup["recordUrl"] and record["callId"] == call["call_id"]


async def test_status_flag_filters_and_rejected_calls_report_failure(provider: Provider, receiver: Any) -> None:
    base, got = receiver
    _, _, bound = await send(provider, "GetVirtualNum", {
        **BIND, "StatusFlag": str(4 | 32), "StatusUrl": f"{base}/status", "HangupUrl": f"{base}/hangup",
    })
    x = bound["Response"]["VirtualNum"][4:]
    await place_call(provider, N, x)  # connected to B: only the caller's "answered" passes the flag
    await place_call(provider, B, x)  # B dials its own X: rejected, the caller's "failed"
    assert [(p, b.get("callStatus")) for p, b in got if p == "/status"] == [("/status", "answered"), ("/status", "failed")]
    assert [b["callEndStatus"] for p, b in got if p == "/hangup"] == ["1", "3"]
    assert not [p for p, _ in got if p == "/record"]  # Record was not asked for


async def test_bindings_made_elsewhere_push_nothing_in_tencent_shape(provider: Provider, receiver: Any) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{provider.url}/v1/bindings", json={"mode": "XB", "b": B}) as r:
            x = (await r.json())["x"]
    await place_call(provider, N, x)
    assert receiver[1] == []
    assert not [d for d in provider.pusher.deliveries() if d.dialect == "tencent"]
