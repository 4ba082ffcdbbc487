"""`trace check`: a recording played against a fresh simulator, every difference listed. A recording of
pstnsim itself must agree with pstnsim; a recording whose provider answered otherwise must be caught, by
action and field; failures the client saw are not comparable, and are only sent when they were applied."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from simulator.clock import ManualClock
from simulator.config import ProviderConfig
from simulator.server import Provider
from simulator.traces import Trace, read_trace
from simulator.traces.diff import ABSENT
from simulator.traces.fidelity import check_trace, render_text, seed_of, to_json
from simulator.traces.har import import_har_file
from simulator.journal import _replace_strings

DATA = Path(__file__).parent / "data"
A, B, B2 = "13900000001", "13800000002", "13800000003"


async def record(tmp_path: Path, drive) -> Trace:
    """The provider's own trace of what `drive(session, provider, clock)` sends (a clock moved by hand)."""
    clock = ManualClock()
    path = tmp_path / "recorded.jsonl"
    async with Provider(ProviderConfig(seed=7, trace_file=path), clock=clock) as provider, \
            aiohttp.ClientSession() as session:
        await drive(session, provider, clock)
    return read_trace(path)


async def fault(session: aiohttp.ClientSession, provider: Provider, **rule: Any) -> None:
    async with session.post(f"{provider.admin_url}/faults", json=rule) as r:
        assert r.status == 201, await r.text()


