"""`pstnsim chaos cluster`: its arguments, their checks (exit 2 with one line each) and the run."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from ..verdicts import EXIT_HARNESS

DEFAULT_SEED = 7

PROG = "pstnsim chaos cluster"


def add_cluster_arguments(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    cluster = sub.add_parser(
        "cluster", help="run scenarios against N core replicas as processes, with a nemesis (docs/cluster.md)",
        description="Start the provider and N replicas of the bundled core on one database (and broker), drive "
                    "business traffic through a balancer, run the scenario's [[nemesis]] actions, then check. "
                    "Exit 0: every check held; 1: a check was violated; 2: usage or harness error.")
    cluster.add_argument("files", nargs="*", metavar="FILE", type=Path,
                         help="scenario TOML files with [cluster] and [[nemesis]] tables (docs/cluster.md)")
    cluster.add_argument("--replicas", type=int, metavar="N", help="core replicas (default: the file's [cluster] "
                                                                    "replicas, else 2)")
    cluster.add_argument("--db", required=True, metavar="URL",
                         help="postgresql://user@host:port/db (the run creates and drops a database of its own on "
                              "that server) or sqlite:///FILE (every replica on that file)")
    cluster.add_argument("--broker", metavar="URL", help="amqp://user:pass@host:port/ (RabbitMQ): the replicas run "
                                                          "on it, in a namespace of the run's own")
    cluster.add_argument("--seed", type=int, help=f"fixes the traffic, the nemesis and the data (default {DEFAULT_SEED}; "
                                                  "with --replay, the replay file's)")
    cluster.add_argument("--time-budget", type=float, metavar="SECONDS",
                         help="real seconds of traffic, shared among the files (caps each [cluster] duration)")
    cluster.add_argument("--report-dir", type=Path, default=Path("reports"), help="reports go to DIR/<run-id>/")
    cluster.add_argument("--run-id", help="name of the report folder (default: UTC time and seed)")
    cluster.add_argument("--replay", type=Path, metavar="FILE",
                         help="run the schedule of traffic and nemesis actions a run wrote (its .cluster-replay.json)")
    cluster.add_argument("--keep-db", action="store_true", help="keep the run's PostgreSQL database (prints its URL)")
    cluster.add_argument("--check", action="append", dest="checks", metavar="NAME", help="run only this check (repeatable)")
    cluster.add_argument("--quiet", action="store_true", help="no progress, only the summary")


def validate(args: argparse.Namespace) -> list[str]:
    from ..checkers import CHECKS

    problems = []
    for name in args.files:
        if not Path(name).is_file():
            problems.append(f"no such scenario file: {name}")
    if not args.files and args.replay is None:
        problems.append("name at least one scenario FILE (or --replay FILE)")
    if args.replicas is not None and not 1 <= args.replicas <= 16:
        problems.append(f"--replicas must be between 1 and 16, got {args.replicas}")
    if args.time_budget is not None and not args.time_budget > 0:
        problems.append("--time-budget must be a number of seconds > 0")
    if args.replay is not None and not args.replay.is_file():
        problems.append(f"--replay: no such file: {args.replay}")
    if args.replay is not None and len(args.files) > 1:
        problems.append("--replay runs one scenario: name at most one FILE")
    for name in args.checks or ():
        if name not in CHECKS.checks:
            problems.append(f"unknown check {name!r}; known: {', '.join(CHECKS.checks)}")
    scheme = args.db.split(":", 1)[0].lower()
    if scheme not in ("postgresql", "postgres", "sqlite"):
        problems.append(f"--db must be a postgresql:// or sqlite:/// URL, got {args.db!r}")
    if args.broker is not None and not args.broker.lower().startswith(("amqp://", "amqps://")):
        problems.append(f"--broker must be an amqp:// URL, got {args.broker!r}")
    if scheme == "sqlite":
        from binding_core.storage import sqlite_path

        try:
            folder = Path(sqlite_path(args.db)).parent
        except ValueError as exc:
            problems.append(f"--db: {exc}")
        else:
            if not folder.is_dir():
                problems.append(f"--db: folder {folder} does not exist (create it first)")
    if args.keep_db and scheme == "sqlite":
        problems.append("--keep-db only goes with a postgresql:// --db (a SQLite file always stays)")
    return problems


def preflight(args: argparse.Namespace) -> str | None:
    """The database server and the broker answer, before anything starts; else what is wrong, in one line."""
    from . import backends

    if args.db.lower().startswith(("postgresql:", "postgres:")):
        try:
            import psycopg
        except ImportError:
            return "--db postgresql:// needs the psycopg driver: pip install 'pstnsim[postgres]'"
        try:
            with psycopg.connect(args.db, connect_timeout=backends.CONNECT_TIMEOUT):
                pass
        except psycopg.Error as exc:
            first = (str(exc).strip().splitlines() or ["no answer"])[0]
            return (f"PostgreSQL at {backends.redacted(args.db)} is unreachable ({first}); start it (Debian/Ubuntu: "
                    f"{backends.POSTGRES_START_HINT})")
    if args.broker:
        try:
            asyncio.run(backends.check_broker(args.broker))
        except backends.BackendError as exc:
            return str(exc)
    return None


def _resolve_seed(args: argparse.Namespace) -> list[str]:
    """The run's seed: --seed, else a replay file's own (a replay at another seed would meet other numbers and
    other faults), else the default."""
    from .schedule import read_replay

    if args.replay is None:
        args.seed = DEFAULT_SEED if args.seed is None else args.seed
        return []
    try:
        recorded = read_replay(args.replay).seed
    except ValueError as exc:
        return [str(exc)]
    if args.seed is not None and args.seed != recorded:
        return [f"--replay {args.replay} was recorded at seed {recorded}; drop --seed or give --seed {recorded}"]
    args.seed = recorded
    return []


def run_cluster(args: argparse.Namespace) -> int:
    from ..chaos_cli import _quiet_service_logs
    from ..events import EventBus
    from ..reports import ReportFiles
    from ..reports.terminal import TerminalReport
    from ..scenario_file import ScenarioError
    from .runner import ClusterOptions, ClusterRunner

    problems = validate(args)
    if not problems:
        problems = _resolve_seed(args)
    problem = None if problems else preflight(args)
    for line in [*problems, *([problem] if problem else [])]:
        print(f"{PROG}: {line}", file=sys.stderr)
    if problems or problem:
        return EXIT_HARNESS
    options = ClusterOptions(files=list(args.files), db=args.db, replicas=args.replicas, broker=args.broker,
                             seed=args.seed, time_budget=args.time_budget, report_dir=args.report_dir,
                             run_id=args.run_id, replay=args.replay, keep_db=args.keep_db,
                             checks=tuple(args.checks) if args.checks else None)
    runner = ClusterRunner(options, EventBus([ReportFiles(), TerminalReport(quiet=args.quiet)]))
    _quiet_service_logs()
    print(f"{PROG}: seed {args.seed}", flush=True)
    try:
        code = runner.run()
    except ScenarioError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return EXIT_HARNESS
    for path in runner.replay_files:
        print(f"{PROG}: replay file {path} (re-run: --replay {path})", flush=True)
    return code
