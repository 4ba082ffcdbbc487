"""Report subscribers: a synthetic run's events become summary.json, junit.xml and a self-contained report.html."""

from __future__ import annotations

import io
import json
import re
from xml.etree import ElementTree as ET

from rich.console import Console

from scenarios.events import (
    CheckFailed, CheckPassed, EventBus, ExampleDone, RunFinished, RunStarted, ScenarioFinished, ScenarioStarted,
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
    assert "stray bnd_late from 12s to 72s" in html
    assert "stray bnd_orphan from 80s, never deleted" in html
