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
