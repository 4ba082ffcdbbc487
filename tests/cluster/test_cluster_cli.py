"""`pstnsim chaos cluster` refuses what it cannot run with exit 2 and one line naming the problem, before
starting any server."""

from __future__ import annotations

from pathlib import Path

import pytest

from scenarios.cli import main

STEADY = Path(__file__).resolve().parents[2] / "scenarios" / "cluster_examples" / "steady.toml"


def cluster(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    try:
        code = main(["chaos", "cluster", *args])
    except SystemExit as exc:  # argparse's own refusals
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


def test_unreachable_postgres_says_how_to_start_it(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, err = cluster(capsys, str(STEADY), "--db", "postgresql://postgres@127.0.0.1:1/test",
                        "--report-dir", str(tmp_path))
    assert code == 2
    assert "PostgreSQL at postgresql://postgres@127.0.0.1:1/test is unreachable" in err
    assert "pg_ctlcluster" in err
    assert not any(tmp_path.iterdir())  # nothing ran, no report


def test_unreachable_broker_says_how_to_start_it(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, err = cluster(capsys, str(STEADY), "--db", f"sqlite:///{tmp_path / 'core.db'}",
                        "--broker", "amqp://guest:guest@127.0.0.1:1/", "--report-dir", str(tmp_path))
    assert code == 2
    assert "RabbitMQ at amqp://guest:***@127.0.0.1:1/ is not usable" in err
    assert "rabbitmq-server -detached" in err


@pytest.mark.parametrize("replicas", ["0", "17", "-1"])
def test_replicas_out_of_range(capsys: pytest.CaptureFixture[str], replicas: str) -> None:
    code, err = cluster(capsys, str(STEADY), "--db", "sqlite:///unused.db", "--replicas", replicas)
    assert code == 2
    assert f"--replicas must be between 1 and 16, got {replicas}" in err


def test_unknown_nemesis_action_is_named(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    scenario = tmp_path / "bad.toml"
    scenario.write_text(STEADY.read_text() + '\n[[nemesis]]\naction = "explode"\nevery = 3\n')
    code, err = cluster(capsys, str(scenario), "--db", f"sqlite:///{tmp_path / 'core.db'}",
                        "--report-dir", str(tmp_path / "reports"))
    assert code == 2
    assert f"{scenario}: [[nemesis]]" in err and "explode" in err
    assert not (tmp_path / "reports").exists()


def test_broker_action_without_broker(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    scenario = tmp_path / "needs_broker.toml"
    scenario.write_text(STEADY.read_text() + '\n[[nemesis]]\naction = "cut_broker"\nevery = 3\nreplica = "any"\n')
    code, err = cluster(capsys, str(scenario), "--db", f"sqlite:///{tmp_path / 'core.db'}")
    assert code == 2
    assert "cut_broker need(s) --broker" in err


def test_unknown_cluster_key_is_named(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    scenario = tmp_path / "bad_cluster.toml"
    scenario.write_text(STEADY.read_text().replace("replicas = 2", "replicas = 2\nnodes = 3"))
    code, err = cluster(capsys, str(scenario), "--db", f"sqlite:///{tmp_path / 'core.db'}")
    assert code == 2
    assert "[cluster]: unknown key(s) nodes" in err


def test_machine_only_workload_keys_are_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    scenario = tmp_path / "crashes.toml"
    scenario.write_text(STEADY.read_text().replace("burst = [1, 4]", "burst = [1, 4]\ncrashes = true"))
    code, err = cluster(capsys, str(scenario), "--db", f"sqlite:///{tmp_path / 'core.db'}")
    assert code == 2
    assert "crashes is not used by cluster runs" in err


def test_db_must_be_a_database_url(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = cluster(capsys, str(STEADY), "--db", "mysql://x/y")
    assert code == 2
    assert "--db must be a postgresql:// or sqlite:/// URL" in err


def test_missing_db_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = cluster(capsys, str(STEADY))
    assert code == 2
    assert "--db" in err


def test_replay_at_another_seed_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from scenarios.cluster.schedule import ReplayFile

    replay = ReplayFile(str(STEADY), 5, 2, 10.0, [], []).write(tmp_path / "r.json")
    code, err = cluster(capsys, "--replay", str(replay), "--seed", "6", "--db", f"sqlite:///{tmp_path / 'core.db'}")
    assert code == 2
    assert "recorded at seed 5; drop --seed or give --seed 5" in err
