"""Bad input on every native endpoint: a 4xx with a stable code naming the problem, and the ledger unchanged."""

from __future__ import annotations

import json
from typing import Any, AsyncIterator

import aiohttp
import pytest

from simulator.server import Provider

A, B, C = "13900000001", "13800000002", "13700000003"
XB = {"mode": "XB", "b": B}


def body(value: Any) -> dict[str, Any]:
    return {"data": json.dumps(value), "headers": {"Content-Type": "application/json"}}


def raw(data: bytes) -> dict[str, Any]:
    return {"data": data, "headers": {"Content-Type": "application/json"}}


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), 8192):
        yield data[start : start + 8192]


OVERSIZE = b'{"mode": "XB", "b": "' + b"1" * 70_000 + b'"}'

# (method, path, request kwargs, status, code, field named or None). {xb} and {call} are real ids.
CASES: list[tuple[str, str, dict[str, Any], int, str, str | None]] = [
    # POST /v1/bindings
    ("POST", "/v1/bindings", raw(b"{bad"), 400, "MALFORMED_JSON", None),
    ("POST", "/v1/bindings", raw(b""), 400, "MALFORMED_JSON", None),
    ("POST", "/v1/bindings", raw(b"\xff\xfe{}"), 400, "MALFORMED_JSON", None),
    ("POST", "/v1/bindings", raw(b"[" * 30_000 + b"]" * 30_000), 400, "MALFORMED_JSON", None),
    ("POST", "/v1/bindings", body([XB]), 400, "INVALID_ARGUMENT", None),
    ("POST", "/v1/bindings", body("XB"), 400, "INVALID_ARGUMENT", None),
    ("POST", "/v1/bindings", body({**XB, "zone": "east"}), 400, "UNKNOWN_FIELD", "zone"),
    ("POST", "/v1/bindings", body({"b": B}), 400, "INVALID_ARGUMENT", "mode"),
    ("POST", "/v1/bindings", body({"mode": "XY", "b": B}), 400, "INVALID_ARGUMENT", "mode"),
    ("POST", "/v1/bindings", body({"mode": 1, "b": B}), 400, "INVALID_ARGUMENT", "mode"),
    ("POST", "/v1/bindings", body({"mode": "XB", "b": 13800000002}), 400, "INVALID_ARGUMENT", "b"),
    ("POST", "/v1/bindings", body({"mode": "XB", "b": None}), 400, "INVALID_ARGUMENT", "b"),
    ("POST", "/v1/bindings", body({"mode": "XB", "b": "12345"}), 400, "INVALID_NUMBER", "b"),
    ("POST", "/v1/bindings", body({"mode": "XB", "b": "+1 415 555 0100"}), 400, "INVALID_NUMBER", "b"),
    ("POST", "/v1/bindings", body({"mode": "XB", "b": B + "\n"}), 400, "INVALID_NUMBER", "b"),
    ("POST", "/v1/bindings", body({**XB, "x": "1380000000x"}), 400, "INVALID_NUMBER", "x"),
    ("POST", "/v1/bindings", body({**XB, "expires_in": True}), 400, "INVALID_ARGUMENT", "expires_in"),
    ("POST", "/v1/bindings", body({**XB, "expires_in": 0}), 400, "INVALID_ARGUMENT", "expires_in"),
    ("POST", "/v1/bindings", body({**XB, "expires_in": -60}), 400, "INVALID_ARGUMENT", "expires_in"),
    ("POST", "/v1/bindings", body({**XB, "expires_in": 1.5}), 400, "INVALID_ARGUMENT", "expires_in"),
    ("POST", "/v1/bindings", body({**XB, "expires_in": "60"}), 400, "INVALID_ARGUMENT", "expires_in"),
    ("POST", "/v1/bindings", body({**XB, "expires_in": 10**12}), 400, "INVALID_ARGUMENT", "expires_in"),
    ("POST", "/v1/bindings", raw(b'{"mode": "XB", "b": "13800000002", "expires_in": NaN}'), 400, "INVALID_ARGUMENT", "expires_in"),
    ("POST", "/v1/bindings", body({**XB, "a": A}), 400, "INVALID_ARGUMENT", "a"),
    ("POST", "/v1/bindings", body({"mode": "AXB", "b": B}), 400, "INVALID_ARGUMENT", "a"),
    ("POST", "/v1/bindings", body({"mode": "AXB", "a": B, "b": "+86" + B}), 400, "INVALID_ARGUMENT", "b"),
    ("POST", "/v1/bindings", body({**XB, "city": ""}), 400, "INVALID_ARGUMENT", "city"),
    ("POST", "/v1/bindings", body({**XB, "city": 7}), 400, "INVALID_ARGUMENT", "city"),
    ("POST", "/v1/bindings", body({**XB, "city": "c" * 65}), 400, "INVALID_ARGUMENT", "city"),
    ("POST", "/v1/bindings?dry_run=1", body(XB), 400, "UNKNOWN_FIELD", "dry_run"),
    ("POST", "/v1/bindings", {**body(XB), "headers": {"Idempotency-Key": "has space"}}, 400, "INVALID_ARGUMENT", "Idempotency-Key"),
    ("POST", "/v1/bindings", raw(OVERSIZE), 413, "PAYLOAD_TOO_LARGE", None),
    ("POST", "/v1/bindings", {"data": "chunked", "headers": {"Content-Type": "application/json"}}, 413,
     "PAYLOAD_TOO_LARGE", None),
    # JSON only as JSON (a web page can POST text/plain cross-site without asking), each key once
    ("POST", "/v1/bindings", {"data": json.dumps(XB)}, 415, "UNSUPPORTED_MEDIA_TYPE", None),
    ("POST", "/v1/bindings", {"data": json.dumps(XB), "headers": {"Content-Type": "text/plain"}}, 415,
     "UNSUPPORTED_MEDIA_TYPE", None),
    ("POST", "/v1/bindings", raw(b'{"mode": "XB", "b": "13800000002", "b": "13700000003"}'), 400, "DUPLICATE_KEY", "b"),
    ("POST", "/v1/calls", raw(b'{"caller": "13900000001", "x": {"a": 1, "a": 2}}'), 400, "DUPLICATE_KEY", "a"),
    # GET /v1/bindings
    ("GET", "/v1/bindings?mode=XY", {}, 400, "INVALID_ARGUMENT", "mode"),
    ("GET", "/v1/bindings?status=released", {}, 400, "INVALID_ARGUMENT", "status"),
    ("GET", "/v1/bindings?x=123", {}, 400, "INVALID_NUMBER", "x"),
    ("GET", f"/v1/bindings?a={A}&a={C}", {}, 400, "INVALID_ARGUMENT", "a"),
    ("GET", "/v1/bindings?page=10", {}, 400, "UNKNOWN_FIELD", "page"),
    ("GET", "/v1/bindings?limit=0", {}, 400, "INVALID_ARGUMENT", "limit"),
    ("GET", "/v1/bindings?limit=1001", {}, 400, "INVALID_ARGUMENT", "limit"),
    ("GET", "/v1/bindings?limit=1&limit=2", {}, 400, "INVALID_ARGUMENT", "limit"),
    ("GET", "/v1/bindings?after=" + "b" * 65, {}, 400, "INVALID_ARGUMENT", "after"),
    # GET, PATCH, DELETE /v1/bindings/{id}
    ("GET", "/v1/bindings/bnd_99999999", {}, 404, "BINDING_NOT_FOUND", None),
    ("GET", "/v1/bindings/{xb}?verbose=1", {}, 400, "UNKNOWN_FIELD", "verbose"),
    ("PATCH", "/v1/bindings/bnd_99999999", body({"b": C}), 404, "BINDING_NOT_FOUND", None),
    ("PATCH", "/v1/bindings/{xb}", body({}), 400, "INVALID_ARGUMENT", None),
    ("PATCH", "/v1/bindings/{xb}", body({"b": C, "mode": "AXB"}), 400, "UNKNOWN_FIELD", "mode"),
    ("PATCH", "/v1/bindings/{xb}", body({"b": "0"}), 400, "INVALID_NUMBER", "b"),
    ("PATCH", "/v1/bindings/{xb}", body({"expires_in": False}), 400, "INVALID_ARGUMENT", "expires_in"),
    ("PATCH", "/v1/bindings/{xb}", body([{"b": C}]), 400, "INVALID_ARGUMENT", None),
    ("PATCH", "/v1/bindings/{xb}", raw(b'{"b": '), 400, "MALFORMED_JSON", None),
    ("PATCH", "/v1/bindings/{xb}", raw(OVERSIZE), 413, "PAYLOAD_TOO_LARGE", None),
    ("PATCH", "/v1/bindings/{xb}", {"data": json.dumps({"b": C})}, 415, "UNSUPPORTED_MEDIA_TYPE", None),
    ("PATCH", "/v1/bindings/{xb}?force=1", body({"b": C}), 400, "UNKNOWN_FIELD", "force"),
    ("DELETE", "/v1/bindings/bnd_99999999", {}, 404, "BINDING_NOT_FOUND", None),
    ("DELETE", "/v1/bindings/{xb}?force=1", {}, 400, "UNKNOWN_FIELD", "force"),
    ("DELETE", "/v1/bindings/{xb}", {"headers": {"Idempotency-Key": ""}}, 400, "INVALID_ARGUMENT", "Idempotency-Key"),
    ("DELETE", "/v1/bindings/{xb}", {"headers": {"Idempotency-Key": "k" * 256}}, 400, "INVALID_ARGUMENT", "Idempotency-Key"),
    # POST /v1/calls
    ("POST", "/v1/calls", body({"x": B}), 400, "INVALID_ARGUMENT", "caller"),
    ("POST", "/v1/calls", body({"caller": "abc", "x": B}), 400, "INVALID_NUMBER", "caller"),
    ("POST", "/v1/calls", body({"caller": A, "x": 13800000002}), 400, "INVALID_ARGUMENT", "x"),
    ("POST", "/v1/calls", body({"caller": A, "x": B, "duration": 5}), 400, "UNKNOWN_FIELD", "duration"),
    ("POST", "/v1/calls", raw(b"null"), 400, "INVALID_ARGUMENT", None),
    ("POST", "/v1/calls", raw(b"{'caller': 1}"), 400, "MALFORMED_JSON", None),
    ("POST", "/v1/calls", raw(OVERSIZE), 413, "PAYLOAD_TOO_LARGE", None),
    # GET /v1/calls, /v1/calls/{id}, /v1/numbers
    ("GET", "/v1/calls?caller=abc", {}, 400, "INVALID_NUMBER", "caller"),
    ("GET", "/v1/calls?outcome=connected", {}, 400, "UNKNOWN_FIELD", "outcome"),
    ("GET", "/v1/calls/call_99999999", {}, 404, "CALL_NOT_FOUND", None),
    ("GET", "/v1/calls/{call}?x=1", {}, 400, "UNKNOWN_FIELD", "x"),
    ("GET", "/v1/numbers?city=", {}, 400, "INVALID_ARGUMENT", "city"),
    ("GET", "/v1/numbers?pool=FC1", {}, 400, "UNKNOWN_FIELD", "pool"),
    # no such route or method
    ("GET", "/v1/subscriptions", {}, 404, "NOT_FOUND", None),
    ("GET", "/v1/bindings/{xb}/calls", {}, 404, "NOT_FOUND", None),
    ("PUT", "/v1/bindings/{xb}", body({"b": C}), 405, "METHOD_NOT_ALLOWED", None),
    ("DELETE", "/v1/bindings", {}, 405, "METHOD_NOT_ALLOWED", None),
    ("POST", "/v1/numbers", body({}), 405, "METHOD_NOT_ALLOWED", None),
    ("DELETE", "/v1/calls/{call}", {}, 405, "METHOD_NOT_ALLOWED", None),
]


