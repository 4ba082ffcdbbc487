"""`trace diff` by meaning: what a QA engineer wants to hear when a replay or today's run is not the recording
(missing, extra, reordered calls; changed parameters and outcomes), and silence about what changes on
every run by design (request ids, binding ids, assigned X, times, nonces)."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

import pytest

from simulator.journal import _replace_strings
from simulator.traces import Failure, Trace, read_trace
from simulator.traces.diff import business_code, diff_traces, render_text, to_json
from simulator.traces.har import import_har_file

DATA = Path(__file__).parent / "data"


@pytest.fixture
def recorded() -> Trace:
    """The provider's own trace: XB, AXB on its X, a ghost success (503, applied) and its retry, a listing,
    a call, a delete and a get of the deleted binding."""
    return read_trace(DATA / "native.jsonl")


def again(trace: Trace, exchanges: list | None = None) -> Trace:
    return Trace(trace.header, copy.deepcopy(trace.exchanges if exchanges is None else exchanges))


def rerun(trace: Trace) -> Trace:
    """The same calls on another run: every id, X, time and request id different, JSON keys in another order."""
    renamed = []
    for exchange in trace.exchanges:
        swap = _swapper({"bnd_0000000": "SUB-", "13360487647": "17700000001", "18593824219": "17700000002",
                         "2026-": "2027-", "call_0000000": "CALL-"})
        response = swap(exchange.response)
        if response and isinstance(response.get("body"), dict):
            response["body"] = dict(reversed(list(response["body"].items())))
        renamed.append(dataclasses.replace(exchange, params=swap(exchange.params), request=swap(exchange.request),
                                           response=response, offset=exchange.offset + 100))
    return Trace(trace.header, renamed)


def kinds(diff) -> list[str]:
    return [d.kind for d in diff.differences]


def test_a_trace_equals_itself(recorded):
    diff = diff_traces(recorded, again(recorded))
    assert diff.equal and diff.paired == len(recorded.exchanges)
    assert "equal by meaning" in render_text(diff, "a", "b")


def test_another_run_with_new_ids_x_times_and_key_order_is_equal_by_meaning(recorded):
    assert diff_traces(recorded, rerun(recorded)).equal


def test_include_volatile_shows_the_ids_x_and_times_that_changed(recorded):
    diff = diff_traces(recorded, rerun(recorded), include_volatile=True)
    changed = {c.field for d in diff.differences for c in d.changes}
    assert {"body.binding_id", "body.x", "body.created_at"} <= changed
    assert not diff.equal


def test_a_call_dropped_from_b_is_missing_and_one_added_is_extra(recorded):
    calls = recorded.exchanges
    place_call = next(i for i, e in enumerate(calls) if e.action == "place_call")
    without = again(recorded, calls[:place_call] + calls[place_call + 1:])
    diff = diff_traces(recorded, without)
    assert kinds(diff) == ["missing"] and diff.differences[0].a.action == "place_call"
    diff = diff_traces(without, recorded)
    assert kinds(diff) == ["extra"] and diff.differences[0].b.action == "place_call"


def test_two_calls_swapped_are_reordered_once_not_missing_and_extra(recorded):
    calls = copy.deepcopy(recorded.exchanges)
    listing = next(i for i, e in enumerate(calls) if e.action == "list_bindings")
    call = next(i for i, e in enumerate(calls) if e.action == "place_call")
    calls[listing], calls[call] = (dataclasses.replace(calls[call], offset=calls[listing].offset),
                                   dataclasses.replace(calls[listing], offset=calls[call].offset))
    diff = diff_traces(recorded, again(recorded, calls))
    assert kinds(diff) == ["reordered"]


def test_a_changed_outcome_names_status_business_code_and_failure(recorded):
    calls = copy.deepcopy(recorded.exchanges)
    retry = _index(calls, "create_binding", 3)  # the retry after the ghost success: 201
    calls[retry] = dataclasses.replace(calls[retry], response={
        "status": 409, "headers": {}, "body": {"code": "BIND_CONFLICT", "message": "b is bound"}})
    first = _index(calls, "create_binding", 0)
    calls[first] = dataclasses.replace(calls[first], response=None, failure=Failure("timeout", after=5.0))
    diff = diff_traces(recorded, again(recorded, calls))
    assert kinds(diff) == ["outcome", "outcome"]
    timeout, conflict = diff.differences
    assert [(c.field, c.a, c.b) for c in timeout.changes] == [("status", 201, None), ("failure", None, "timeout")]
    assert [(c.field, c.a, c.b) for c in conflict.changes][:2] == [("status", 201, 409), ("code", None, "BIND_CONFLICT")]
    text = render_text(diff, "a", "b")
    assert "status 201 -> 409; code none -> BIND_CONFLICT" in text


def test_the_same_action_with_a_changed_number_is_a_parameter_change_not_missing_and_extra(recorded):
    calls = copy.deepcopy(recorded.exchanges)
    axb = _index(calls, "create_binding", 1)
    changed = copy.deepcopy(calls[axb])
    changed.params["a"] = "13900000009"
    calls[axb] = changed
    diff = diff_traces(recorded, again(recorded, calls))
    assert kinds(diff) == ["params"]
    [change] = [c for c in diff.differences[0].changes if c.field.startswith("params.")]
    assert (change.field, change.a, change.b) == ("params.a", "13900000001", "13900000009")


def test_repeats_pair_in_order_a_timeout_then_its_retry(recorded):
    """A: the bind timed out, then the retry succeeded. B: one bind that succeeded at once."""
    calls = copy.deepcopy(recorded.exchanges)
    first = calls[_index(calls, "create_binding", 0)]
    timed_out = dataclasses.replace(first, response=None, failure=Failure("timeout", after=5.0), offset=first.offset - 1)
    a = again(recorded, [timed_out, *calls])
    diff = diff_traces(a, recorded)
    assert kinds(diff) == ["outcome", "missing"]
    assert diff.differences[0].a.failure.kind == "timeout" and diff.differences[0].b.status == 201
    assert diff.differences[1].a.status == 201


def test_json_output_lists_every_difference_with_both_sides(recorded):
    calls = copy.deepcopy(recorded.exchanges[:-1])
    data = to_json(diff_traces(recorded, again(recorded, calls)), "a.jsonl", "b.jsonl")
    assert data["equal"] is False and data["counts"]["missing"] == 1
    [difference] = data["differences"]
    assert difference["kind"] == "missing" and difference["b"] is None
    assert difference["a"]["action"] == recorded.exchanges[-1].action


@pytest.mark.parametrize("dialect, body, code", [
    ("aliyun", {"Code": "isv.SUBS_NOT_EXIST", "Message": "gone"}, "isv.SUBS_NOT_EXIST"),
    ("aliyun", {"Code": "OK"}, "OK"),
    ("tencent", {"Response": {"Error": {"Code": "InvalidParameter"}, "RequestId": "r"}}, "InvalidParameter"),
    ("tencent", {"Response": {"ErrorCode": "0", "BindId": "b"}}, "0"),
    ("native", {"code": "BINDING_NOT_FOUND"}, "BINDING_NOT_FOUND"),
    ("native", {"binding_id": "bnd_1"}, None),
    ("aliyun", "<html>gateway</html>", None),
    ("volcengine", {"ResponseMetadata": {"RequestId": "r", "Error": {"CodeN": 100018, "Code": "FlowLimitExceeded",
                                                                     "Message": "slow down"}}}, "FlowLimitExceeded"),
    ("volcengine", {"ResponseMetadata": {"RequestId": "r"}, "Result": {"SubId": "bnd_1"}}, None),
])
def test_business_code_per_dialect(dialect, body, code):
    assert business_code(dialect, body) == code


def test_a_vendor_business_code_change_is_reported():
    trace = import_har_file(DATA / "mitmproxy.har").trace
    calls = copy.deepcopy(trace.exchanges)
    calls[7].response["body"]["Response"] = {"Error": {"Code": "FailedOperation.BindIdNotExist", "Message": "x"},
                                             "RequestId": "other"}
    diff = diff_traces(trace, again(trace, calls))
    [difference] = diff.differences
    assert difference.kind == "outcome" and difference.a.action == "DelVirtualNum"
    assert ("code", "0", "FailedOperation.BindIdNotExist") in [(c.field, c.a, c.b) for c in difference.changes]


def _index(calls: list, action: str, nth: int) -> int:
    return [i for i, e in enumerate(calls) if e.action == action][nth]


def _swapper(pairs: dict[str, str]):
    def replace(text: str) -> str:
        for old, new in pairs.items():
            text = text.replace(old, new)
        return text

    return lambda value: _replace_strings(value, replace)
