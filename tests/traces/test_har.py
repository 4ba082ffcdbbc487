"""HAR import: what Chrome, Playwright and mitmproxy wrote of real pstnsim traffic becomes a trace with the
failed entries as failures, other traffic skipped and counted, no secret and (by default) no A/B number."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from simulator.dialects.aliyun import signing as aliyun_signing
from simulator.traces import read_trace, write_trace
from simulator.traces.har import HarError, import_har, import_har_file, read_har

DATA = Path(__file__).parent / "data"
# The people's numbers make_fixtures.py used; the X numbers are the provider's.
A, B, B2 = "13900000001", "13800000002", "13800000003"


def written(tmp_path: Path, name: str, **options: Any) -> tuple[str, Any]:
    """Import a fixture, write it as a trace, read it back: the file's text and the trace."""
    result = import_har_file(DATA / name, **options)
    out = write_trace(tmp_path / "trace.jsonl", result.trace)
    return out.read_text(encoding="utf-8"), read_trace(out)


def test_chrome_har_keeps_the_provider_calls_in_order_and_its_status_0_entry_as_a_reset():
    result = import_har_file(DATA / "chrome.har")
    trace = result.trace
    assert (result.entries, result.skipped, result.failures) == (9, 3, 1)  # page, script, icon skipped
    assert [e.action for e in trace.exchanges] == [
        "create_binding", "create_binding", "list_bindings", "place_call", "create_binding", "create_binding"]
    failed = trace.exchanges[4]
    assert failed.response is None and failed.failure is not None
    assert failed.failure.kind == "reset" and "ERR_CONNECTION_RESET" in failed.failure.detail
    assert failed.params == trace.exchanges[5].params  # the retry that got through: the same call
    assert trace.exchanges[5].status == 201
    assert trace.header.recorder == "pstnsim trace import"
    assert trace.header.meta == {"source": "har", "creator": "WebInspector 537.36", "skipped": 3}
    assert trace.exchanges[0].offset == 0.0
    assert [e.offset for e in trace.exchanges] == sorted(e.offset for e in trace.exchanges)


def test_latency_is_the_entry_time_and_offsets_count_from_the_first_provider_entry():
    har = read_har(DATA / "chrome.har")
    provider_entries = [e for e in har["log"]["entries"] if "/v1/" in e["request"]["url"]]
    trace = import_har(har).trace
    for entry, exchange in zip(provider_entries, trace.exchanges):
        assert exchange.latency == pytest.approx(entry["time"] / 1000)
    assert trace.header.started_at == pytest.approx(
        _epoch(provider_entries[0]["startedDateTime"]))


def test_playwright_status_minus_1_timed_out_entry_is_a_timeout_after_the_time_waited():
    result = import_har_file(DATA / "playwright.har")
    first = result.trace.exchanges[0]
    assert first.failure is not None and first.failure.kind == "timeout"
    har_time = read_har(DATA / "playwright.har")["log"]["entries"][0]["time"]
    assert first.failure.after == pytest.approx(har_time / 1000)
    assert "ERR_TIMED_OUT" in first.failure.detail
    assert result.skipped == 1 and result.failures == 1


def test_mitmproxy_vendor_traffic_is_read_per_dialect_with_base64_answers_decoded(tmp_path):
    _, trace = written(tmp_path, "mitmproxy.har")
    assert trace.header.dialects == ("aliyun", "tencent")
    assert [(e.dialect, e.action) for e in trace.exchanges] == [
        ("aliyun", "BindAxb"), ("aliyun", "QuerySubsId"), ("aliyun", "QuerySubscriptionDetail"),
        ("aliyun", "QuerySubsId"),  # RPC v1: the action is in the signed query
        ("aliyun", "UnbindSubscription"), ("aliyun", "UnbindSubscription"),
        ("tencent", "GetVirtualNum"), ("tencent", "DelVirtualNum")]
    bound = trace.exchanges[0].response["body"]["SecretBindDTO"]
    base64_answer = trace.exchanges[1].response["body"]  # mitmproxy wrote this body base64-encoded
    assert base64_answer["Code"] == "OK" and base64_answer["SubsId"] == bound["SubsId"]
    reset = trace.exchanges[4]
    assert reset.failure is not None and reset.failure.kind == "reset" and reset.applied is None


