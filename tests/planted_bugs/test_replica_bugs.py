"""Harness power over a cluster: each replica bug, planted in every replica of a real `pstnsim chaos cluster` run
(processes on PostgreSQL), fails the run (exit 1) on the check aimed at it; the bundled core passes the same
scenario and seed. The replicas are started by replica_launcher.py instead of `pstnsim core`."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import pytest

from binding_core.testing import POSTGRES_ADMIN_DEFAULT, POSTGRES_ADMIN_ENV, _postgres_missing
from replica_bugs import BROKER_BUGS, BY_NAME, REPLICA_BUGS
from scenarios.cli import main
from scenarios.cluster import processes

LAUNCHER = Path(__file__).with_name("replica_launcher.py")
SEED = 11

# Three replicas, a slow provider that fails half the creates (operations stay running for a while), retries
# after a backoff longer than the replicas' polling interval (every replica learns when a retry is due, and
# they all wake for it at once), and a replica killed and restarted every two or three seconds (each restart is a chance for a replica bug at start-up to meet another replica's live claim). The lease is long
# against the timeout: no holder can outlive it across a kill, so the checks forgive no overlap here.
SCENARIO = """
name = "replica_holders"
description = "Three replicas under a slow, sometimes failing provider, one killed and restarted now and then."

[workload]
modes = ["XB", "AXB"]
numbers = 8
parties = 10
mix = { bind = 4, unbind = 2, read = 1 }
rate = 8.0
burst = [3, 6]

[[faults]]
match = { operation = "create_binding" }
action = { kind = "latency", distribution = "uniform", min = 0.5, max = 0.8 }
when = { probability = 0.7 }

[[faults]]
match = { operation = "create_binding" }
action = { kind = "status", status = 503 }
when = { probability = 0.5 }

[[faults]]
match = { operation = "delete_binding" }
action = { kind = "latency", distribution = "fixed", seconds = 0.6 }
when = { probability = 0.5 }

[core]
retry = { max_attempts = 5, base_delay = 1.0, max_delay = 1.5, alert_threshold = 3 }
provider = { timeout = 1.0, in_doubt_window = 2.0 }
worker = { poll_interval = 0.2, lease = 12.0 }

[cluster]
replicas = 3
duration = 12
settle_timeout = 25  # twice the lease: a bundled core settles an operation a killed replica held; a buggy one stops sooner

[[nemesis]]
action = "kill"
every = 2.5
replica = "any"
downtime = 0.5
"""


# The same replicas and provider on RabbitMQ: no kills; work messages are delivered twice and returned to the
# queue instead, so two replicas receive one operation's message at once.
BROKER_SCENARIO = (SCENARIO.split("[[nemesis]]")[0]
                   .replace('name = "replica_holders"', 'name = "replica_holders_broker"')
                   .replace("one killed and restarted now and then",
                            "work messages delivered twice and returned to the queue")) + """
[[nemesis]]
action = "duplicate"
every = 1.5
messages = 3
wait = 1.5

[[nemesis]]
action = "redeliver"
every = 3
messages = 2
wait = 1.5
"""


@pytest.fixture(scope="module")
def admin_url() -> str:
    url = os.environ.get(POSTGRES_ADMIN_ENV, POSTGRES_ADMIN_DEFAULT)
    try:
        import psycopg

        with psycopg.connect(url, connect_timeout=5):
            pass
    except Exception as exc:  # noqa: BLE001 - any reason the server cannot be used
        _postgres_missing(f"cannot connect to {url}: {str(exc).strip()}")
    return url


@pytest.fixture(autouse=True)
def quiet_core_logs():
    logging.getLogger("binding_core").setLevel(logging.CRITICAL)
    yield
    logging.getLogger("binding_core").setLevel(logging.NOTSET)


def run_cluster(tmp_path: Path, admin_url: str, monkeypatch: pytest.MonkeyPatch, bug: str | None,
                broker: str | None = None) -> tuple[int, dict]:
    """One cluster run of SCENARIO (BROKER_SCENARIO on `broker`); with `bug`, every replica runs the bundled core
    with that bug planted."""
    scenario = tmp_path / "replica_holders.toml"
    scenario.write_text(BROKER_SCENARIO if broker else SCENARIO)
    if bug is not None:
        # `pstnsim chaos cluster` has no option to replace its replicas' command: swap the command its Cluster
        # builds for each replica (the provider's stays the bundled one).
        bundled = processes.pstnsim_argv

        def planted(*args: str) -> list[str]:
            if args[:1] == ("core",):
                return [sys.executable, str(LAUNCHER), bug, *args]
            return bundled(*args)

        monkeypatch.setattr(processes, "pstnsim_argv", planted)
    run_id = bug or "bundled"
    code = main(["chaos", "cluster", str(scenario), "--db", admin_url, "--seed", str(SEED),
                 *(["--broker", broker] if broker else []),
                 "--report-dir", str(tmp_path), "--run-id", run_id, "--quiet"])
    summary = json.loads((tmp_path / run_id / "summary.json").read_text())
    return code, summary["scenarios"][0]


def statuses(scenario: dict) -> dict[str, str]:
    return {c["name"]: c["status"] for c in scenario["checks"]}


def test_the_bundled_core_passes_the_replica_scenario(tmp_path, admin_url, monkeypatch):
    code, scenario = run_cluster(tmp_path, admin_url, monkeypatch, None)
    checks = statuses(scenario)
    assert code == 0, {n: s for n, s in checks.items() if s != "passed"}
    assert checks["one_holder_at_a_time"] == checks["no_call_after_settle"] == "passed"


def assert_caught(bug, code: int, scenario: dict) -> None:
    failed = [n for n, s in statuses(scenario).items() if s == "failed"]
    assert not scenario.get("error"), scenario["error"]
    assert code == 1 and set(bug.caught_by) & set(failed), \
        f"{bug.name} ({bug.description}) not caught: failed {failed}"


@pytest.mark.parametrize("bug", REPLICA_BUGS, ids=[b.name for b in REPLICA_BUGS])
def test_a_cluster_run_catches_the_replica_bug(bug, tmp_path, admin_url, monkeypatch):
    assert_caught(bug, *run_cluster(tmp_path, admin_url, monkeypatch, bug.name))


def test_the_bundled_core_on_a_broker_passes_duplicated_messages(tmp_path, admin_url, pstnsim_rabbitmq_url,
                                                                 monkeypatch):
    code, scenario = run_cluster(tmp_path, admin_url, monkeypatch, None, pstnsim_rabbitmq_url)
    checks = statuses(scenario)
    assert code == 0, {n: s for n, s in checks.items() if s != "passed"}
    assert checks["one_holder_at_a_time"] == "passed"


@pytest.mark.parametrize("bug", BROKER_BUGS, ids=[b.name for b in BROKER_BUGS])
def test_a_cluster_run_on_a_broker_catches_the_replica_bug(bug, tmp_path, admin_url, pstnsim_rabbitmq_url,
                                                           monkeypatch):
    assert_caught(bug, *run_cluster(tmp_path, admin_url, monkeypatch, bug.name, pstnsim_rabbitmq_url))


def test_the_launcher_refuses_an_unknown_bug(capsys):
    sys.path.insert(0, str(LAUNCHER.parent))
    from replica_launcher import main as launch

    assert launch(["no_such_bug", "core", "--db", "x"]) == 2
    assert "unknown replica bug no_such_bug" in capsys.readouterr().err
    assert set(BY_NAME) == {b.name for b in (*REPLICA_BUGS, *BROKER_BUGS)}
