"""The journal (every exchange, secrets scrubbed, paged and filtered), the JSON Lines trace, and /metrics."""

from __future__ import annotations

import pytest

from simulator.journal import Exchange, Journal
from simulator.traces import read_trace
from simulator.metrics import parse_samples

from .conftest import add_rule, numbers

pytestmark = pytest.mark.looptime


async def journal(session, provider, **params) -> dict:
    async with session.get(f"{provider.admin_url}/journal", params=params) as response:
        assert response.status == 200
        return await response.json()


async def test_every_exchange_is_recorded_with_its_fault(toy, session):
    provider = await toy()
    x1, x2 = numbers(provider, 2)
    await add_rule(session, provider, {"match": {"x": x2}, "action": {"kind": "status", "status": 502}})
    async with session.post(f"{provider.url}/toy/bind", json={"x": x1, "b": "13800000001"}):
        pass
    async with session.post(f"{provider.url}/toy/bind", json={"x": x2, "b": "13800000002"}):
        pass
    async with session.get(f"{provider.admin_url}/ledger"):
        pass  # admin traffic is not journaled

    entries = (await journal(session, provider))["entries"]
    assert [(e["operation"], e["x"], e["status"], e["fault"]) for e in entries] == [
        ("bind", x1, 201, None),
        ("bind", x2, 502, "status:502"),
    ]
    first = entries[0]
    assert first["method"] == "POST" and first["path"] == "/toy/bind" and first["dialect"] == "toy"
    assert first["request_body"] == {"x": x1, "b": "13800000001"}
    assert first["response_body"]["x"] == x1
    assert entries[1]["fault_rules"] == ["rule-1"]


async def test_transport_faults_are_journaled_without_a_status(toy, session):
    provider = await toy()
    [x] = numbers(provider, 1)
    await add_rule(session, provider, {"action": {"kind": "ghost_success", "then": "reset"}})
    with pytest.raises(Exception):
        async with session.post(f"{provider.url}/toy/bind", json={"x": x, "b": "13800000001"}):
            pass
    [entry] = (await journal(session, provider))["entries"]
    assert (entry["status"], entry["fault"], entry["response_body"]) == (None, "ghost_success:reset", None)


async def test_secrets_never_reach_the_journal(toy, session):
    provider = await toy()
    [x] = numbers(provider, 1)
    async with session.post(
        f"{provider.url}/toy/bind",
        params={"Signature": "c2lnbmVk", "AccessKeyId": "pstnsim-ak"},
        json={"x": x, "b": "13800000001", "AccessKeySecret": "hunter2", "nested": {"SecretKey": "hunter3"}},
        headers={"Authorization": "ACS3-HMAC-SHA256 Credential=pstnsim-ak,Signature=abc"},
    ):
        pass
    [entry] = (await journal(session, provider))["entries"]
    text = str(entry)
    for secret in ("c2lnbmVk", "hunter2", "hunter3", "Signature=abc"):
        assert secret not in text
    assert entry["request_headers"]["authorization"] == "***"
    assert "pstnsim-ak" not in text  # the key id too, bar a hint that tells keys apart
    assert "AccessKeyId=pst***" in entry["query"] and "Signature=***" in entry["query"]


async def test_paging_and_filters(toy, session):
    provider = await toy()
    x1, x2 = numbers(provider, 2)
    await add_rule(session, provider, {"match": {"x": x2}, "action": {"kind": "status", "status": 503},
                                       "when": {"every": 2}})
    for x in (x1, x2) * 5:
        async with session.get(f"{provider.url}/toy/bindings", params={"x": x}):
            pass
    seen, cursor = [], 0
    while cursor is not None:
        page = await journal(session, provider, limit=3, after=cursor)
        assert len(page["entries"]) <= 3
        seen += page["entries"]
        cursor = page["next"]
    assert [e["seq"] for e in seen] == list(range(1, 11))
    assert {e["x"] for e in (await journal(session, provider, x=x1))["entries"]} == {x1}
    assert len((await journal(session, provider, fault="any"))["entries"]) == 2
    assert len((await journal(session, provider, fault="status"))["entries"]) == 2
    assert len((await journal(session, provider, fault="none"))["entries"]) == 8
    assert (await journal(session, provider, operation="bind"))["entries"] == []


async def test_trace_file_gets_one_json_line_per_exchange(toy, session, tmp_path):
    trace = tmp_path / "trace.jsonl"
    provider = await toy(trace_file=trace)
    [x] = numbers(provider, 1)
    await add_rule(session, provider, {"action": {"kind": "latency", "seconds": 1.5}})
    async with session.post(f"{provider.url}/toy/bind", json={"x": x, "b": "13800000001"},
                            headers={"Authorization": "secret-token"}):
        pass
    loaded = read_trace(trace)
    assert loaded.header.recorder == "pstnsim provider" and "toy" in loaded.header.dialects
    [line] = loaded.exchanges
    assert (line.action, line.status, line.fault, line.applied) == ("bind", 201, "latency", True)
    assert line.params == {"x": x, "b": "13800000001"}
    assert line.latency == pytest.approx(1.5, abs=0.01)
    assert "secret-token" not in trace.read_text()


def test_journal_is_a_bounded_ring():
    ring = Journal(capacity=3)
    for _ in range(5):
        seq = ring.next_seq()
        ring.record(Exchange(seq=seq, at=0.0, dialect="toy", operation="list", x=None, a=None, b=None, method="GET",
                             path="/", query="", request_headers={}, request_body=None, status=200,
                             response_headers={}, response_body=None, fault=None, fault_rules=[], latency=0.0))
    assert [e.seq for e in ring.entries()] == [3, 4, 5]


async def test_metrics_count_requests_by_operation_status_and_fault(toy, session):
    provider = await toy()
    [x] = numbers(provider, 1)
    await add_rule(session, provider, {"action": {"kind": "status", "status": 503}, "when": {"first": 2}})
    for _ in range(5):
        async with session.get(f"{provider.url}/toy/bindings", params={"x": x}):
            pass
    async with session.get(f"{provider.url}/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        samples = list(parse_samples(await response.text()))
    requests = {(l["operation"], l["status"], l["fault"]): v for n, l, v in samples if n == "pstnsim_requests_total"}
    assert requests == {("list", "503", "status:503"): 2, ("list", "200", "none"): 3}
    count = [v for n, l, v in samples if n == "pstnsim_request_duration_seconds_count" and l["operation"] == "list"]
    inf = [v for n, l, v in samples if n == "pstnsim_request_duration_seconds_bucket" and l["le"] == "+Inf"]
    assert count == [5] and inf == [5]
