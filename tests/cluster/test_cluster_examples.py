"""The bundled cluster scenarios load, ask only for what a cluster run does, and plan traffic and nemesis actions
within their duration (running them is the job of `pstnsim chaos cluster`; docs/cluster.md)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from scenarios.cluster.nemesis_plan import parse_specs, plan_actions
from scenarios.cluster.runner import validate_for_cluster
from scenarios.cluster.schedule import plan_traffic
from scenarios.scenario_file import load_scenario

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "scenarios" / "cluster_examples").glob("*.toml"))


def test_at_least_the_three_documented_examples() -> None:
    names = {p.stem for p in EXAMPLES}
    assert {"replica_crashes", "paused_past_lease", "broker_chaos"} <= names


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_plans_within_its_duration(path: Path) -> None:
    scenario = load_scenario(path)
    validate_for_cluster(scenario)
    duration = scenario.cluster["duration"]
    assert duration <= 25  # a bundled run stays short
    traffic = plan_traffic(scenario, duration, random.Random(7))
    actions = plan_actions(parse_specs(scenario), scenario.cluster["replicas"], duration, 7)
    assert traffic and all(b.at < duration for b in traffic)
    assert all(a.at < duration for a in actions)
    assert bool(actions) == bool(scenario.nemesis)
