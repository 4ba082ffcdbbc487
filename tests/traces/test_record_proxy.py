"""The recording proxy in-process, in front of a second pstnsim, under virtual time: what it forwards, what
the client sees, and what the trace says (faults as the client saw them, stand-in numbers, no secrets)."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from simulator.config import AliyunCredentials, ProviderConfig
from simulator.dialects.aliyun import signing
from simulator.numbers import PoolSpec
from simulator.server import Provider
from simulator.traces import read_trace
from simulator.traces.proxy import RecordingProxy
from simulator.traces.upstream_credentials import UpstreamAliyun

pytestmark = pytest.mark.looptime

A, B, C = "13900000001", "13800000002", "13700000003"
UPSTREAM_KEY = UpstreamAliyun("LTAIupstream0001", "upstream-secret-1", pool_key="FC200000000000002")


async def call(session: aiohttp.ClientSession, method: str, url: str, **kw: Any) -> tuple[int, Any]:
    async with session.request(method, url, **kw) as response:
        return response.status, await response.json(content_type=None)


async def wait_for_lines(proxy: RecordingProxy, count: int, deadline: float = 60.0) -> None:
    """Poll (virtual time) until the proxy has written `count` lines."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    while proxy.count < count:
        assert loop.time() < end, f"only {proxy.count} of {count} exchanges recorded"
        await asyncio.sleep(0.05)


# ---- native: forwarding, stand-ins, the client's view unchanged ---------------------------------------------


async def test_native_exchanges_are_recorded_with_stand_ins_for_a_and_b_and_x_kept(tmp_path: Path) -> None:
    out = tmp_path / "trace.jsonl"
    async with Provider(ProviderConfig(seed=7)) as upstream, \
            RecordingProxy(upstream=upstream.url, dialect="native", out=out) as proxy, aiohttp.ClientSession() as s:
        status, bound = await call(s, "POST", f"{proxy.url}/v1/bindings", json={"mode": "AXB", "a": A, "b": B})
        assert status == 201 and (bound["a"], bound["b"]) == (A, B)  # the client sees the real numbers
        x = bound["x"]
        status, placed = await call(s, "POST", f"{proxy.url}/v1/calls", json={"caller": "+86" + A, "x": x})
        assert (status, placed["callee"]) == (201, B)
        status, listed = await call(s, "GET", f"{proxy.url}/v1/bindings?b={B}")
        assert [b["binding_id"] for b in listed["bindings"]] == [bound["binding_id"]]
        [held] = upstream.ledger.bindings()
        assert (held.a, held.b) == (A, B)  # the upstream got the real numbers too

    trace = read_trace(out)
    assert (trace.header.recorder, trace.header.pseudonymised, trace.header.dialects) == ("pstnsim record", True,
                                                                                         ("native",))
    assert trace.header.meta["upstream"] == upstream.url
    bind, placed_call, listing = trace.exchanges
    assert [e.action for e in trace.exchanges] == ["create_binding", "place_call", "list_bindings"]
    stand_a, stand_b = bind.params["a"], bind.params["b"]
    assert {stand_a, stand_b}.isdisjoint({A, B}) and stand_a != stand_b
    assert bind.params == {"mode": "AXB", "a": stand_a, "b": stand_b}
    assert bind.response["body"]["a"] == stand_a and bind.response["body"]["x"] == x  # X is the provider's: kept
    assert placed_call.params == {"caller": stand_a, "x": x}  # the same stand-in, whatever the wire form
    assert placed_call.request["body"]["caller"] == "+86" + stand_a
    assert placed_call.response["body"]["callee"] == stand_b
    assert listing.request["query"] == f"b={stand_b}"
    assert all(e.applied is None and e.fault is None and e.failure is None for e in trace.exchanges)
    assert [e.seq for e in trace.exchanges] == [1, 2, 3]
    text = out.read_text()
    assert A not in text and B not in text and x in text


async def test_keep_numbers_writes_the_real_numbers(tmp_path: Path) -> None:
    out = tmp_path / "trace.jsonl"
    async with Provider(ProviderConfig(seed=7)) as upstream, \
            RecordingProxy(upstream=upstream.url, dialect="native", out=out, keep_numbers=True) as proxy, \
            aiohttp.ClientSession() as s:
        await call(s, "POST", f"{proxy.url}/v1/bindings", json={"mode": "AXB", "a": A, "b": B})
    trace = read_trace(out)
    assert trace.header.pseudonymised is False
    assert (trace.exchanges[0].params["a"], trace.exchanges[0].params["b"]) == (A, B)


