"""report.html names a scenario's verdict as the run gave it (vacuous, interrupted, harness error, a replay that
no longer reproduces), with the note that says why, not just passed/FAILED."""

from __future__ import annotations

import html as html_module
import re

import pytest

from scenarios.events import EventBus, RunFinished, RunStarted, ScenarioFinished, ScenarioStarted
from scenarios.reports import ReportFiles


def page(tmp_path, verdict: str, note: str, passed: bool) -> str:
    bus = EventBus([ReportFiles()])
    bus.emit(RunStarted(0.0, "run", 7, ("storm",), "real-time", str(tmp_path / "run")))
    bus.emit(ScenarioStarted(0.1, "storm", 7, "storm scenario", 3, 20))
    bus.emit(ScenarioFinished(0.2, "storm", 7, passed, 3, 30, 12.0, 0.4, {"ok": 0}, {}, verdict=verdict, note=note))
    bus.emit(RunFinished(0.3, "run", passed, 1, 0, 0.3, 12.0, str(tmp_path / "run")))
    text = (tmp_path / "run" / "report.html").read_text()
    text = re.sub(r"<script>.*?</script>|<style>.*?</style>", " ", text, flags=re.S)
    return " ".join(html_module.unescape(re.sub(r"<[^>]+>", " ", text)).split())


@pytest.mark.parametrize("verdict, shown, passed", [
    ("vacuous", "VACUOUS: nothing was checked", False),
    ("interrupted", "INTERRUPTED", False),
    ("harness error", "HARNESS ERROR", False),
    ("no longer reproduces", "no longer reproduces", True),
])
def test_the_verdict_and_its_reason_are_on_the_page(tmp_path, verdict, shown, passed):
    text = page(tmp_path, verdict, f"why: {verdict}", passed)
    assert f"storm — {shown}" in text
    assert f"why: {verdict}" in text
    assert "real time" in text  # a run by URL: its times are not virtual


def test_an_interrupted_run_says_so_at_the_top_with_its_exit_code(tmp_path):
    bus = EventBus([ReportFiles()])
    bus.emit(RunStarted(0.0, "run", 7, ("storm",), "in-process", str(tmp_path / "run")))
    bus.emit(ScenarioStarted(0.1, "storm", 7, "storm scenario", 3, 20))
    bus.emit(ScenarioFinished(0.2, "storm", 7, False, 1, 3, 12.0, 0.4, {}, {}, verdict="interrupted"))
    bus.emit(RunFinished(0.3, "run", False, 1, 0, 0.3, 12.0, str(tmp_path / "run"), interrupted=True, exit_code=130))
    text = " ".join(re.sub(r"<[^>]+>", " ", (tmp_path / "run" / "report.html").read_text()).split())
    assert "pstnsim chaos run run — INTERRUPTED" in text and "exit code 130" in text
