"""Bad input on every endpoint: a 4xx that names the problem, and nothing changes (core or provider)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.looptime

B, A = "13800000001", "13900000001"
HUGE = {"b": B, "pad": "x" * 100_000}
JSON = {"Content-Type": "application/json"}


def snapshot(w):
    db = w.core.store.db
    tables = {t: list(db.query(f"SELECT * FROM {t}")) for t in ("numbers", "operations", "transitions", "alerts", "meta")}
    return tables, [b.to_dict() for b in w.provider.ledger.bindings(status=None)], len(w.provider.journal.entries()), \
        w.core.parts.gray.current


def cases(x: str, bound_x: str) -> list[tuple[str, str, dict, int, str]]:
    """(method, path, request kwargs, expected status, expected code)."""
    xb, axb = f"/v1/numbers/{x}/xb", f"/v1/numbers/{x}/axb"
    return [
        ("POST", "/v1/numbers/12345/xb", {"json": {"b": B}}, 400, "INVALID_NUMBER"),
        ("POST", "/v1/numbers/abc/axb", {"json": {"a": A, "b": B}}, 400, "INVALID_NUMBER"),
        ("POST", xb, {"headers": JSON}, 400, "MALFORMED_JSON"),
        ("POST", xb, {"data": b"{not json", "headers": JSON}, 400, "MALFORMED_JSON"),
        ("POST", xb, {"data": b"\xff\xfe", "headers": JSON}, 400, "MALFORMED_JSON"),
        # JSON is taken only as JSON: a browser page can send text/plain cross-site without asking first
        ("POST", xb, {}, 415, "UNSUPPORTED_MEDIA_TYPE"),
        ("POST", xb, {"data": b'{"b": "13800000001"}'}, 415, "UNSUPPORTED_MEDIA_TYPE"),
        ("POST", xb, {"data": b'{"b": "13800000001"}', "headers": {"Content-Type": "text/plain"}}, 415,
         "UNSUPPORTED_MEDIA_TYPE"),
        ("POST", xb, {"data": b'{"b": "13800000002", "b": "13800000001"}', "headers": JSON}, 400, "DUPLICATE_KEY"),
        ("POST", xb, {"json": [B]}, 400, "INVALID_ARGUMENT"),
        ("POST", xb, {"json": {}}, 400, "INVALID_ARGUMENT"),
        ("POST", xb, {"json": {"b": 13800000001}}, 400, "INVALID_NUMBER"),
        ("POST", xb, {"json": {"b": None}}, 400, "INVALID_NUMBER"),
        ("POST", xb, {"json": {"b": True}}, 400, "INVALID_NUMBER"),
        ("POST", xb, {"json": {"b": "1380000000"}}, 400, "INVALID_NUMBER"),
        ("POST", xb, {"json": {"b": "13800000001\n"}}, 400, "INVALID_NUMBER"),
        ("POST", xb, {"json": {"b": B, "a": A}}, 400, "UNKNOWN_FIELD"),
        ("POST", xb, {"json": {"b": x}}, 400, "INVALID_ARGUMENT"),
        ("POST", xb, {"json": HUGE}, 413, "PAYLOAD_TOO_LARGE"),
        ("POST", xb + "?force=1", {"json": {"b": B}}, 400, "UNKNOWN_FIELD"),
        ("POST", axb, {"json": {"b": B}}, 400, "INVALID_ARGUMENT"),
        ("POST", axb, {"json": {"a": B, "b": B}}, 400, "INVALID_ARGUMENT"),
        ("POST", axb, {"json": {"a": "+86" + B, "b": B}}, 400, "INVALID_ARGUMENT"),
        ("POST", axb, {"json": {"a": "call me", "b": B}}, 400, "INVALID_NUMBER"),
        ("POST", axb, {"json": {"a": A, "b": B, "c": 1}}, 400, "UNKNOWN_FIELD"),
        ("POST", f"/v1/numbers/{bound_x}/xb", {"json": {"b": A}}, 409, "STATE_CONFLICT"),
        ("DELETE", xb, {}, 409, "STATE_CONFLICT"),
        ("DELETE", axb, {}, 409, "STATE_CONFLICT"),
        ("DELETE", f"/v1/numbers/{bound_x}/xb", {"json": {"b": B}}, 400, "INVALID_ARGUMENT"),
        ("DELETE", "/v1/numbers/0/xb", {}, 400, "INVALID_NUMBER"),
        ("PATCH", xb, {"json": {"b": B}}, 405, "METHOD_NOT_ALLOWED"),
        ("GET", "/v1/numbers/not-a-number", {}, 400, "INVALID_NUMBER"),
        ("GET", f"/v1/numbers/{x}?verbose=1", {}, 400, "UNKNOWN_FIELD"),
        ("GET", "/v1/operations?state=lost", {}, 400, "INVALID_ARGUMENT"),
        ("GET", "/v1/operations?state=done&state=dead", {}, 400, "INVALID_ARGUMENT"),
        ("GET", "/v1/operations?page=5", {}, 400, "UNKNOWN_FIELD"),
        ("GET", "/v1/operations?limit=0", {}, 400, "INVALID_ARGUMENT"),
        ("GET", "/v1/operations?limit=1001", {}, 400, "INVALID_ARGUMENT"),
        ("GET", "/v1/operations?after=42", {}, 400, "INVALID_ARGUMENT"),
        ("GET", "/v1/alerts?after=x", {}, 400, "INVALID_ARGUMENT"),
        ("GET", "/v1/transitions?limit=10001", {}, 400, "INVALID_ARGUMENT"),
        ("GET", "/v1/operations/op_99999999", {}, 404, "OPERATION_NOT_FOUND"),
        ("GET", "/v1/operations/42", {}, 400, "INVALID_ARGUMENT"),
        ("GET", "/v1/alerts?x=1", {}, 400, "UNKNOWN_FIELD"),
        ("GET", "/v1/transitions?after=-1", {}, 400, "INVALID_ARGUMENT"),
        ("GET", "/v1/transitions?after=1e3", {}, 400, "INVALID_ARGUMENT"),
        ("GET", "/v1/transitions?x=17", {}, 400, "INVALID_NUMBER"),
        ("GET", "/health?deep=1", {}, 400, "UNKNOWN_FIELD"),
        ("PUT", "/_admin/gray", {"data": b"all", "headers": JSON}, 400, "MALFORMED_JSON"),
        ("PUT", "/_admin/gray", {"data": b'{"all": true}', "headers": {"Content-Type": "text/plain"}}, 415,
         "UNSUPPORTED_MEDIA_TYPE"),
        ("PUT", "/_admin/gray", {"json": {"all": "yes"}}, 400, "INVALID_ARGUMENT"),
        ("PUT", "/_admin/gray", {"json": {"numbers": x}}, 400, "INVALID_ARGUMENT"),
        ("PUT", "/_admin/gray", {"json": {"numbers": [x, "1"]}}, 400, "INVALID_NUMBER"),
        ("PUT", "/_admin/gray", {"json": {"all": True, "everyone": True}}, 400, "UNKNOWN_FIELD"),
        ("DELETE", "/_admin/gray", {"data": b"{}"}, 415, "UNSUPPORTED_MEDIA_TYPE"),
        ("DELETE", "/_admin/gray", {"data": b"{}", "headers": JSON}, 400, "INVALID_ARGUMENT"),
        ("GET", "/v2/numbers", {}, 404, "NOT_FOUND"),
    ]


async def test_every_endpoint_refuses_bad_input_with_a_4xx_and_changes_nothing(world):
    w = await world()
    x, bound_x = w.numbers(2)
    await w.call("POST", f"/v1/numbers/{bound_x}/xb", json={"b": B})
    await w.settle()
    before = snapshot(w)
    for method, path, kwargs, expected, code in cases(x, bound_x):
        status, body = await w.call(method, path, **kwargs)
        assert (status, body and body.get("code")) == (expected, code), (method, path, kwargs.get("json"), body)
        assert body["message"], (method, path)
        assert snapshot(w) == before, (method, path)
    # and the service still works afterwards
    assert (await w.call("POST", f"/v1/numbers/{x}/xb", json={"b": "+86" + B}))[0] == 202


async def test_a_busy_database_refuses_with_503_and_writes_nothing(world, monkeypatch):
    import sqlite3

    w = await world()
    [x] = w.numbers(1)
    before = snapshot(w)

    def locked(*args, **kwargs):
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(w.core.store, "begin", locked)
    status, body = await w.call("POST", f"/v1/numbers/{x}/xb", json={"b": B})
    assert (status, body["code"]) == (503, "STORE_BUSY")
    assert snapshot(w) == before
