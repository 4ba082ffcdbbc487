"""The core throughput benchmark as a user runs it: bad options exit 2 with one line naming the problem; a tiny
--backends run prints one table with a row per backend and replica count, reads "skipped: why" for a server it
cannot reach, writes the figures with the commit to --json, and leaves no scratch database or broker namespace
behind. Figures are not checked (no timing assertions): only that they were measured."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "benchmarks" / "core_throughput.py"
UNREACHABLE_DB = "postgresql://postgres@127.0.0.1:1/postgres"  # port 1: refused at once, nothing listens there
UNREACHABLE_BROKER = "amqp://guest:guest@127.0.0.1:1/"


def bench(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(BENCH), *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT)


@pytest.mark.parametrize("args, problem", [
    (["--replicas", "0"], "replica counts must be >= 1"),
    (["--replicas", "1,two"], "is not a comma-separated list of replica counts"),
    (["--db", "sqlite:///core.db"], "is not a postgresql:// URL"),
    (["--broker", "http://127.0.0.1:5672/"], "is not an amqp:// URL"),
    (["--binds", "0"], "must be >= 1"),
    (["--only", "sqlite,mysql"], "unknown backend 'mysql'"),
    (["--json", "/no/such/folder/figures.json"], "folder /no/such/folder does not exist"),
])
def test_bad_options_exit_2_naming_the_problem(args: list[str], problem: str) -> None:
    result = bench(*args, timeout=60)
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and problem in errors[0], result.stderr
    assert result.stdout == ""


def test_unreachable_servers_give_skipped_rows_and_sqlite_still_runs(tmp_path: Path) -> None:
    figures = tmp_path / "figures.json"
    result = bench("--backends", "--binds", "6", "--concurrency", "3", "--replicas", "1,2", "--db", UNREACHABLE_DB,
                   "--broker", UNREACHABLE_BROKER, "--json", str(figures))
    assert result.returncode == 0, result.stdout + result.stderr
    rows = json.loads(figures.read_text())["rows"]
    assert [(r["backend"], r["replicas"]) for r in rows] == [
        (backend, n) for backend in ("sqlite", "postgresql", "postgresql+rabbitmq") for n in (1, 2)]
    for row in rows[:2]:
        assert row["bound"] == 6 and row["consistent"] and row["binds_per_s"] > 0
        assert set(row["cpu"]["roles"]) == {"core", "simulator", "postgres", "rabbitmq", "load generator", "other"}
        assert len(row["cpu"]["replicas"]) == row["replicas"]
    for row in rows[2:]:
        assert row["skipped"].startswith("PostgreSQL at postgresql://postgres@127.0.0.1:1/postgres unreachable")
    table = result.stdout
    assert table.count("skipped: PostgreSQL at") == 4
    assert "SQLite" in table and "machine: " in table and "cores" in table


def test_a_tiny_run_on_postgresql_reports_commit_and_machine_and_drops_its_database(
        tmp_path: Path, pstnsim_postgres_url: str) -> None:
    import psycopg

    figures = tmp_path / "figures.json"
    result = bench("--backends", "--binds", "6", "--concurrency", "3", "--replicas", "2", "--db", pstnsim_postgres_url,
                   "--broker", UNREACHABLE_BROKER, "--json", str(figures))
    assert result.returncode == 0, result.stdout + result.stderr
    record = json.loads(figures.read_text())
    assert len(record["commit"].split("+")[0]) == 40
    assert record["machine"]["cores"] >= 1 and len(record["machine"]["load_average_before"]) == 3
    assert record["machine"]["postgresql"]["synchronous_commit"] in ("on", "off", "local", "remote_write", "remote_apply")
    assert record["load"] == {"binds": 6, "concurrency": 3, "seed": 0, "repeat": 1}
    pg_row = next(r for r in record["rows"] if r["backend"] == "postgresql")
    assert pg_row["bound"] == 6 and pg_row["consistent"]
    with psycopg.connect(pstnsim_postgres_url, autocommit=True) as conn:
        left = conn.execute("SELECT datname FROM pg_database WHERE datname = %s", (pg_row["database"],)).fetchall()
    assert left == [], f"the scratch database {pg_row['database']} was not dropped"
    broker_row = next(r for r in record["rows"] if r["backend"] == "postgresql+rabbitmq")
    assert "skipped" in broker_row


def test_a_tiny_run_through_rabbitmq_deletes_its_broker_namespace(
        tmp_path: Path, pstnsim_postgres_url: str, pstnsim_rabbitmq_url: str) -> None:
    import asyncio

    import aio_pika

    figures = tmp_path / "figures.json"
    result = bench("--backends", "--binds", "6", "--concurrency", "3", "--replicas", "1", "--db", pstnsim_postgres_url,
                   "--broker", pstnsim_rabbitmq_url, "--json", str(figures))
    assert result.returncode == 0, result.stdout + result.stderr
    record = json.loads(figures.read_text())
    assert record["machine"]["rabbitmq"]["version"] != "unknown"
    row = next(r for r in record["rows"] if r["backend"] == "postgresql+rabbitmq")
    assert row["bound"] == 6 and row["consistent"], row
    namespace = row["broker_namespace"]

    async def work_queue_exists() -> bool:
        async with await aio_pika.connect(pstnsim_rabbitmq_url) as connection:
            channel = await connection.channel()
            try:
                await channel.declare_queue(f"{namespace}.work", passive=True)
            except aio_pika.exceptions.ChannelNotFoundEntity:
                return False
            return True

    assert not asyncio.run(work_queue_exists()), f"the namespace {namespace} was left on the broker"
