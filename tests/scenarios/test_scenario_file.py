"""Scenario files: the bundled examples load, and bad files are refused with the key named."""

from __future__ import annotations

import pytest

from scenarios.scenario_file import ScenarioError, default_suite, load_scenario, parse_scenario

REQUIRED_EXAMPLES = {"xb_storm_5xx", "axb_ghost_success", "xb_axb_same_x_timeouts", "crash_restart_loop",
                     "gray_rollout", "brownout_429_latency"}


def test_bundled_examples_load_and_cover_the_issue():
    scenarios = [load_scenario(p) for p in default_suite()]
    assert {s.name for s in scenarios} >= REQUIRED_EXAMPLES
    for s in scenarios:
        assert s.faults and s.budget.examples >= 1 and s.duration > 0
    by_name = {s.name: s for s in scenarios}
    assert by_name["crash_restart_loop"].workload.crashes
    assert by_name["gray_rollout"].workload.gray == "switch"
    assert set(by_name["xb_axb_same_x_timeouts"].workload.modes) == {"XB", "AXB"}
    assert any(f["action"]["kind"] == "ghost_success" for f in by_name["axb_ghost_success"].faults)
    assert any(f["action"].get("status") == 429 for f in by_name["brownout_429_latency"].faults)


def test_the_provider_table_sets_the_in_process_simulator():
    s = parse_scenario({"provider": {"request_deadline": 120}})
    assert s.provider == {"request_deadline": 120}
    assert parse_scenario({}).provider == {}


def test_weighted_operations_follow_the_mix():
    s = parse_scenario({"workload": {"modes": ["XB"], "mix": {"bind": 3, "read": 1}}})
    ops = s.weighted_operations()
    assert ops.count(("bind", "XB")) == 3 and ops.count(("read", "XB")) == 1 and len(ops) == 4


@pytest.mark.parametrize(
    "data,needle",
    [
        ({"wat": 1}, "unknown key(s) wat"),
        ({"workload": {"modes": ["XC"]}}, "modes"),
        ({"workload": {"mix": {"bnd": 1}}}, "unknown operation(s) bnd"),
        ({"workload": {"mix": {"bind": 0}}}, "at least one > 0"),
        ({"workload": {"burst": [5, 2]}}, "burst"),
        ({"workload": {"numbers": "3"}}, "numbers must be int"),
        ({"workload": {"gray": "half"}}, "gray must be one of"),
        ({"workload": {"fault_kinds": ["meteor"]}}, "unknown kind(s) meteor"),
        ({"faults": [{"action": {"kind": "explode"}}]}, "[[faults]]"),
        ({"faults": [{"match": {"operation": "create_binding"}}]}, "action is required"),
        ({"core": {"retry": {"max_attempts": 0}}}, "max_attempts"),
        ({"core": {"retri": {}}}, "retri"),
        ({"provider": {"seed": 3}}, "[provider]: unknown key(s) seed"),
        ({"provider": {"request_deadline": 0}}, "request_deadline must be a positive number"),
        ({"run": {"duration": -1}}, "duration"),
        ({"run": {"checks": ["no_such_check"]}}, "unknown check(s) no_such_check"),
        ({"budget": {"examples": 0}}, "examples"),
        ({"budget": {"steps": True}}, "steps must be an integer"),
        ({"name": "bad name!"}, "name must be"),
        ({"run": {"dialect": "twilio"}}, "[run] dialect must be one of native, aliyun, tencent, volcengine"),
        ({"run": {"dialect": 3}}, "[run] dialect must be str"),
        ({"run": {"dialect": "aliyun"}, "core": {"provider": {"dialect": "tencent"}}}, "name the wire once"),
        ({"workload": {"rebind_at_doubt_end": "yes"}}, "rebind_at_doubt_end must be bool"),
        ({"workload": {"fault_kinds": ["slow_lookups"]}}, "unknown kind(s) slow_lookups"),
    ],
)
def test_bad_scenarios_are_refused_naming_the_key(data, needle):
    with pytest.raises(ScenarioError) as info:
        parse_scenario(data, origin="t.toml")
    assert needle in str(info.value) and "t.toml" in str(info.value)


def test_broken_toml_names_the_file(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("name = \n")
    with pytest.raises(ScenarioError, match="broken.toml"):
        load_scenario(path)


def test_a_file_names_its_wire_and_the_command_line_overrides_it():
    from scenarios.runner import Runner, RunOptions

    s = parse_scenario({"run": {"dialect": "tencent"}})
    assert s.dialect == "tencent"
    assert parse_scenario({"core": {"provider": {"dialect": "aliyun"}}}).dialect == "aliyun"
    assert parse_scenario({}).dialect == "native"
    assert Runner(RunOptions()).dialect(s) == "tencent"
    assert Runner(RunOptions(dialect="native")).dialect(s) == "native"


def test_the_default_suite_runs_a_vendor_wire_with_no_idempotency_key():
    """On the native wire idempotency keys absorb late creates; the gate must also meet a wire without them."""
    scenarios = {s.name: s for s in map(load_scenario, default_suite())}
    assert scenarios["sweep_race"].dialect in ("aliyun", "tencent")
    assert scenarios["sweep_race"].workload.rebind_at_doubt_end


def test_an_unknown_dialect_in_a_file_exits_2_naming_the_file(tmp_path, capsys):
    from scenarios.cli import main

    path = tmp_path / "wire.toml"
    path.write_text('[run]\ndialect = "twilio"\n')
    assert main(["chaos", "run", str(path), "--report-dir", str(tmp_path / "r"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "wire.toml" in err and "[run] dialect must be one of native, aliyun, tencent, volcengine" in err
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir()), "nothing may run"
