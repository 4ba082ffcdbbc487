"""The chaos suite over a vendor wire (`pstnsim chaos run --dialect aliyun|tencent`).

The in-process core speaks the vendor's dialect, the scenarios' native fault
rules land on the vendor's actions, and the checks still bite.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import pytest

from scenarios.cli import main
from scenarios.dialect_ops import blocks_settling, translate_rule, translate_rules
from scenarios.runner import Runner, RunOptions
from scenarios.scenario_file import EXAMPLES_DIR, ScenarioError, default_suite, parse_scenario

sys.path.insert(0, str(Path(__file__).parents[1] / "planted_bugs"))
from catalogue import BY_NAME  # noqa: E402

# Each dialect's own actions: a fault counted on anything else was not on the core's vendor wire.
VENDOR_ACTIONS = {
    "aliyun": {"BindXB", "BindAxb", "UnBindXB", "UnbindSubscription", "QuerySubsId", "QuerySubscriptionDetail",
               "ListXTelephones"},
    "tencent": {"GetVirtualNum", "DelVirtualNum"},
}
GHOSTED_CREATE = {"aliyun": "BindAxb ghost_success", "tencent": "GetVirtualNum ghost_success"}


@pytest.fixture(autouse=True)
def quiet_core_logs():
    logging.getLogger("binding_core").setLevel(logging.CRITICAL)
    yield
    logging.getLogger("binding_core").setLevel(logging.NOTSET)


@pytest.mark.parametrize("dialect", ["aliyun", "tencent"])
def test_default_suite_passes_over_a_vendor_dialect_with_faults_on_its_actions(dialect, tmp_path, capsys):
    code = main(["chaos", "run", "--dialect", dialect, "--examples", "4", "--steps", "15",
                 "--report-dir", str(tmp_path), "--run-id", "suite", "--quiet"])
    out = capsys.readouterr().out
    assert code == 0, out
    summary = json.loads((tmp_path / "suite" / "summary.json").read_text())
    assert [s["scenario"] for s in summary["scenarios"]] == [p.stem for p in default_suite()]
    for scenario in summary["scenarios"]:
        assert scenario["dialect"] == dialect
        # A vendor's wire carries no operation id on a call: retry gaps cannot be told apart by operation there.
        skipped = {c["name"] for c in scenario["checks"] if c["status"] == "skipped"}
        assert skipped <= {"retry_gaps_within_policy"}, (scenario["scenario"], skipped)
        assert {c["status"] for c in scenario["checks"]} - {"skipped"} == {"passed"}, scenario["scenario"]
        assert scenario["counts"]["ok"] > 5, "the workload must bind and unbind over the vendor wire"
        faulted = scenario["faulted_calls"]
        # A hung call (the timeout fault) is journalled only when it ends, after its example: none to count there.
        if scenario["scenario"] != "xb_axb_same_x_timeouts":
            assert faulted, f"{scenario['scenario']}: no fault reached the vendor wire"
        assert {key.split()[0] for key in faulted} <= VENDOR_ACTIONS[dialect], faulted
    ghost = next(s for s in summary["scenarios"] if s["scenario"] == "axb_ghost_success")
    assert ghost["faulted_calls"].get(GHOSTED_CREATE[dialect], 0) > 0, ghost["faulted_calls"]
    assert dialect in out  # the summary table names the wire


@pytest.mark.parametrize("dialect,bug", [("aliyun", "blind_resend"), ("tencent", "timeout_as_failure"),
                                         ("aliyun", "unbind_not_found_error")])
def test_a_planted_bug_is_caught_over_a_vendor_dialect(dialect, bug, tmp_path):
    planted = BY_NAME[bug]
    with planted.applied():
        result = Runner(RunOptions(report_dir=tmp_path, shrink=False, dialect=dialect)).run([planted.scenario])
    outcome = result.outcomes[0]
    assert not outcome.error, outcome.error
    assert not result.passed and any(r.status == "failed" for r in outcome.results)
    assert f"--dialect {dialect}" in outcome.replay_command


def test_the_replay_command_carries_the_dialect_and_replays_the_failure(tmp_path):
    planted = BY_NAME["blind_resend"]
    with planted.applied():
        first = Runner(RunOptions(report_dir=tmp_path, dialect="aliyun", shrink=False)).run([planted.scenario]).outcomes[0]
        args = first.replay_command.split()
        blob = args[args.index("--replay") + 1]
        assert args[args.index("--dialect") + 1] == "aliyun"
        again = Runner(RunOptions(report_dir=tmp_path, dialect="aliyun", replay=blob)).run([planted.scenario])
    assert not again.passed
    assert {r.name for r in again.outcomes[0].results if r.status == "failed"} & \
        {r.name for r in first.results if r.status == "failed"}


def test_the_file_chooses_the_dialect_and_the_flag_overrides_it(tmp_path):
    text = (EXAMPLES_DIR / "axb_ghost_success.toml").read_text()
    text = text.replace("provider = { timeout = 2.0,", 'provider = { dialect = "tencent", timeout = 2.0,')
    path = tmp_path / "ghost_tencent.toml"
    path.write_text(text)
    by_file = Runner(RunOptions(report_dir=tmp_path, examples=3, steps=8)).run([path]).outcomes[0]
    by_flag = Runner(RunOptions(report_dir=tmp_path, examples=3, steps=8, dialect="aliyun")).run([path]).outcomes[0]
    assert by_file.passed and by_flag.passed, (by_file.error, by_flag.error)
    assert "--dialect tencent" in by_file.replay_command
    assert "--dialect aliyun" in by_flag.replay_command


def test_same_seed_same_run_over_a_vendor_dialect(tmp_path):
    summaries = []
    for run in ("a", "b"):
        main(["chaos", "run", str(EXAMPLES_DIR / "xb_storm_5xx.toml"), "--dialect", "aliyun", "--examples", "3",
              "--steps", "10", "--report-dir", str(tmp_path), "--run-id", run, "--quiet"])
        scenario = json.loads((tmp_path / run / "summary.json").read_text())["scenarios"][0]
        summaries.append((scenario["counts"], scenario["faulted_calls"], scenario["virtual_time"]))
    assert summaries[0] == summaries[1]


def test_a_bad_dialect_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as refused:
        main(["chaos", "run", "--dialect", "twilio", "--report-dir", str(tmp_path)])
    assert refused.value.code == 2
    assert "twilio" in capsys.readouterr().err
    with pytest.raises(ScenarioError, match="provider.dialect"):
        parse_scenario({"core": {"provider": {"dialect": "twilio"}}})


# ---- the translation table (pure) ------------------------------------------------------


def test_writes_become_the_vendor_actions_pinned_to_the_vendor_wire():
    rule = {"id": "r", "match": {"operation": "create_binding", "x": "17100000001"},
            "action": {"kind": "ghost_success"}, "when": {"probability": 0.5}}
    aliyun = translate_rule(rule, "aliyun")
    assert aliyun["match"] == {"operation": ["BindXB", "BindAxb"], "x": "17100000001", "dialect": "aliyun"}
    assert aliyun["action"] == rule["action"] and aliyun["when"] == rule["when"]
    assert translate_rule(rule, "tencent")["match"]["operation"] == ["GetVirtualNum"]
    assert translate_rule(rule, "native") == rule
    assert rule["match"] == {"operation": "create_binding", "x": "17100000001"}  # the input is untouched


def test_lists_globs_and_reads_translate():
    both = {"match": {"operation": ["create_binding", "delete_binding", "list_bindings"]}, "action": {"kind": "reset"}}
    assert translate_rule(both, "tencent")["match"]["operation"] == ["GetVirtualNum", "DelVirtualNum"]
    assert translate_rule(both, "aliyun")["match"]["operation"] == [
        "BindXB", "BindAxb", "UnBindXB", "UnbindSubscription", "ListXTelephones", "QuerySubsId",
        "QuerySubscriptionDetail"]
    glob = {"match": {"operation": "delete_*"}, "action": {"kind": "reset"}}
    assert translate_rule(glob, "aliyun")["match"]["operation"] == ["UnBindXB", "UnbindSubscription"]
    reads = {"match": {"operation": "list_bindings"}, "action": {"kind": "reset"}}
    assert translate_rule(reads, "tencent") is None  # NPP has no lookup action to fault
    assert translate_rules([reads, both], "tencent") == [translate_rule(both, "tencent")]


def test_explicit_dialects_push_rules_and_vendor_names_are_kept():
    explicit = {"match": {"dialect": "aliyun", "operation": "BindXB"}, "action": {"kind": "reset"}}
    assert translate_rule(explicit, "tencent") == explicit
    push = {"action": {"kind": "drop"}}
    assert translate_rule(push, "aliyun") == push
    everything = {"action": {"kind": "reset"}}
    assert translate_rule(everything, "aliyun") == {"action": {"kind": "reset"}, "match": {"dialect": "aliyun"}}
    vendor = {"match": {"operation": "BindAxb"}, "action": {"kind": "reset"}}
    assert translate_rule(vendor, "aliyun")["match"] == {"operation": ["BindAxb"], "dialect": "aliyun"}


@pytest.mark.parametrize(
    ("rule", "dialect", "blocks"),
    [
        # a hard outage of the lookups: no core can settle a dead operation until it ends
        ({"match": {"operation": "list_bindings"}, "action": {"kind": "status", "status": 503}}, "native", True),
        ({"match": {"operation": "*_binding*"}, "action": {"kind": "timeout"}}, "native", True),
        ({"action": {"kind": "reset"}}, "native", True),
        # NPP finds a binding by probing with GetVirtualNum: a create outage is a lookup outage there
        ({"match": {"operation": "create_binding"}, "action": {"kind": "status", "status": 500}}, "tencent", True),
        ({"match": {"operation": "create_binding"}, "action": {"kind": "status", "status": 500}}, "native", False),
        # conditional, slow-but-served, or aimed at another wire: settling gets through
        ({"match": {"operation": "list_bindings"}, "action": {"kind": "status", "status": 503},
          "when": {"probability": 0.5}}, "native", False),
        ({"match": {"operation": "list_bindings"}, "action": {"kind": "latency", "seconds": 5}}, "native", False),
        ({"match": {"operation": "list_bindings", "dialect": "aliyun"}, "action": {"kind": "reset"}}, "native", False),
    ],
)
def test_a_hard_outage_of_the_settling_lookups_is_downtime_to_liveness(rule, dialect, blocks):
    assert blocks_settling(rule, dialect) is blocks
