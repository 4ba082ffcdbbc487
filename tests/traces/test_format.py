"""The trace file format: what is refused (naming file and line), and what round-trips."""

from __future__ import annotations

import json

import pytest

from simulator.traces import (
    BusinessOperation, Exchange, Failure, Header, Trace, TraceError, parse_lines, read_trace, write_trace,
)

HEADER = {"type": "header", "format": "pstnsim-trace", "version": 1, "recorder": "test", "dialects": ["native"],
          "started_epoch": 1_800_000_000.0, "pseudonymised": True}
EXCHANGE = {"type": "exchange", "seq": 1, "offset": 0.5, "dialect": "native", "action": "create_binding",
            "params": {"mode": "XB", "b": "19900000001"}, "request": {"method": "POST", "path": "/v1/bindings"},
            "response": {"status": 503, "body": {"code": "INJECTED_FAULT"}}, "failure": None, "latency": 0.01}


def lines(*records: object) -> list[str]:
    return [json.dumps(r) + "\n" for r in records]


def test_a_trace_round_trips_through_a_file(tmp_path):
    trace = Trace(Header("test", ("aliyun",), 1_800_000_000.0, True, meta={"seed": 7}))
    trace.business.append(BusinessOperation(1, 0.0, "bind", "AXB", "17000000001", "19900000001", "19900000002"))
    trace.exchanges.append(Exchange(2, 0.25, "aliyun", "BindAxb", {"a": "19900000001"}, {"method": "POST"}, None,
                                    Failure("timeout", 3.0), 3.0, applied=None))
    path = write_trace(tmp_path / "t.jsonl", trace)
    again = read_trace(path)
    assert again.header.meta == {"seed": 7} and again.header.pseudonymised
    assert again.business == trace.business
    [exchange] = again.exchanges
    assert exchange.failure == Failure("timeout", 3.0) and exchange.response is None and exchange.status is None


@pytest.mark.parametrize("records, line, words", [
    ([], None, "empty file"),
    ([{"hello": 1}], 1, "not a pstnsim trace"),
    ([{**HEADER, "version": 2}], 1, "unknown trace format version 2"),
    ([HEADER, {**EXCHANGE, "seq": "one"}], 2, "'seq' must be an integer"),
    ([HEADER, {**EXCHANGE, "response": None}], 2, "neither a response nor a failure"),
    ([HEADER, {**EXCHANGE, "failure": {"kind": "meteor"}}], 2, "failure.kind must be one of"),
    ([HEADER, {"type": "business", "op": "bind", "mode": "XB", "x": "17000000001", "offset": 0}], 2, "needs b"),
    ([HEADER, {"type": "comment"}], 2, "unknown line type"),
    ([HEADER, HEADER], 2, "second header"),
])
def test_what_is_not_a_trace_is_refused_naming_the_line(records, line, words):
    with pytest.raises(TraceError) as refused:
        parse_lines(lines(*records), "incident.jsonl")
    assert refused.value.line == line and words in refused.value.message
    assert str(refused.value).startswith("incident.jsonl" + (f":{line}" if line else ""))


def test_a_truncated_last_line_is_named_as_truncated(tmp_path):
    path = tmp_path / "cut.jsonl"
    text = "".join(lines(HEADER, EXCHANGE))
    path.write_text(text + json.dumps(EXCHANGE)[:40])
    with pytest.raises(TraceError, match=r"cut\.jsonl:3: not valid JSON \(the file looks truncated\)"):
        read_trace(path)


def test_a_binary_file_is_refused_not_crashed_on(tmp_path):
    path = tmp_path / "trace.jsonl"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(TraceError, match="trace.jsonl"):
        read_trace(path)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(TraceError, match="nope.jsonl: cannot open"):
        read_trace(tmp_path / "nope.jsonl")