# ---- faults on the upstream, recorded as the client saw them ---------------------------------------------------


@pytest.mark.parametrize("action, client_saw, status, failure", [
    ({"kind": "ghost_success", "status": 503}, 503, 503, None),
    ({"kind": "status", "status": 500}, 500, 500, None),
    ({"kind": "latency", "seconds": 40}, 504, None, "timeout"),
    ({"kind": "reset"}, "error", None, "reset"),
    ({"kind": "empty_reply"}, "error", None, "empty_reply"),
    ({"kind": "truncated_body"}, "error", 201, "truncated_body"),
    ({"kind": "malformed_body"}, 201, 201, "malformed_body"),
])
async def test_an_upstream_fault_is_recorded_as_the_client_saw_it(tmp_path: Path, action: dict, client_saw: Any,
                                                                  status: int | None, failure: str | None) -> None:
    out = tmp_path / "trace.jsonl"
    async with Provider(ProviderConfig(seed=7)) as upstream, \
            RecordingProxy(upstream=upstream.url, dialect="native", out=out, upstream_timeout=10) as proxy, \
            aiohttp.ClientSession() as s:
        upstream.faults.add({"match": {"operation": "create_binding"}, "action": action, "when": {"first": 1}})
        try:
            async with s.post(f"{proxy.url}/v1/bindings", json={"mode": "XB", "b": B}) as response:
                await response.read()
                seen: Any = response.status
        except aiohttp.ClientError:
            seen = "error"
        assert seen == client_saw
        await wait_for_lines(proxy, 1)
    [line] = read_trace(out).exchanges
    assert line.status == status
    assert (line.failure.kind if line.failure else None) == failure
    assert line.applied is None  # a proxy cannot know whether the upstream applied it
    if failure == "timeout":
        assert line.failure.after == pytest.approx(10, abs=0.5) and "--upstream-timeout" in line.failure.detail
    if failure == "truncated_body":
        assert isinstance(line.response["body"], str) and line.response["body"]  # the part that came
    assert B not in out.read_text()


async def test_a_client_that_gives_up_first_is_recorded_as_its_timeout(tmp_path: Path) -> None:
    out = tmp_path / "trace.jsonl"
    async with Provider(ProviderConfig(seed=7)) as upstream, \
            RecordingProxy(upstream=upstream.url, dialect="native", out=out, upstream_timeout=60) as proxy:
        upstream.faults.add({"match": {"operation": "create_binding"}, "action": {"kind": "latency", "seconds": 20}})
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3)) as s:
            with pytest.raises(asyncio.TimeoutError):
                await s.post(f"{proxy.url}/v1/bindings", json={"mode": "XB", "b": B})
        await wait_for_lines(proxy, 1)
    [line] = read_trace(out).exchanges
    assert line.response is None and line.failure.kind == "timeout"
    assert line.failure.after == pytest.approx(3, abs=0.5) and "client closed" in line.failure.detail


