"""The report's words: a failing example told step by step, the minimal sequence as sentences, fault rules and
fault labels in words, evidence with the timeline's relative times. Pure functions over plain data."""

from __future__ import annotations

from scenarios.reports.evidence import evidence_html, relative_times
from scenarios.reports.narrative import events, story
from scenarios.reports.sequence import parse_program, sequence_words
from scenarios.reports.words import fault_label_words, fault_rule_words

EPOCH = 1767225600.0
X, A, B = "13783016613", "16758097909", "18555568287"

# The shape scenarios/example_log.py gives one example: a create held past the core's timeout, which the core
# then records as a failure while the provider applies it (the planted bug `timeout_as_failure`).
TELEMETRY = {
    "origin": {"epoch": EPOCH, "loop": 0.0},
    "end": 6.0,
    "numbers": ["15526018159", X],
    "parties": [A, B, "18896411663"],
    "policy": {"provider_timeout": 2.0, "max_attempts": 6, "alert_threshold": 4},
    "rules": [
        {"rule": "burst", "start": 0.0, "end": 0.0, "ops": 1, "crashes": 0, "gray": 0},
        {"rule": "advance_time", "start": 0.0, "end": 0.5, "ops": 1, "crashes": 0, "gray": 0},
        {"rule": "add_fault", "start": 0.5, "end": 0.5, "ops": 1, "crashes": 0, "gray": 0},
    ],
    "operations": [
        {"seq": 0, "t": 0.0, "kind": "bind", "mode": "AXB", "x": X, "a": A, "b": B, "value": None, "end": 2.0,
         "outcome": "fail", "detail": "done/refused after 0 attempt(s)", "id": "op_00000002"},
    ],
    "calls": [
        {"t": 0.0, "took": 4.903, "action": "create_binding", "mode": "AXB", "x": X, "a": A, "b": B, "status": 201,
         "code": None, "fault": "latency", "binding_id": "bnd_00000002", "hidden_status": None},
    ],
    "transitions": [
        {"t": 0.0, "x": X, "mode": "AXB", "from": "NOT_BIND", "to": "OPERATION", "version": 1, "operation_id": "op_00000002"},
        {"t": 2.0, "x": X, "mode": "AXB", "from": "OPERATION", "to": "NOT_BIND", "version": 2, "operation_id": "op_00000002"},
    ],
    "core_operations": [
        {"id": "op_00000002", "kind": "bind", "x": X, "mode": "AXB", "state": "done", "outcome": "refused",
         "attempts": 0, "last_error": "unknown outcome: POST /v1/bindings: no answer within 2s", "t": 0.0, "end": 2.0},
    ],
    "fault_changes": [
        {"t": 0.5, "change": "added", "id": "chaos-1", "installed": True,
         "rule": {"match": {"operation": "create_binding"}, "action": {"kind": "status", "status": 429, "retry_after": 0.5},
                  "when": {}}},
    ],
    "alerts": [],
    "strays": [[4.903, None, X, "AXB", "bnd_00000002"]],
}
PROGRAM = (
    "state = ChaosMachine()",
    "state.start_world()",
    f"state.burst(ops=[(('bind', 'AXB'), 1, 0, 0, 0)])",
    "state.advance_time(seconds=0.5)",
    "state.add_fault(rule={'match': {'operation': 'create_binding'},",
    " 'action': {'kind': 'status', 'status': 429, 'retry_after': 0.5},",
    " 'when': {}})",
    "state.settle()",
    "state.teardown()",
    "",
)


def texts(sections):
    return [(section.title, [f"t={line.t:g} {line.text}" for line in section.lines]) for section in sections]


def test_the_story_tells_the_held_call_the_timeout_and_the_late_landing_in_time_order():
    told = [line.text for line in events(TELEMETRY)]
    held = next(i for i, t in enumerate(told) if "held 4.90 s (injected latency)" in t)
    gave_up = next(i for i, t in enumerate(told) if "the core stopped waiting" in t)
    back = next(i for i, t in enumerate(told) if "OPERATION → NOT_BIND" in t)
    landed = next(i for i, t in enumerate(told) if "went through at the provider after all" in t)
    assert held < gave_up < back < landed
    assert f"bind AXB on X={X} A={A} B={B} → accepted as op_00000002" in told[0]
    assert any("a binding the core never held" in t and "bnd_00000002" in t for t in told)
    assert all(0.0 <= line.t <= TELEMETRY["end"] for line in events(TELEMETRY))  # relative seconds, never epoch


