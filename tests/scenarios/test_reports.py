"""Report subscribers: a synthetic run's events become summary.json, junit.xml and a self-contained report.html."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from xml.etree import ElementTree as ET

from rich.console import Console

from scenarios.events import (
    CheckFailed, CheckPassed, EventBus, ExampleDone, ReplayCompared, RunFinished, RunStarted, ScenarioFinished,
    ScenarioStarted,
)
from scenarios.reports import ReportFiles
from scenarios.reports.terminal import TerminalReport

TELEMETRY = {
    "end": 100.0,
    "timelines": {"17100000001": {"XB": [[1.0, "OPERATION"], [4.0, "BIND"]], "AXB": [[2.0, "OPERATION"], [9.0, "NOT_BIND"]]}},
    "faults": [[2.5, "17100000001", "status 503"]],
    "crashes": [50.0],
    "alerts": [[9.0, "17100000001", "AXB", 5]],
    "strays": [[12.0, 72.5, "17100000001", "XB", "bnd_late"], [80.0, None, "17100000001", "AXB", "bnd_orphan"]],
    "latencies": [0.01, 0.02, 3.0],
    "settle_times": [3.0, 7.0],
    "attempts": {"1": 3, "5": 1},
    "fault_counts": {"status": 4},
}


def emit_run(tmp_path, failing: bool):
    files = ReportFiles()
    out = io.StringIO()
    terminal = TerminalReport(Console(file=out, width=120), quiet=True)
    bus = EventBus([files, terminal])
    bus.emit(RunStarted(0.0, "run-1", 7, ("storm", "ghost"), "in-process", str(tmp_path / "run-1")))
    for name in ("storm", "ghost"):
        bus.emit(ScenarioStarted(0.1, name, 7, f"{name} scenario", 3, 20))
        bus.emit(ExampleDone(0.2, name, 0, 12, 40.0))
        bus.emit(CheckPassed(0.3, name, "no_operation_left", "1. nothing left in OPERATION"))
        bus.emit(CheckPassed(0.3, name, "legal_transitions", "transitions legal", skipped=True, reason="not observed"))
        bad = failing and name == "ghost"
        if bad:
            bus.emit(CheckFailed(0.4, name, "no_orphan_or_duplicate", "4. no orphans", "orphan or duplicate provider binding",
                                 "1 binding the core does not know of", {"orphans": [{"binding_id": "bnd_9"}]},
                                 ("state = ChaosMachine()", "state.bind_xb(x=0, b=1)"),
                                 "pstnsim chaos run ghost.toml --seed 7 --replay ABC"))
        bus.emit(ScenarioFinished(0.5, name, 7, not bad, 3, 30, 120.0, 0.4, {"ok": 5, "fail": 1, "info": 2}, TELEMETRY))
    bus.emit(RunFinished(1.0, "run-1", not failing, 2, 1 if failing else 0, 1.0, 240.0, str(tmp_path / "run-1")))
    return files, out.getvalue()


def test_passing_run_writes_three_files(tmp_path):
    files, text = emit_run(tmp_path, failing=False)
    assert sorted(p.name for p in files.written) == ["junit.xml", "report.html", "summary.json"]
    summary = json.loads((tmp_path / "run-1" / "summary.json").read_text())
    assert summary["passed"] is True and summary["violations"] == 0
    assert [s["scenario"] for s in summary["scenarios"]] == ["storm", "ghost"]
    assert summary["scenarios"][0]["counts"] == {"ok": 5, "fail": 1, "info": 2}
    assert "PASSED" in text and "storm" in text


def test_failing_run_carries_violation_everywhere(tmp_path):
    files, text = emit_run(tmp_path, failing=True)
    summary = json.loads((tmp_path / "run-1" / "summary.json").read_text())
    assert summary["passed"] is False and summary["violations"] == 1
    violation = summary["scenarios"][1]["violations"][0]
    assert violation["replay_command"].startswith("pstnsim chaos run ghost.toml")
    assert violation["steps"][1] == "state.bind_xb(x=0, b=1)"

    root = ET.parse(tmp_path / "run-1" / "junit.xml").getroot()
    assert root.get("failures") == "1"
    failures = root.findall(".//testcase/failure")
    assert len(failures) == 1 and "replay: pstnsim chaos run" in failures[0].text
    assert len(root.findall(".//testcase/skipped")) == 2
    assert {tc.get("name") for tc in root.iter("testcase")} >= {"no_operation_left", "no_orphan_or_duplicate"}

    html = (tmp_path / "run-1" / "report.html").read_text()
    assert "FAILED" in html and "state.bind_xb(x=0, b=1)" in html and "--replay ABC" in html
    assert html.count("<svg") >= 8  # timeline + 4 charts per scenario
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html), "report must not fetch anything"
    assert "FAILED" in text and "VIOLATION" in text


def test_the_timeline_shows_how_long_each_stray_binding_lived(tmp_path):
    """A late-landing binding the core never held is drawn under its lane, from creation to deletion."""
    emit_run(tmp_path, failing=False)
    html = (tmp_path / "run-1" / "report.html").read_text()
    assert "provider binding the core never held" in html  # the legend
    assert "stray bnd_late from 12.0 s to 72.5 s" in html
    assert "stray bnd_orphan from 80.0 s, never deleted" in html


# ---- a report that explains --------------------------------------------------------------------------------

FAILING = json.loads((Path(__file__).parent / "data" / "failing_example.json").read_text())
TRACE = "reports/run-2/brownout_429_latency.failure.trace.jsonl"


def emit_failing_run(tmp_path, telemetry=None):
    """A run of two scenarios: `storm` passes, then `brownout` fails with a real failing example's data."""
    files = ReportFiles()
    bus = EventBus([files])
    bus.emit(RunStarted(0.0, "run-2", 7, ("storm", "brownout"), "in-process", str(tmp_path / "run-2")))
    bus.emit(ScenarioStarted(0.1, "storm", 7, "storm scenario", 3, 20))
    bus.emit(CheckPassed(0.2, "storm", "no_operation_left", "1. nothing left in OPERATION"))
    bus.emit(ScenarioFinished(0.3, "storm", 7, True, 3, 30, 120.0, 0.4, {"ok": 5}, {**TELEMETRY, "example": 2}))
    bus.emit(ScenarioStarted(0.4, "brownout", 7, "brown-out", 3, 20))
    bus.emit(CheckPassed(0.5, "brownout", "no_operation_left", "1. nothing left in OPERATION"))
    for v in FAILING["violations"]:
        bus.emit(CheckFailed(0.6, "brownout", v["check"], v["description"], v["title"], v["message"], v["details"],
                             tuple(v["steps"]), v["replay_command"]))
    bus.emit(ScenarioFinished(0.7, "brownout", 7, False, 202, 760, 7316.0, 21.0, {"ok": 1},
                              telemetry if telemetry is not None else FAILING["telemetry"], "", TRACE))
    bus.emit(RunFinished(1.0, "run-2", False, 2, 3, 1.0, 7436.0, str(tmp_path / "run-2")))
    return (tmp_path / "run-2" / "report.html").read_text()


