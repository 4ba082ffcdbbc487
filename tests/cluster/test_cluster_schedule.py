"""The traffic plan is a pure function of the scenario and the seed, and a replay file gives it back as it was."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from scenarios.cluster.schedule import ReplayFile, plan_traffic, read_replay
from scenarios.scenario_file import load_scenario

EXAMPLES = Path(__file__).resolve().parents[2] / "scenarios" / "cluster_examples"


def test_same_seed_same_traffic_other_seed_other_traffic() -> None:
    scenario = load_scenario(EXAMPLES / "replica_crashes.toml")
    first = plan_traffic(scenario, 20.0, random.Random("cluster-traffic:7:0"))
    again = plan_traffic(scenario, 20.0, random.Random("cluster-traffic:7:0"))
    other = plan_traffic(scenario, 20.0, random.Random("cluster-traffic:8:0"))
    assert first == again
    assert first != other


def test_traffic_follows_the_workload() -> None:
    scenario = load_scenario(EXAMPLES / "replica_crashes.toml")
    w = scenario.workload
    bursts = plan_traffic(scenario, 20.0, random.Random(1))
    assert bursts and all(0 <= b.at < 20.0 for b in bursts)
    assert [b.at for b in bursts] == sorted(b.at for b in bursts)
    for burst in bursts:
        assert w.burst[0] <= len(burst.ops) <= w.burst[1]
        for op in burst.ops:
            assert op.kind in w.mix and op.mode in w.modes
            assert 0 <= op.x < w.numbers and op.a != op.b and 0 <= op.b < w.parties


def test_replay_file_round_trip(tmp_path: Path) -> None:
    scenario = load_scenario(EXAMPLES / "steady.toml")
    bursts = plan_traffic(scenario, 10.0, random.Random(3))
    nemesis = [{"at": 2.5, "action": "kill", "replica": 1, "params": {"downtime": 1.0}}]
    path = ReplayFile("steady.toml", 3, 2, 10.0, bursts, nemesis).write(tmp_path / "r.json")
    back = read_replay(path)
    assert (back.scenario, back.seed, back.replicas, back.duration) == ("steady.toml", 3, 2, 10.0)
    assert back.traffic == bursts and back.nemesis == nemesis


def test_a_file_that_is_no_replay_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.json"
    path.write_text('{"format": "something else"}')
    with pytest.raises(ValueError, match="not a cluster replay file"):
        read_replay(path)
