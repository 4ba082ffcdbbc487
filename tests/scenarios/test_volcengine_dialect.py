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
    # 15 steps: at 12, outage_across_crashes (creates failing the first six times on each X) never binds
    # over vms at seed 7, a vacuous run (exit 2), not a failed check.
    code = main(["chaos", "run", "--dialect", "volcengine", "--examples", "4", "--steps", "15",
                 "--report-dir", str(tmp_path), "--run-id", "suite", "--quiet"])
    out = capsys.readouterr().out
    assert code == 0, out
    summary = json.loads((tmp_path / "suite" / "summary.json").read_text())
    assert [s["scenario"] for s in summary["scenarios"]] == [p.stem for p in default_suite()]
    for scenario in summary["scenarios"]:
        assert scenario["dialect"] == "volcengine"
        # Checks whose data this wire cannot show are skipped with their reason; none may fail.
        assert {c["status"] for c in scenario["checks"]} <= {"passed", "skipped"}, scenario["scenario"]
        assert sum(c["status"] == "passed" for c in scenario["checks"]) >= 10, scenario["scenario"]
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


# ---- the planted bug: the vendor SDK's retrying bind, trusted --------------------------------------------

sys.path.insert(0, str(Path(__file__).parents[1] / "planted_bugs"))
from catalogue import BY_NAME  # noqa: E402

from scenarios.runner import Runner, RunOptions  # noqa: E402
from scenarios.scenario_file import EXAMPLES_DIR  # noqa: E402


def test_the_trusted_sdk_bind_is_caught_and_its_replay_fails_again(tmp_path):
    planted = BY_NAME["trusts_sdk_retrying_bind"]
    with planted.applied():
        first = Runner(RunOptions(report_dir=tmp_path, dialect="volcengine", shrink=False)).run([planted.scenario])
        outcome = first.outcomes[0]
        assert not outcome.error, outcome.error
        failed = {r.name for r in outcome.results if r.status == "failed"}
        assert "no_orphan_or_duplicate" in failed, failed
        args = outcome.replay_command.split()
        assert args[args.index("--dialect") + 1] == "volcengine"
        again = Runner(RunOptions(report_dir=tmp_path, dialect="volcengine",
                                  replay=args[args.index("--replay") + 1])).run([planted.scenario])
    assert failed & {r.name for r in again.outcomes[0].results if r.status == "failed"}


def test_the_sdks_immediate_resend_after_a_lost_reply_is_what_leaks(tmp_path):
    """Ghost binds that hang (the SDK raises, its @retry re-sends at once): the resend's conflict, trusted,
    leaves the first attempt's binding behind; the bundled core, which settles instead, passes."""
    text = (EXAMPLES_DIR / "axb_ghost_success.toml").read_text()
    hanging = text.replace('action = { kind = "ghost_success", then = "status", status = 503 }',
                           'action = { kind = "ghost_success", then = "timeout", seconds = 30 }')
    assert hanging != text
    path = tmp_path / "axb_ghost_hang.toml"
    path.write_text(hanging)
    options = RunOptions(report_dir=tmp_path, dialect="volcengine", shrink=False, examples=6, steps=12)
    assert Runner(options).run([path]).passed
    with BY_NAME["trusts_sdk_retrying_bind"].applied():
        caught = Runner(options).run([path])
    assert not caught.passed
    assert "no_orphan_or_duplicate" in {r.name for r in caught.outcomes[0].results if r.status == "failed"}