def visible(html: str) -> str:
    """The page's text as a reader sees it without hovering: tooltips (<title> inside SVG), scripts, styles and
    tags removed, entities decoded."""
    import html as html_module

    body = html.split("<body>", 1)[1]
    body = re.sub(r"<title>.*?</title>|<script>.*?</script>", " ", body, flags=re.S)
    return html_module.unescape(re.sub(r"<[^>]+>", " ", body))


def test_failures_come_first_the_failed_scenario_and_its_failed_checks(tmp_path):
    html = emit_failing_run(tmp_path)
    assert html.index('id="brownout"') < html.index('id="storm"')
    section = html[html.index('id="brownout"'):html.index('id="storm"')]
    checks = section[section.index(">Checks ("):]
    assert checks.index("axb_matches_provider") < checks.index("no_operation_left")
    assert section.index("Failed checks") < section.index(">Checks (")
    assert section.index("The failing example") < section.index(">Checks (")


def test_a_failure_says_which_example_it_shows_and_tells_its_steps_in_words(tmp_path):
    text = visible(emit_failing_run(tmp_path))
    failing = text[text.index("brownout —"):text.index("storm —")]
    assert "The failing example: the last example that violated a check" in failing
    # The minimal sequence in words, with the numbers it used, beside Hypothesis's program.
    assert "burst of 2: bind XB on X=13783016613 B=18555568287; bind AXB on X=13783016613 A=16758097909" in failing
    assert "add a fault: create_binding requests answer HTTP 429 with Retry-After 0.5 s" in failing
    assert "state.advance_time(seconds=0.5)" in failing
    # Its steps in words: the held call, the core giving up, the late landing, the violated checks.
    assert "held 4.90 s (injected latency); longer than the core waits (2.00 s)" in failing
    assert "t=2.00 s  the core stopped waiting for the create_binding it sent at t=0.00 s" in failing
    assert "went through at the provider after all (HTTP 201, bnd_00000002)" in failing
    assert "VIOLATED axb_matches_provider, no_orphan_or_duplicate, calls_routed_as_core_says" in failing


