"""Short cluster runs. On PostgreSQL: two replicas as real processes, one killed and restarted mid-traffic; every
check holds, the report tells the cluster's facts, the run's database is gone afterwards, and --replay runs the
very same schedule again. On SQLite: two replicas share one file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scenarios.cli import main

import cluster_servers

SCENARIO = """
name = "cluster_short"
[workload]
modes = ["XB", "AXB"]
numbers = 2
parties = 4
mix = { bind = 3, unbind = 1, read = 1 }
rate = 4.0
burst = [2, 4]
[[faults]]
match = { operation = "create_binding" }
action = { kind = "status", status = 503 }
when = { probability = 0.2 }
[core]
retry = { max_attempts = 3, base_delay = 0.05, max_delay = 0.2, alert_threshold = 2 }
provider = { timeout = 1.0, in_doubt_window = 1.0 }
worker = { poll_interval = 0.2, lease = 2.0 }
[cluster]
replicas = 2
duration = 5
settle_timeout = 30
[[nemesis]]
action = "kill"
at = [2.0]
replica = 1
downtime = 0.5
"""


def test_two_replicas_pass_and_replay_the_same_schedule(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    admin = cluster_servers.postgres_admin_url()
    scenario = tmp_path / "cluster_short.toml"
    scenario.write_text(SCENARIO)
    reports = tmp_path / "reports"
    code = main(["chaos", "cluster", str(scenario), "--db", admin, "--seed", "11", "--report-dir", str(reports),
                 "--run-id", "first", "--quiet"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "seed 11" in out
    summary = json.loads((reports / "first" / "summary.json").read_text())
    assert summary["passed"] and summary["exit_code"] == 0
    facts = summary["scenarios"][0]["cluster"]
    assert facts["replicas"] == 2 and facts["backend"]["database"] == "postgresql"
    assert [(r["action"], r["replica"], r["outcome"]) for r in facts["nemesis_log"]] == [("kill", 1, "done")]
    assert sum(facts["requests_per_replica"].values()) > 0
    assert not cluster_servers.database_exists(admin, facts["backend"]["database_name"])
    junit = (reports / "first" / "junit.xml").read_text()
    assert 'name="replicas" value="2"' in junit and "kill replica 1" in junit
    assert "Nemesis actions" in (reports / "first" / "report.html").read_text()

    replay = reports / "first" / "cluster_short.cluster-replay.json"
    recorded = json.loads(replay.read_text())
    assert recorded["nemesis"] == [{"at": 2.0, "action": "kill", "replica": 1, "params": {"downtime": 0.5}}]
    assert recorded["traffic"]

    # No scenario file, no seed: the replay file names both, and its schedule is run as it was.
    code = main(["chaos", "cluster", "--replay", str(replay), "--db", admin,
                 "--report-dir", str(reports), "--run-id", "again", "--quiet"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "seed 11" in out
    again = json.loads((reports / "again" / "cluster_short.cluster-replay.json").read_text())
    assert again["traffic"] == recorded["traffic"] and again["nemesis"] == recorded["nemesis"]
    replayed = json.loads((reports / "again" / "summary.json").read_text())["scenarios"][0]["cluster"]
    assert [(r["action"], r["replica"]) for r in replayed["nemesis_log"]] == [("kill", 1)]


def test_two_replicas_on_one_sqlite_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = tmp_path / "cluster_sqlite.toml"
    scenario.write_text(SCENARIO.split("[[nemesis]]")[0].replace("duration = 5", "duration = 4"))
    reports = tmp_path / "reports"
    code = main(["chaos", "cluster", str(scenario), "--db", f"sqlite:///{tmp_path / 'cluster.db'}",
                 "--report-dir", str(reports), "--run-id", "sqlite", "--quiet"])
    assert code == 0, capsys.readouterr().out
    facts = json.loads((reports / "sqlite" / "summary.json").read_text())["scenarios"][0]["cluster"]
    assert facts["backend"]["database"] == "sqlite" and facts["nemesis_log"] == []
    assert all(n > 0 for n in facts["requests_per_replica"].values())
    assert (tmp_path / "cluster.db").exists()
