"""The main job: the default suite passes on the bundled core, in-process under virtual time, and writes its reports."""

from __future__ import annotations

import json
import logging
from xml.etree import ElementTree as ET

from scenarios.checkers import CHECKS
from scenarios.cli import main
from scenarios.scenario_file import default_suite, load_scenario


def test_default_suite_passes_on_the_bundled_core(tmp_path, capsys):
    logging.getLogger("binding_core").setLevel(logging.CRITICAL)
    code = main(["chaos", "run", "--report-dir", str(tmp_path), "--run-id", "suite", "--quiet"])
    out = capsys.readouterr().out
    assert code == 0, out
    summary = json.loads((tmp_path / "suite" / "summary.json").read_text())
    assert summary["passed"] is True and summary["violations"] == 0
    assert [s["scenario"] for s in summary["scenarios"]] == [p.stem for p in default_suite()]
    files = {s.name: s for s in map(load_scenario, default_suite())}
    for scenario in summary["scenarios"]:
        statuses = {c["name"]: c["status"] for c in scenario["checks"]}
        skipped = {c["name"]: c["reason"] for c in scenario["checks"] if c["status"] == "skipped"}
        assert "failed" not in statuses.values(), (scenario["scenario"], statuses)
        # In-process every check has its data, except what the file turns off (placed calls) or what a vendor
        # wire cannot show (one operation's requests in the provider's journal); a skip says why.
        allowed = set() if files[scenario["scenario"]].workload.calls else {"calls_routed_as_core_says"}
        if scenario["dialect"] != "native":
            allowed |= {name for name, reason in skipped.items() if scenario["dialect"] in reason}
        assert set(skipped) <= allowed and all(skipped.values()), (scenario["scenario"], skipped)
        assert scenario["counts"]["ok"] > 20, "the workload must actually bind and unbind"
        assert scenario["virtual_time"] > 60, "virtual time must advance (minutes of it, in seconds of wall time)"
    # The gate meets a wire with no idempotency key too (late creates are not absorbed there).
    assert {s["dialect"] for s in summary["scenarios"]} - {"native"}, "no vendor-wire scenario in the default suite"
    junit = ET.parse(tmp_path / "suite" / "junit.xml").getroot()
    checks = len(CHECKS.select())  # every registered check, in every scenario
    assert checks >= 12
    assert junit.get("failures") == "0" and int(junit.get("tests")) == checks * len(summary["scenarios"])
    assert "PASSED" in out and "chaos summary" in out