def test_faults_and_evidence_are_readable_without_hovering_in_the_timelines_times(tmp_path):
    html = emit_failing_run(tmp_path)
    text = visible(html)
    failing = text[text.index("brownout —"):text.index("storm —")]
    assert "Injected faults (2)" in failing and "latency+status:429" in failing
    assert "answered HTTP 429 (injected, not applied)" in failing
    # The orphan's creation time is the same t= the timeline and the steps use, not an epoch.
    assert "created_at" in failing and "t=4.90 s" in failing
    assert "1767225604" not in failing


def test_the_replay_commands_are_copyable_on_their_own(tmp_path):
    html = emit_failing_run(tmp_path)
    blocks = dict(re.findall(r'<code id="(cmd-\d+)">(.*?)</code>', html))
    buttons = re.findall(r'<button type=button data-target="(cmd-\d+)" onclick="pstnsimCopy\(this\)">copy</button>',
                         html)
    commands = [blocks[b] for b in buttons]
    assert any(c.startswith("pstnsim chaos run ") and "--replay " in c and "\n" not in c for c in commands)
    assert f"pstnsim replay {TRACE}" in commands
    assert "function pstnsimCopy" in html and "execCommand('copy')" in html  # works from file://, no server
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html), "report must not fetch anything"


def test_a_passing_run_says_which_example_its_timeline_shows_and_why(tmp_path):
    html = emit_failing_run(tmp_path)
    text = visible(html)
    passing = text[text.index("storm —"):]
    assert "No example failed. Shown: example 2 of 3, the one whose numbers changed status most often" in passing


def test_without_the_example_log_the_page_still_renders_what_it_has(tmp_path):
    """Old or partial telemetry (no rules, calls or operations): the timeline and the failure still show."""
    text = visible(emit_failing_run(tmp_path, telemetry=dict(TELEMETRY)))
    assert "Minimal failing sequence" in text and "The failing example" in text
    assert "status 503" in text  # the fault table falls back to the timeline's fault ticks


def test_chart_labels_stay_inside_their_drawing():
    from scenarios.reports.svg import bars, histogram

    chart = bars({"latency": 289, "latency+status": 361, "latency+truncated_body": 1,
                  "latency+malformed_body": 2, "latency+empty_reply": 2}, "Injected faults by kind")
    width, height = map(float, re.search(r'viewBox="0 0 (\S+) (\S+)"', chart).groups())
    assert height > 200  # grew to hold the slanted names
    assert chart.count("rotate(-35") == 5
    for y in re.findall(r'<text x="[^"]+" y="([^"]+)" class=axis text-anchor=middle>\d+</text>', chart):
        assert 8 <= float(y) <= height  # the count above the tallest bar is not cut off
    short = bars({"0": 187, "1": 128}, "Failed attempts")
    assert "rotate" not in short
    hist = histogram([0.0001, 0.03, 9.19], "latency", log_scale=True)
    anchors = re.findall(r'class=axis text-anchor=(\w+)>[^<]*s</text>', hist)
    assert anchors == ["start", "middle", "end"]  # the first and last axis labels are anchored inwards


def test_a_reproduced_replay_puts_its_verdict_and_failed_checks_before_the_steps_beside_the_recording(tmp_path):
    v = FAILING["violations"][0]
    bus = EventBus([ReportFiles()])
    bus.emit(RunStarted(0.0, "replay", 7, ("brownout",), "in-process", str(tmp_path / "replay")))
    bus.emit(ScenarioStarted(0.1, "brownout", 7, "brown-out", 1, 2))
    bus.emit(CheckFailed(0.2, "brownout", v["check"], v["description"], v["title"], v["message"], v["details"],
                         ("    0.000s  bind AXB x=13783016613",), "pstnsim replay t.jsonl"))
    step = {"seq": 1, "offset": 0.0, "op": "bind", "mode": "AXB", "x": "13783016613", "a": None, "b": "1",
            "recorded_answer": "fail: done/refused", "answer": "ok: done/bound", "recorded": [], "sent": []}
    bus.emit(ReplayCompared(0.3, "brownout", "t.jsonl", "native", "business lines", [step], [], [],
                            (v["check"],), (v["check"],), "reproduced"))
    bus.emit(ScenarioFinished(0.4, "brownout", 7, False, 1, 2, 6.0, 0.3, {}, FAILING["telemetry"]))
    bus.emit(RunFinished(0.5, "replay", False, 1, 1, 0.5, 6.0, str(tmp_path / "replay")))
    html = (tmp_path / "replay" / "report.html").read_text()
    order = [html.index(f"reproduced: {v['check']}"), html.index("Failed checks"),
             html.index("Business steps beside the recording"), html.index("Step by step")]
    assert order == sorted(order)
    assert "class='answer differs'>ok: done/bound" in html  # the answer that changed is marked
    assert "pstnsim replay t.jsonl" in html