def test_no_secret_signature_or_full_key_id_reaches_the_trace(tmp_path):
    text, trace = written(tmp_path, "mitmproxy.har")
    raw_har = (DATA / "mitmproxy.har").read_text()
    assert "pstnsim-secret" not in raw_har  # the HAR itself never held the secret: check the signatures
    signatures = [h["value"] for e in json.loads(raw_har)["log"]["entries"] for h in e["request"]["headers"]
                  if h["name"] == "Authorization"]
    assert signatures and not any(sig.split("Signature=")[-1] in text for sig in signatures)
    for key_id in ("pstnsim-ak", "pstnsim-id"):
        assert key_id not in text
    assert all(e.request["headers"].get("authorization") in (None, "***") for e in trace.exchanges)
    rpc_query = trace.exchanges[3].request["query"]
    assert "Signature=***" in rpc_query and "AccessKeyId=pst***" in rpc_query


def test_a_and_b_numbers_are_replaced_by_the_same_stand_in_everywhere_and_x_is_kept(tmp_path):
    text, trace = written(tmp_path, "mitmproxy.har")
    assert trace.header.pseudonymised is True
    for real in (A, B, B2):
        assert real not in text
    bind, detail = trace.exchanges[0], trace.exchanges[2]
    x = bind.response["body"]["SecretBindDTO"]["SecretNo"]
    assert x in text and detail.params["x"] == x
    shown = detail.response["body"]["SecretBindDetailDTO"]
    assert (shown["PhoneNoA"], shown["PhoneNoB"]) == (bind.params["a"], bind.params["b"])
    assert f"PhoneNoA={bind.params['a']}" in bind.request["query"]  # the wire form agrees with the params
    tencent = trace.exchanges[6]
    assert tencent.request["body"]["Src"] == "0086" + bind.params["a"]  # same person, other dialect, same stand-in


def test_keep_numbers_keeps_the_real_numbers(tmp_path):
    text, trace = written(tmp_path, "mitmproxy.har", keep_numbers=True)
    assert trace.header.pseudonymised is False
    assert trace.exchanges[0].params["a"] == A and B in text and B2 in text


def test_an_explicit_dialect_skips_the_other_dialects_traffic():
    result = import_har_file(DATA / "mitmproxy.har", dialect="tencent")
    assert [e.action for e in result.trace.exchanges] == ["GetVirtualNum", "DelVirtualNum"]
    assert result.skipped == 7 and result.trace.header.dialects == ("tencent",)


def test_an_rpc_request_sent_as_a_post_form_is_aliyun_traffic():
    params = aliyun_signing.sign_rpc(method="POST", action="QuerySubsId", version="2017-05-25",
                                     params={"PoolKey": "FC100000000000001", "PhoneNoX": "13360487647"},
                                     access_key_id="pstnsim-ak", secret="pstnsim-secret", nonce="n-1", at=1.8e9)
    form = "&".join(f"{k}={aliyun_signing.percent_encode(v)}" for k, v in params.items())
    har = _har([_entry("POST", "http://127.0.0.1:8090/", post={"mimeType": "application/x-www-form-urlencoded",
                                                                  "text": form},
                       response={"status": 200, "content": {"mimeType": "application/json",
                                                            "text": '{"Code": "OK", "SubsId": "7"}'}})])
    [exchange] = import_har(har).trace.exchanges
    assert (exchange.dialect, exchange.action, exchange.params["x"]) == ("aliyun", "QuerySubsId", "13360487647")
    assert "pstnsim-ak" not in json.dumps(exchange.to_dict())


