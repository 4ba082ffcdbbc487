"""report.html for a `--sut` run by URL: a timeline from what a remote run has (the driver's history, the
provider's journal through its admin API, the transitions the service offers), in real (wall-clock) seconds."""

from __future__ import annotations

import logging
import re

import pytest
from servers import provider_and_core

from scenarios.events import EventBus
from scenarios.reports import ReportFiles
from scenarios.runner import Runner, RunOptions

SMOKE = """
name = "remote_smoke"
description = "XB and AXB on two numbers against servers by URL."
[workload]
modes = ["XB", "AXB"]
numbers = 2
parties = 4
mix = { bind = 3, unbind = 1 }
rate = 20.0
burst = [2, 4]
fault_kinds = ["status"]
[core]
retry = { max_attempts = 3, base_delay = 0.05, max_delay = 0.2, alert_threshold = 2 }
provider = { timeout = 1.0 }
[run]
duration = 2
[budget]
examples = 4
steps = 6
"""


@pytest.fixture(autouse=True)
def quiet_core_logs():
    logging.getLogger("binding_core").setLevel(logging.CRITICAL)
    yield
    logging.getLogger("binding_core").setLevel(logging.NOTSET)


def visible(html: str) -> str:
    import html as html_module

    body = re.sub(r"<title>.*?</title>|<script>.*?</script>|<style>.*?</style>", " ", html, flags=re.S)
    return html_module.unescape(re.sub(r"<[^>]+>", " ", body))


@pytest.fixture
def servers(tmp_path):
    with provider_and_core(tmp_path) as urls:
        yield urls


def test_a_run_by_url_has_a_timeline_from_the_journal_and_the_services_transitions(servers, tmp_path):
    provider_url, core_url = servers
    scenario = tmp_path / "remote_smoke.toml"
    scenario.write_text(SMOKE)
    files = ReportFiles()
    Runner(RunOptions(report_dir=tmp_path, run_id="remote", sut_url=core_url, provider_url=provider_url),
           EventBus([files])).run([scenario])
    telemetry = next(iter(files.record.scenarios.values())).finished.telemetry
    assert telemetry["offered"] == {"journal": True, "transitions": True, "operations": True, "alerts": True}
    assert set(telemetry["timelines"]) == set(telemetry["numbers"])  # this example's numbers, no one else's
    assert telemetry["calls"] and telemetry["transitions"]
    assert all(-1.0 <= row["t"] <= telemetry["end"] + 1.0 for row in telemetry["calls"] + telemetry["transitions"])
    html = (tmp_path / "remote" / "report.html").read_text()
    assert 'aria-label="per-number status timeline"' in html
    text = visible(html)
    assert "core → provider: create_binding" in text and "NOT_BIND → OPERATION" in text
    assert "real seconds" in text  # not "virtual": the run was in real time
