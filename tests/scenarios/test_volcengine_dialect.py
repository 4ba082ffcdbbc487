"""The chaos suite over Volcengine vms (`pstnsim chaos run --dialect volcengine`).

The in-process core speaks vms, the scenarios' native fault rules land on vms
actions (scenarios/dialect_ops.py), and the checks still bite.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import pytest

from scenarios.cli import main
from scenarios.dialect_ops import blocks_settling, core_operations, translate_rule
from scenarios.scenario_file import default_suite

VMS_ACTIONS = {"BindAXB", "BindAXN", "UnbindAXB", "UnbindAXN", "QuerySubscriptionForList", "QuerySubscription"}


@pytest.fixture(autouse=True)
def quiet_core_logs():
    logging.getLogger("binding_core").setLevel(logging.CRITICAL)
    yield
    logging.getLogger("binding_core").setLevel(logging.NOTSET)


def test_default_suite_passes_over_volcengine_with_faults_on_its_actions(tmp_path, capsys):
    code = main(["chaos", "run", "--dialect", "volcengine", "--examples", "4", "--steps", "12",
                 "--report-dir", str(tmp_path), "--run-id", "suite", "--quiet"])
    out = capsys.readouterr().out
    assert code == 0, out
    summary = json.loads((tmp_path / "suite" / "summary.json").read_text())
    assert [s["scenario"] for s in summary["scenarios"]] == [p.stem for p in default_suite()]
    for scenario in summary["scenarios"]:
        assert scenario["dialect"] == "volcengine"
        assert {c["status"] for c in scenario["checks"]} == {"passed"}, scenario["scenario"]
        assert scenario["counts"]["ok"] > 5, "the workload must bind and unbind over vms"
        assert {key.split()[0] for key in scenario["faulted_calls"]} <= VMS_ACTIONS, scenario["faulted_calls"]
    ghost = next(s for s in summary["scenarios"] if s["scenario"] == "axb_ghost_success")
    assert ghost["faulted_calls"].get("BindAXB ghost_success", 0) > 0, ghost["faulted_calls"]
    assert "volcengine" in out


def test_native_rules_move_onto_vms_actions():
    rule = {"match": {"operation": ["create_binding", "list_bindings"], "x": "17100000001"},
            "action": {"kind": "ghost_success"}}
    moved = translate_rule(rule, "volcengine")
    assert moved["match"] == {"operation": ["BindAXN", "BindAXB", "QuerySubscriptionForList"], "x": "17100000001",
                              "dialect": "volcengine"}
    assert translate_rule({"match": {"operation": "delete_*"}, "action": {"kind": "reset"}}, "volcengine")["match"][
        "operation"] == ["UnbindAXN", "UnbindAXB"]
    assert core_operations("volcengine") == frozenset(VMS_ACTIONS)


def test_settling_needs_the_vms_lookups_not_the_binds():
    outage = {"action": {"kind": "status", "status": 503}}
    assert blocks_settling({**outage, "match": {"operation": "list_bindings"}}, "volcengine")
    assert blocks_settling({**outage, "match": {"operation": "get_binding"}}, "volcengine")
    assert not blocks_settling({**outage, "match": {"operation": "create_binding"}}, "volcengine")