def _case_id(case: tuple) -> str:
    method, path, kw, status, code, _ = case
    detail = kw.get("data", "")[:20] if isinstance(kw.get("data"), str) else ""
    return f"{method} {path} {code} {detail}".strip()


@pytest.fixture
async def world(pstnsim_provider: Provider) -> AsyncIterator[tuple[Provider, aiohttp.ClientSession, dict[str, str]]]:
    """A provider holding an XB, an AXB and a call, so that ids in paths can be real."""
    async with aiohttp.ClientSession() as session:
        async with session.post(pstnsim_provider.url + "/v1/bindings", json=XB) as r:
            xb = await r.json()
        async with session.post(pstnsim_provider.url + "/v1/bindings", json={"mode": "AXB", "a": A, "b": C}) as r:
            assert r.status == 201
        async with session.post(pstnsim_provider.url + "/v1/calls", json={"caller": A, "x": xb["x"]}) as r:
            call = await r.json()
        yield pstnsim_provider, session, {"xb": xb["binding_id"], "call": call["call_id"]}


def _state(provider: Provider) -> dict[str, Any]:
    snapshot = provider.ledger.snapshot()
    del snapshot["now"]
    return snapshot


@pytest.mark.parametrize(("method", "path", "kw", "status", "code", "field"), CASES, ids=[_case_id(c) for c in CASES])
async def test_bad_input_is_refused_and_changes_nothing(world, method, path, kw, status, code, field) -> None:
    provider, session, ids = world
    before = _state(provider)
    kw = dict(kw)
    if kw.get("data") == "chunked":  # no Content-Length: the limit is found while reading
        kw["data"] = _chunks(OVERSIZE)
    async with session.request(method, provider.url + path.format(**ids), **kw) as response:
        answer = await response.json()
        assert (response.status, answer["code"]) == (status, code), answer
        assert response.content_type == "application/json"
        if status == 405:
            assert response.headers["Allow"]
    assert answer["message"]
    if field is not None:
        assert answer.get("field", field) == field and field.lower() in answer["message"].lower()
    assert _state(provider) == before


@pytest.mark.parametrize("field, value", [("b", "1" * 401), ("x", "1" * 60_000), ("mode", "X" * 5_000)],
                         ids=["b", "x", "mode"])
async def test_a_refused_value_is_quoted_by_a_short_prefix_only(world, field, value) -> None:
    """Finding 8 of issue 11: a 401-digit number came back whole in the message (and so in every log)."""
    provider, session, _ = world
    async with session.post(provider.url + "/v1/bindings", **body({**XB, field: value})) as response:
        answer = await response.json()
    assert response.status == 400 and answer["field"] == field
    assert value[:30] not in answer["message"] and len(answer["message"]) < 200, answer["message"]
    assert f"({len(value)} characters)" in answer["message"]
