"""Real-time mode: the harness checks a binding service by URL (here the bundled core as a separate process)."""

from __future__ import annotations

import json
import logging

import pytest
from servers import provider_and_core

from scenarios.cli import main

SCENARIO = """
name = "remote_smoke"
description = "XB and AXB on two numbers against servers by URL, a little 503."
[workload]
modes = ["XB", "AXB"]
numbers = 2
parties = 4
mix = { bind = 3, unbind = 2, read = 1 }
rate = 20.0
burst = [1, 4]
fault_kinds = ["status"]
[[faults]]
match = { operation = "create_binding" }
action = { kind = "status", status = 503 }
when = { probability = 0.2 }
[core]
retry = { max_attempts = 3, base_delay = 0.05, max_delay = 0.2, alert_threshold = 2 }
provider = { timeout = 1.0 }
[run]
duration = 30
[budget]
examples = 3
steps = 5
"""


@pytest.fixture
def servers(tmp_path):
    with provider_and_core(tmp_path) as urls:
        yield urls


def test_a_service_by_url_passes_every_check_it_exposes(servers, tmp_path, capsys):
    logging.getLogger("binding_core").setLevel(logging.CRITICAL)
    provider_url, core_url = servers
    scenario = tmp_path / "remote_smoke.toml"
    scenario.write_text(SCENARIO)
    code = main(["chaos", "run", str(scenario), "--sut", core_url, "--provider-url", provider_url,
                 "--report-dir", str(tmp_path), "--run-id", "remote", "--quiet"])
    out = capsys.readouterr().out
    summary = json.loads((tmp_path / "remote" / "summary.json").read_text())
    assert summary["mode"] == "real-time"
    assert code == 0, (out, summary["scenarios"][0]["error"], summary["scenarios"][0]["violations"])
    result = summary["scenarios"][0]
    statuses = {c["name"]: c["status"] for c in result["checks"]}
    assert statuses["linearizable"] == "passed" and statuses["xb_matches_provider"] == "passed"
    assert statuses["legal_transitions"] == "passed"  # the bundled core serves /v1/transitions
    assert result["counts"]["ok"] > 0