def test_at_an_instant_where_a_wait_ends_and_a_burst_starts_the_calls_belong_to_the_burst():
    telemetry = {**TELEMETRY, "rules": [
        {"rule": "advance_time", "start": 0.0, "end": 0.5, "ops": 0, "crashes": 0, "gray": 0},
        {"rule": "burst", "start": 0.5, "end": 0.5, "ops": 1, "crashes": 0, "gray": 0},
    ], "operations": [{**TELEMETRY["operations"][0], "t": 0.5, "end": 2.5}],
        "calls": [{**TELEMETRY["calls"][0], "t": 0.5}], "fault_changes": [], "strays": [],
        "transitions": [{**row, "t": row["t"] + 0.5} for row in TELEMETRY["transitions"]]}
    (wait, wait_lines), (burst, burst_lines), _ = texts(story(telemetry))
    assert wait_lines == []
    assert any("core → provider: create_binding" in line for line in burst_lines)


def test_each_line_sits_under_the_rule_that_did_it_and_the_check_ends_the_story():
    sections = story(TELEMETRY, sequence_words(PROGRAM, TELEMETRY["numbers"], TELEMETRY["parties"]),
                     "checked: VIOLATED axb_matches_provider")
    (burst, burst_lines), (wait, wait_lines), (fault, fault_lines), (closing, closing_lines) = texts(sections)
    assert burst.startswith("1. burst of 1: bind AXB on X=13783016613 A=16758097909 B=18555568287")
    assert any("accepted as op_00000002" in line for line in burst_lines)
    assert wait == "2. wait 0.50 s" and wait_lines == []
    # The fault rule added at t=0.5 belongs to the add_fault rule, not to the wait that ended at the same instant.
    assert fault.startswith("3. add a fault") and any("fault rule chaos-1 added" in line for line in fault_lines)
    assert closing == "then: settle and check"
    assert closing_lines[-1] == "t=6 checked: VIOLATED axb_matches_provider"
    assert any(line.startswith("t=2 the core stopped waiting") for line in closing_lines)


def test_the_minimal_sequence_reads_as_sentences_with_the_numbers_it_used():
    words = sequence_words(PROGRAM, TELEMETRY["numbers"], TELEMETRY["parties"])
    assert words == [
        "burst of 1: bind AXB on X=13783016613 A=16758097909 B=18555568287",
        "wait 0.50 s",
        "add a fault: create_binding requests answer HTTP 429 with Retry-After 0.5 s without being applied, "
        "every time, until removed",
        "settle: faults off, wait until nothing is pending, then check every invariant",
    ]
    assert [c.rule for c in parse_program(PROGRAM)] == ["start_world", "burst", "advance_time", "add_fault",
                                                         "settle", "teardown"]


def test_a_line_the_reader_cannot_parse_is_shown_as_written():
    assert sequence_words(["state.mystery(x=<object at 0x1>)"]) == ["mystery(x=<object at 0x1>)"]


def test_fault_rules_and_labels_in_words():
    assert fault_rule_words({"match": {"operation": ["create_binding", "delete_binding"], "x": 1},
                             "action": {"kind": "ghost_success", "then": "status", "status": 503},
                             "when": {"probability": 0.25}}, ["17100000001", "17100000002"]) == (
        "create_binding or delete_binding requests on X=17100000002 are applied, but the caller gets HTTP 503 "
        "(a ghost success), with probability 25%")
    assert "held 0.27 s" in fault_label_words("latency+status:429", 0.27)
    assert "answered HTTP 429" in fault_label_words("latency+status:429", 0.27)
    assert fault_label_words("ghost_success:reset").startswith("APPLIED, but the core was told a reset connection")
    assert fault_label_words("replay:seq=4+ghost_success:503").startswith("replayed as recorded (#4): APPLIED")


def test_evidence_times_become_the_timelines_relative_seconds():
    details = {"orphans": [{"binding_id": "bnd_00000002", "x": X, "created_at": EPOCH + 4.90287, "ended_at": None}],
               "operations": [{"op_id": 1, "invoked_at": 0.5, "completed_at": None}]}
    converted = relative_times(details, {"epoch": EPOCH, "loop": 0.0})
    assert converted["orphans"][0]["created_at"] == 4.903
    assert converted["operations"][0]["invoked_at"] == 0.5  # loop seconds are already relative in-process
    html = evidence_html(details, {"epoch": EPOCH, "loop": 0.0})
    assert "t=4.90 s" in html and str(int(EPOCH)) not in html
    assert "<th>binding_id</th>" in html  # a table, not a JSON blob
