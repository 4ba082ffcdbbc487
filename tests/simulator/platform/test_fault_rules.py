"""Rule validation and TOML loading: bad rules are refused naming the problem; the example files load."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.config import ProviderConfig
from simulator.faults import FaultEngine, RuleError, load_rules_file, parse_rule
from simulator.server import Provider

from .conftest import ToyDialect

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "faults"


@pytest.mark.parametrize(
    ("rule", "named"),
    [
        ({"action": {"kind": "explode"}}, "action.kind must be one of"),
        ({"action": {"kind": "status", "status": 418}}, "status must be one of"),
        ({"action": {"kind": "status"}}, "needs status"),
        ({"action": {"kind": "reset", "status": 500}}, "unknown key(s) 'status'"),
        ({"action": {"kind": "reset"}, "match": {"numbr": "1"}}, "unknown key(s) 'numbr'"),
        ({"action": {"kind": "reset"}, "when": {"probability": 1.5}}, "between 0 and 1"),
        ({"action": {"kind": "reset"}, "when": {"first": 0}}, "when.first must be >= 1"),
        ({"action": {"kind": "reset"}, "when": {"every": 1.5}}, "whole number"),
        ({"action": {"kind": "reset"}, "when": {"window": {"start": 5, "end": 1}}}, "end must be after start"),
        ({"action": {"kind": "latency", "distribution": "uniform", "min": 2, "max": 1}}, "max must be >= min"),
        ({"action": {"kind": "latency", "distribution": "fixed", "median": 1}}, "takes seconds"),
        ({"action": {"kind": "ghost_success", "then": "reset", "status": 503}}, "only go with then"),
        ({"action": {"kind": "drop"}, "match": {"path": "/v1/*"}}, "match.path does not apply"),
        ({"action": {"kind": "reset"}, "match": {"x": 13800000000}}, "match.x must be a non-empty string"),
        ({"match": {"x": "1"}}, "action is required"),
        ({"action": {"kind": "reset"}, "extra": 1}, "unknown key(s) 'extra'"),
        ("not a rule", "must be an object"),
    ],
)
def test_bad_rules_are_refused_naming_the_problem(rule, named):
    with pytest.raises(RuleError) as refused:
        parse_rule(rule, default_id="rule-1")
    assert named in str(refused.value)


def test_defaults_are_filled_in():
    assert parse_rule({"action": {"kind": "status", "status": 429}}, default_id="r").action.get("retry_after") == 1
    ghost = parse_rule({"action": {"kind": "ghost_success"}}, default_id="r").action
    assert (ghost.get("then"), ghost.get("status")) == ("status", 503)


def test_example_files_load():
    files = sorted(EXAMPLES.glob("*.toml"))
    assert files
    for path in files:
        assert load_rules_file(path)


def test_a_bad_toml_file_names_the_file_and_the_rule(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[[rules]]\nid = "oops"\naction = { kind = "status", status = 200 }\n')
    with pytest.raises(RuleError, match=r"bad.toml: rule oops: action \(status\): status must be one of"):
        load_rules_file(bad)
    bad.write_text("[[rules]\n")
    with pytest.raises(RuleError, match="bad.toml"):
        load_rules_file(bad)


async def test_the_provider_loads_its_faults_file_at_start(tmp_path):
    path = tmp_path / "faults.toml"
    path.write_text('[[rules]]\nid = "x503"\nmatch = { operation = "bind" }\naction = { kind = "status", status = 503 }\n')
    async with Provider(ProviderConfig(faults_file=path), dialects=[ToyDialect]) as provider:
        assert [rule["id"] for rule in provider.faults.list()] == ["x503"]


def test_replace_is_all_or_nothing():
    engine = FaultEngine()
    engine.add({"id": "keep", "action": {"kind": "reset"}})
    with pytest.raises(RuleError):
        engine.replace([{"action": {"kind": "reset"}}, {"action": {"kind": "nope"}}])
    assert [r.id for r in engine.rules] == ["keep"]
    with pytest.raises(RuleError, match="duplicate id"):
        engine.replace([{"id": "a", "action": {"kind": "reset"}}, {"id": "a", "action": {"kind": "reset"}}])
