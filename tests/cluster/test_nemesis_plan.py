"""The nemesis schedule: `[[nemesis]]` tables parse strictly, and the plan is a pure function of the seed."""

from __future__ import annotations

import random

import pytest

from scenarios.cluster.nemesis import JITTER, Action, parse_nemesis, plan, requirements


def test_same_seed_same_plan_and_another_seed_another() -> None:
    specs = parse_nemesis([{"action": "kill", "every": 2.0, "downtime": 0.5},
                           {"action": "duplicate", "every": 3.0, "messages": 2}])
    first = plan(specs, 3, 30.0, random.Random(7))
    again = plan(specs, 3, 30.0, random.Random(7))
    other = plan(specs, 3, 30.0, random.Random(8))
    assert [a.to_json() for a in first] == [a.to_json() for a in again]
    assert [a.to_json() for a in first] != [a.to_json() for a in other]
    assert [a.at for a in first] == sorted(a.at for a in first)


def test_every_keeps_its_gaps_within_the_jitter_and_stops_at_the_duration() -> None:
    (spec,) = parse_nemesis([{"action": "pause", "every": 4.0, "replica": 1, "past_lease": 0.5}])
    for seed in range(20):
        actions = plan([spec], 2, 60.0, random.Random(seed))
        times = [0.0, *(a.at for a in actions)]
        gaps = [b - a for a, b in zip(times, times[1:])]
        assert all(4.0 * JITTER[0] - 1e-3 <= g <= 4.0 * JITTER[1] + 1e-3 for g in gaps), gaps
        assert all(a.at < 60.0 for a in actions)
        # the next gap would have passed the end: no room was left unused by more than one gap
        assert 60.0 - actions[-1].at <= 4.0 * JITTER[1]
        assert {a.replica for a in actions} == {1}
        assert all(a.params == {"past_lease": 0.5} for a in actions)


def test_count_caps_the_actions_and_any_draws_every_replica() -> None:
    specs = parse_nemesis([{"action": "cut_db", "every": 0.5, "count": 40}])
    actions = plan(specs, 3, 1000.0, random.Random(1))
    assert len(actions) == 40
    assert {a.replica for a in actions} == {0, 1, 2}


def test_at_lists_exact_times_within_the_duration() -> None:
    specs = parse_nemesis([{"action": "cut_broker", "at": [9.0, 1.5, 30.0], "replica": 0},
                           {"action": "delivery_limit", "at": [2], "count": 1}])
    actions = plan(specs, 2, 20.0, random.Random(0))
    assert [(a.at, a.name, a.replica) for a in actions] == [
        (1.5, "cut_broker", 0), (2.0, "delivery_limit", None), (9.0, "cut_broker", 0)]


def test_actions_round_trip_through_json() -> None:
    specs = parse_nemesis([{"action": "kill", "every": 1.0, "downtime": 0.2}, {"action": "redeliver", "at": [3]}])
    actions = plan(specs, 2, 10.0, random.Random(3))
    assert [Action.from_json(a.to_json()) for a in actions] == actions
    with pytest.raises(ValueError, match="unknown action 'nap'"):
        Action.from_json({"at": 1, "action": "nap", "replica": 0})


def test_requirements_name_the_servers_the_actions_need() -> None:
    assert requirements(parse_nemesis([{"action": "kill", "every": 1}])) == set()
    assert requirements(parse_nemesis([{"action": "cut_db", "every": 1},
                                       {"action": "duplicate", "every": 1}])) == {"postgres", "broker"}


@pytest.mark.parametrize("table, message", [
    ({"every": 1}, "missing key `action`"),
    ({"action": "explode", "every": 1}, "unknown action 'explode'"),
    ({"action": "kill", "every": 1, "dowtime": 2}, "unknown key `dowtime`"),
    ({"action": "kill", "every": 1, "a": 1, "b": 2}, "unknown keys `a`, `b`"),
    ({"action": "duplicate", "every": 1, "replica": 0}, "unknown key `replica`"),
    ({"action": "pause", "every": 1, "downtime": 1}, "unknown key `downtime`"),
    ({"action": "kill"}, "exactly one of `every`"),
    ({"action": "kill", "every": 1, "at": [1]}, "exactly one of `every`"),
    ({"action": "kill", "every": 0}, "`every` must be > 0"),
    ({"action": "kill", "every": "often"}, "`every` must be a number"),
    ({"action": "kill", "at": [1, -2]}, "`at` must be >= 0"),
    ({"action": "kill", "every": 1, "count": 1.5}, "`count` must be an integer"),
    ({"action": "kill", "every": 1, "replica": "first"}, "`replica` must be \"any\" or a replica index"),
    ({"action": "kill", "every": 1, "downtime": True}, "`downtime` must be a number"),
    ({"action": "duplicate", "every": 1, "messages": 0}, "`messages` must be > 0"),
])
def test_parse_errors_name_the_entry_and_the_key(table: dict, message: str) -> None:
    with pytest.raises(ValueError, match="entry 2") as error:
        parse_nemesis([{"action": "kill", "every": 1}, table])
    assert message in str(error.value)


def test_a_replica_the_cluster_lacks_is_refused_when_planning() -> None:
    specs = parse_nemesis([{"action": "kill", "every": 1, "replica": 2}])
    with pytest.raises(ValueError, match=r"`replica` = 2, but the cluster has 2 replicas"):
        plan(specs, 2, 10.0, random.Random(0))