@pytest.mark.parametrize("response, extra, kind", [
    ({"status": 0, "_error": "net::ERR_TIMED_OUT"}, {}, "timeout"),
    ({"status": 0, "_error": "net::ERR_CONNECTION_REFUSED"}, {}, "reset"),
    ({"status": -1, "_failureText": "net::ERR_CONNECTION_RESET"}, {}, "reset"),
    ({"status": 0, "_error": "Server connection timed out."}, {}, "timeout"),  # mitmproxy's words
    ({"status": 0}, {"timings": {"send": 0.1, "wait": 30000, "receive": -1}}, "timeout"),  # waited, got nothing
    ({"status": 0}, {"timings": {"send": -1, "wait": -1, "receive": -1}}, "reset"),
    (None, {}, "reset"),  # a tool that writes no response at all
])
def test_failed_entries_are_timeouts_when_the_error_or_timings_say_so_else_resets(response, extra, kind):
    entry = _entry("POST", "http://127.0.0.1:8090/v1/bindings", response=response,
                   post={"mimeType": "application/json", "text": json.dumps({"mode": "XB", "b": B})}, **extra)
    if response is None:
        del entry["response"]
    [exchange] = import_har(_har([entry])).trace.exchanges
    assert exchange.response is None and exchange.failure is not None and exchange.failure.kind == kind


@pytest.mark.parametrize("content, words", [
    (b"not json at all", "not valid JSON"),
    (b"\xff\xfe\x00", "not UTF-8"),
    (b'{"log": {"version": "1.2"}}', "log.entries"),
    (b'[{"log": {"entries": []}}]', "log.entries"),
])
def test_a_file_that_is_not_har_is_refused_naming_the_file(tmp_path, content, words):
    path = tmp_path / "capture.har"
    path.write_bytes(content)
    with pytest.raises(HarError) as refused:
        import_har_file(path)
    assert str(path) in str(refused.value) and words in str(refused.value)


def _broken(mutate) -> dict[str, Any]:
    har = read_har(DATA / "chrome.har")
    broken = copy.deepcopy(har)
    mutate(broken["log"]["entries"])
    return broken


@pytest.mark.parametrize("mutate, index, words", [
    (lambda es: es.__setitem__(2, "entry"), 2, "expected an object"),
    (lambda es: es[3]["request"].__setitem__("url", 5), 3, "request.url"),
    (lambda es: es[3].__setitem__("startedDateTime", "yesterday"), 3, "startedDateTime"),
    (lambda es: es[4]["response"].__setitem__("status", "200"), 4, "response.status"),
    (lambda es: es[4]["request"].__setitem__("headers", {"Host": "x"}), 4, "request.headers"),
    (lambda es: es[4].__setitem__("time", "fast"), 4, "time"),
    (lambda es: es[4]["response"]["content"].update(encoding="base64", text="%%%"), 4, "base64"),
])
def test_an_entry_with_wrong_types_is_refused_naming_the_file_and_the_entry(mutate, index, words):
    with pytest.raises(HarError) as refused:
        import_har(_broken(mutate), path="capture.har")
    message = str(refused.value)
    assert message.startswith(f"capture.har: log.entries[{index}]: ") and words in message


# ---- small HAR builders -------------------------------------------------------------


def _har(entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {"log": {"version": "1.2", "creator": {"name": "test", "version": "1"}, "entries": entries}}


def _entry(method: str, url: str, *, response: dict[str, Any] | None, post: dict[str, Any] | None = None,
           **extra: Any) -> dict[str, Any]:
    request: dict[str, Any] = {"method": method, "url": url, "headers": [], "queryString": []}
    if post is not None:
        request["postData"] = post
    entry = {"startedDateTime": "2026-01-01T00:00:00.000Z", "time": 12.5, "request": request, "response": response}
    entry.update(extra)
    return entry


def _epoch(stamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
