"""report.html from a real run: a planted bug's failing example shows its own timeline and steps, the same
example as its failure trace."""

from __future__ import annotations

import logging
import re
import sys
from pathlib import Path

import pytest

from scenarios.events import EventBus
from scenarios.reports import ReportFiles
from scenarios.runner import Runner, RunOptions
from simulator.traces.format import read_trace

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "planted_bugs"))  # `import catalogue`


@pytest.fixture(autouse=True)
def quiet_core_logs():
    logging.getLogger("binding_core").setLevel(logging.CRITICAL)
    yield
    logging.getLogger("binding_core").setLevel(logging.NOTSET)


def visible(html: str) -> str:
    import html as html_module

    body = re.sub(r"<title>.*?</title>|<script>.*?</script>|<style>.*?</style>", " ", html, flags=re.S)
    return html_module.unescape(re.sub(r"<[^>]+>", " ", body))


def test_a_planted_bug_report_shows_the_failing_examples_own_timeline(tmp_path):
    from catalogue import BY_NAME

    bug = BY_NAME["blind_resend"]
    files = ReportFiles()
    with bug.applied():
        result = Runner(RunOptions(report_dir=tmp_path, run_id="bug", shrink=False, dialect=bug.dialect),
                        EventBus([files])).run([bug.scenario])
    assert not result.passed
    scenario = next(iter(files.record.scenarios.values()))
    telemetry = scenario.finished.telemetry
    assert telemetry["failing"] and telemetry["rules"] and telemetry["operations"]
    # The timeline and the steps are the failing example's: the same provider calls as its failure trace.
    trace = read_trace(scenario.finished.failure_trace)
    assert trace.header.meta["numbers"] == telemetry["numbers"]
    assert [(e.action, round(e.offset, 2)) for e in trace.exchanges] == \
        [(c["action"], round(c["t"], 2)) for c in telemetry["calls"]]
    text = visible((tmp_path / "bug" / "report.html").read_text())
    assert "The failing example: the last example that violated a check" in text
    assert "APPLIED, but the core was told HTTP" in text  # the ghost success the bug mishandles, in words
    assert f"pstnsim replay {scenario.finished.failure_trace}" in text
    assert "VIOLATED " + scenario.violations[0]["check"] in text