async def post(session: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> dict[str, Any] | None:
    try:
        async with session.post(url, json=body) as r:
            return await r.json(content_type=None)
    except aiohttp.ClientError:
        return None  # the reset a fault promised


async def native_story(session: aiohttp.ClientSession, provider: Provider, clock: ManualClock) -> None:
    """XB, AXB on its X, a call; a ghost success (503, applied) and the retry that duplicates; a 500 and a
    reset (neither applied) and their retries; a binding that expires before it is read; a delete."""
    url = f"{provider.url}/v1"
    xb = await post(session, f"{url}/bindings", {"mode": "XB", "b": B})
    assert xb is not None
    await post(session, f"{url}/bindings", {"mode": "AXB", "x": xb["x"], "a": A, "b": B})
    await post(session, f"{url}/calls", {"caller": A, "x": xb["x"]})
    await fault(session, provider, match={"operation": "create_binding", "b": B2},
                action={"kind": "ghost_success", "status": 503}, when={"first": 1})
    for _ in range(2):
        await post(session, f"{url}/bindings", {"mode": "XB", "b": B2})
    for kind in ({"kind": "status", "status": 500}, {"kind": "reset"}):
        await fault(session, provider, id="once", match={"operation": "create_binding", "b": "13700000001"},
                    action=kind, when={"first": 1})
        await post(session, f"{url}/bindings", {"mode": "XB", "b": "13700000001"})
    await post(session, f"{url}/bindings", {"mode": "XB", "b": "13700000001"})
    short = await post(session, f"{url}/bindings", {"mode": "XB", "b": "13700000002", "expires_in": 60})
    assert short is not None
    clock.advance(120)
    await session.get(f"{url}/bindings/{short['binding_id']}")
    await session.delete(f"{url}/bindings/{xb['binding_id']}")
    await session.get(f"{url}/bindings", params={"b": B})


async def test_the_simulators_own_recording_agrees_and_failures_are_not_comparable(tmp_path):
    recorded = await record(tmp_path, native_story)
    report = await check_trace(recorded)
    assert report.count("differ") == 0, render_text(report)
    assert report.seed == 7  # the recording simulator's, from the header
    not_comparable = {v.exchange.fault: v for v in report.verdicts if v.verdict == "not_comparable"}
    assert set(not_comparable) == {"status:500", "reset"}
    assert all(not v.sent and "not applied" in v.note for v in not_comparable.values())
    ghost = next(v for v in report.verdicts if v.exchange.fault == "ghost_success:503")
    assert ghost.verdict == "agree" and "hid" in ghost.note  # compared with the 201 the 503 hid
    assert report.count("agree") == len(recorded.exchanges) - 2


async def test_the_simulator_follows_the_recorded_clock(tmp_path):
    recorded = await record(tmp_path, native_story)
    expired = next(e for e in recorded.exchanges if e.action == "get_binding")
    assert expired.response["body"]["status"] == "expired"  # read 120 s after a 60 s binding was made
    report = await check_trace(recorded)
    assert next(v for v in report.verdicts if v.exchange is expired).verdict == "agree"


async def test_ids_and_x_that_the_recorded_provider_made_up_are_followed_in_later_requests(tmp_path):
    """A real provider names its bindings and numbers otherwise: the check maps them to the simulator's."""
    recorded = await record(tmp_path, native_story)
    x = recorded.exchanges[0].response["body"]["x"]
    foreign = _rewritten(recorded, {"bnd_0000000": "SUB-4", x: "17012345678", "call_0000000": "CDR-9"})
    assert "bnd_" not in str([e.to_dict() for e in foreign.exchanges])
    report = await check_trace(foreign)
    assert report.count("differ") == 0, render_text(report)
    delete = next(v for v in report.verdicts if v.exchange.action == "delete_binding")
    assert delete.exchange.request["path"].startswith("/v1/bindings/SUB-4") and delete.verdict == "agree"


async def test_vendor_requests_are_re_signed_for_the_fresh_simulator_and_agree():
    trace = import_har_file(DATA / "mitmproxy.har").trace  # Aliyun ACS3 and RPC, Tencent TC3; pseudonymised
    report = await check_trace(trace, seed=3)  # another pool: the recorded X is mapped to the simulator's
    assert report.count("differ") == 0, render_text(report)
    assert report.count("agree") == 7
    [reset] = [v for v in report.verdicts if v.verdict == "not_comparable"]
    assert reset.exchange.action == "UnbindSubscription" and "unknown whether" in reset.note and not reset.sent


async def test_without_re_signing_the_simulator_refuses_the_scrubbed_signatures():
    """The agreement above is not for free: the fresh simulator checks signatures."""
    trace = import_har_file(DATA / "mitmproxy.har").trace

    def keep_as_recorded(dialect, method, path, query, headers, body, **_):
        return query, {k: v for k, v in headers.items()}, body

    report = await check_trace(trace, resigner=keep_as_recorded)
    assert report.count("agree") == 0 and report.count("differ") == 7
    codes = {c.b for v in report.verdicts for c in v.changes if c.field == "code"}
    assert codes and all(code not in ("OK", "0") for code in codes)


async def test_with_no_re_signer_vendor_exchanges_are_not_comparable_not_different():
    trace = import_har_file(DATA / "mitmproxy.har").trace
    report = await check_trace(trace, resigner=None)
    assert report.count("not_comparable") == len(trace.exchanges) and report.all_agree
    assert "re-signer" in report.verdicts[0].note


async def test_a_provider_that_answers_otherwise_is_caught_by_action_and_field():
    """Imitates a real provider's recording: a field pstnsim does not send, a value it answers otherwise,
    a business code it does not give."""
    trace = import_har_file(DATA / "mitmproxy.har").trace
    calls = copy.deepcopy(trace.exchanges)
    detail = calls[2].response["body"]["SecretBindDetailDTO"]
    detail["GroupId"] = "G-1"  # the real provider sends a field the simulator does not
    detail["Status"] = 2  # and another status value
    calls[7].response["body"]["Response"]["RefLeftNum"] = "1"
    calls[6].response["body"]["Response"]["ErrorCode"] = "1"  # "failed" where pstnsim says "0"
    report = await check_trace(Trace(trace.header, calls))
    assert not report.all_agree
    assert report.differ_by_action() == {"aliyun QuerySubscriptionDetail": 1, "tencent DelVirtualNum": 1,
                                         "tencent GetVirtualNum": 1}
    changes = {(v.exchange.action, c.field): (c.a, c.b) for v in report.verdicts for c in v.changes}
    assert changes[("QuerySubscriptionDetail", "body.SecretBindDetailDTO.GroupId")] == ("G-1", ABSENT)
    assert changes[("QuerySubscriptionDetail", "body.SecretBindDetailDTO.Status")] == (2, 1)
    assert changes[("DelVirtualNum", "body.Response.RefLeftNum")] == ("1", "0")
    assert changes[("GetVirtualNum", "code")] == ("1", "0")
    text = render_text(report)
    assert "8 exchanges: 4 agree, 3 differ, 1 not comparable" in text
    assert 'body.SecretBindDetailDTO.GroupId "G-1" only in the recording' in text
    assert "body.SecretBindDetailDTO.Status 2 -> 1" in text
    data = to_json(report)
    assert data["differ"] == 3 and data["differ_by_action"]["tencent GetVirtualNum"] == 1


def test_the_seed_is_the_one_given_else_the_recording_simulators_else_0():
    trace = read_trace(DATA / "native.jsonl")
    assert seed_of(trace, None) == 7 and seed_of(trace, 3) == 3
    bare = Trace(dataclasses.replace(trace.header, meta={}))
    assert seed_of(bare, None) == 0


def _rewritten(trace: Trace, pairs: dict[str, str]) -> Trace:
    def swap(value: Any) -> Any:
        def replace(text: str) -> str:
            for old, new in pairs.items():
                text = text.replace(old, new)
            return text
        return _replace_strings(value, replace)

    exchanges = [dataclasses.replace(e, params=swap(e.params), request=swap(e.request), response=swap(e.response),
                                     provider_response=swap(e.provider_response)) for e in trace.exchanges]
    return Trace(trace.header, exchanges)


pytestmark = pytest.mark.timeout(60)


async def vms_story(session: aiohttp.ClientSession, provider: Provider, clock: ManualClock) -> None:
    """vms through its own V4 signature: an AXB bind, its lookup, a refused duplicate, an unbind, a 'not there'."""
    from urllib.parse import urlencode

    from binding_core.provider.volcengine import v4_headers

    async def call(action: str, form: dict[str, str]) -> dict[str, Any]:
        body = urlencode(form).encode()
        headers = v4_headers(action, body, f"127.0.0.1:{provider.port}", clock.now(), "pstnsim-ak", "pstnsim-secret")
        async with session.post(f"{provider.url}/?Action={action}&Version=2022-01-01", data=body,
                                headers=headers) as r:
            return await r.json()

    pool = "NP000000000000000001"
    bind = {"NumberPoolNo": pool, "PhoneNoA": A, "PhoneNoB": B, "ExpireTime": str(int(clock.now()) + 3600)}
    made = (await call("SelectNumberAndBindAXB", bind))["Result"]
    clock.advance(1)
    await call("QuerySubscriptionForList", {"NumberPoolNo": pool, "PhoneNoX": made["PhoneNoX"], "Status": "1"})
    refused = await call("BindAXB", {**bind, "PhoneNoX": made["PhoneNoX"]})
    assert refused["ResponseMetadata"]["Error"]["Code"] == "BindConflict"
    await call("UnbindAXB", {"NumberPoolNo": pool, "SubId": made["SubId"]})
    await call("QuerySubscription", {"NumberPoolNo": pool, "SubId": made["SubId"]})


async def test_a_vms_recording_is_re_signed_and_agrees_and_another_error_code_is_caught(tmp_path):
    trace = await record(tmp_path, vms_story)
    assert {e.dialect for e in trace.exchanges} == {"volcengine"}
    report = await check_trace(trace, seed=3)
    assert report.count("agree") == 5 and report.all_agree, render_text(report)
    calls = copy.deepcopy(trace.exchanges)
    conflict = next(e for e in calls if e.action == "BindAXB")
    conflict.response["body"]["ResponseMetadata"]["Error"]["Code"] = "NumberAlreadyBound"  # a provider's own word
    report = await check_trace(Trace(trace.header, calls), seed=3)
    [verdict] = [v for v in report.verdicts if v.verdict == "differ"]
    assert [(c.field, c.a, c.b) for c in verdict.changes] == [("code", "NumberAlreadyBound", "BindConflict")]