async def test_an_upstream_that_refuses_connections_is_a_reset(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    out = tmp_path / "trace.jsonl"
    async with RecordingProxy(upstream=f"http://127.0.0.1:{port}", dialect="native", out=out) as proxy, \
            aiohttp.ClientSession() as s:
        with pytest.raises(aiohttp.ClientError):
            await s.post(f"{proxy.url}/v1/bindings", json={"mode": "XB", "b": B})
        await wait_for_lines(proxy, 1)
    [line] = read_trace(out).exchanges
    assert line.response is None and line.failure.kind == "reset" and "Connect" in line.failure.detail


# ---- vendor dialects: local signature checked, nothing forwarded when it fails; no secret in the trace ----------


def signed_bind(proxy: RecordingProxy, *, secret: str = "pstnsim-secret") -> tuple[str, dict[str, str]]:
    params = {"PoolKey": "FC100000000000001", "PhoneNoA": A, "PhoneNoB": B, "Expiration": "2030-01-01 00:00:00"}
    now = proxy.clock.now()
    headers = signing.sign_acs3(method="POST", host=f"127.0.0.1:{proxy.port}", action="BindAxb",
                                version="2017-05-25", query=params, access_key_id="pstnsim-ak", secret=secret,
                                nonce=f"nonce-{now}-{secret}", at=now)
    query = "&".join(f"{k}={signing.percent_encode(v)}" for k, v in params.items())
    return query, headers


def aliyun_upstream(**overrides: Any) -> Provider:
    account = AliyunCredentials(access_key_id="LTAIupstream0001", access_key_secret="upstream-secret-1",
                                pool_key="FC200000000000002")
    config = ProviderConfig(seed=7, pool=PoolSpec(seed=7, pool_key="FC200000000000002"), aliyun=(account,))
    return Provider(config, **overrides)


async def test_a_bad_signature_is_refused_by_the_proxy_recorded_and_never_forwarded(tmp_path: Path) -> None:
    out = tmp_path / "trace.jsonl"
    async with aliyun_upstream() as upstream, \
            RecordingProxy(upstream=upstream.url, dialect="aliyun", out=out,
                           upstream_credentials=UPSTREAM_KEY) as proxy, aiohttp.ClientSession() as s:
        query, headers = signed_bind(proxy, secret="not-the-local-secret")
        status, refusal = await call(s, "POST", f"{proxy.url}/?{query}", headers=headers)
        assert (status, refusal["Code"]) == (400, "SignatureDoesNotMatch")
        assert len(upstream.journal) == 0 and upstream.ledger.bindings() == []
    [line] = read_trace(out).exchanges
    assert (line.action, line.status, line.response["answered_by"]) == ("BindAxb", 400, "proxy")
    assert line.response["body"]["Code"] == "SignatureDoesNotMatch"


async def test_a_request_not_in_the_dialect_and_the_admin_api_are_not_forwarded(tmp_path: Path) -> None:
    out = tmp_path / "trace.jsonl"
    async with aliyun_upstream() as upstream, \
            RecordingProxy(upstream=upstream.url, dialect="aliyun", out=out,
                           upstream_credentials=UPSTREAM_KEY) as proxy, aiohttp.ClientSession() as s:
        status, body = await call(s, "POST", f"{proxy.url}/v1/bindings", json={"mode": "XB", "b": B})
        assert (status, body["code"]) == (400, "UNKNOWN_DIALECT")
        status, body = await call(s, "GET", f"{proxy.url}/_admin/journal")
        assert (status, body["code"]) == (404, "NOT_FORWARDED")
        assert len(upstream.journal) == 0
    assert read_trace(out).exchanges == []


async def test_a_signed_request_reaches_the_upstream_under_its_key_and_its_echo_of_that_key_is_masked(
        tmp_path: Path) -> None:
    out = tmp_path / "trace.jsonl"
    unknown_upstream_key = UpstreamAliyun("LTAIunknownKey77", "whatever-secret-9")
    async with aliyun_upstream() as upstream, \
            RecordingProxy(upstream=upstream.url, dialect="aliyun", out=out,
                           upstream_credentials=UPSTREAM_KEY) as proxy, \
            RecordingProxy(upstream=upstream.url, dialect="aliyun", out=tmp_path / "wrong.jsonl",
                           upstream_credentials=unknown_upstream_key) as wrong, aiohttp.ClientSession() as s:
        query, headers = signed_bind(proxy)
        status, bound = await call(s, "POST", f"{proxy.url}/?{query}", headers=headers)
        assert (status, bound["Code"]) == (200, "OK")
        [held] = upstream.ledger.bindings()
        assert (held.a, held.b, held.pool_key) == (A, B, "FC200000000000002")  # the upstream account's pool
        query, headers = signed_bind(wrong)
        status, refused = await call(s, "POST", f"{wrong.url}/?{query}", headers=headers)
        assert refused["Code"] == "InvalidAccessKeyId.NotFound" and "LTAIunknownKey77" in refused["Message"]
    for name in ("trace.jsonl", "wrong.jsonl"):
        text = (tmp_path / name).read_text()
        for secret in ("LTAIupstream0001", "upstream-secret-1", "LTAIunknownKey77", "whatever-secret-9",
                       "pstnsim-secret", "pstnsim-ak", A, B):
            assert secret not in text, (name, secret)
    [echo] = read_trace(tmp_path / "wrong.jsonl").exchanges
    assert "***" in echo.response["body"]["Message"]
    [line] = read_trace(out).exchanges
    assert line.params["pool_key"] == "FC100000000000001"  # as the client sent it
    assert json.dumps(line.request).count("pst***") == 0  # ACS3 names its key only in Authorization, scrubbed
