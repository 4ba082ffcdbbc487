"""`pstnsim chaos run [FILE...]`: the command-line face of the runner (the library never imports this)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .dialect_ops import DIALECTS
from .events import EventBus
from .reports import ReportFiles
from .reports.terminal import TerminalReport
from .runner import DEFAULT_SEED, EXIT_HARNESS, EXIT_PASSED, EXIT_VIOLATION, Runner, RunOptions, replay_blob_problem
from .scenario_file import ScenarioError, default_suite

EXIT_USAGE = EXIT_HARNESS  # 2: usage or harness error (docs/harness.md, "Exit codes")
__all__ = ["EXIT_PASSED", "EXIT_USAGE", "EXIT_VIOLATION", "add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="chaos_command", required=True)
    run = sub.add_parser("run", help="run chaos scenarios (no file: the bundled default suite)",
                         description="Run chaos scenarios. Exit 0: every check held; 1: a check was violated; "
                                     "2: usage or harness error, or a vacuous run; 130: interrupted (Ctrl-C).")
    run.add_argument("files", nargs="*", metavar="FILE", help="scenario TOML files (default: the bundled suite)")
    run.add_argument("--seed", type=int, default=DEFAULT_SEED,
                     help=f"fixes data, faults and interleavings (default {DEFAULT_SEED})")
    run.add_argument("--dialect", choices=DIALECTS,
                     help="the wire the core speaks to the provider; fault rules follow it "
                          "(default: each file's [run] dialect or [core] provider.dialect, else native)")
    run.add_argument("--report-dir", type=Path, default=Path("reports"), help="reports go to DIR/<run-id>/")
    run.add_argument("--run-id", help="name of the report folder (default: UTC time and seed)")
    run.add_argument("--examples", type=int, help="Hypothesis examples per scenario (overrides each file's budget)")
    run.add_argument("--steps", type=int, help="rule calls per example (overrides each file's budget)")
    run.add_argument("--sut", metavar="URL", help="a binding service to check by URL, in real time (see docs/harness.md)")
    run.add_argument("--provider-url", metavar="URL", help="the provider the --sut service talks to (pstnsim provider)")
    run.add_argument("--adapter", metavar="FILE.py[:CLASS]",
                     help="how to reach the --sut service: a ServiceAdapter subclass in a file or module:CLASS "
                          "(default: the bundled core's API; see docs/harness.md, Adapters)")
    run.add_argument("--numbers", metavar="X[,X...]",
                     help="with --sut: the virtual numbers every example takes (a real-time replay command names "
                          "the failing example's; default: numbers nothing holds, least used first)")
    run.add_argument("--time-budget", type=float, metavar="SECONDS",
                     help="wall-clock seconds for the run, shared among its scenarios: examples run until it is "
                          "spent (with --examples too, whichever comes first)")
    run.add_argument("--wall-guard", type=float, metavar="SECONDS",
                     help="real seconds one in-process wait may take before the core counts as not going quiet (a "
                          "liveness violation: a core that keeps its loop busy stops virtual time); default "
                          "$PSTNSIM_WALL_GUARD or 30, 0 turns it off")
    run.add_argument("--no-shrink", action="store_true", help="report the first failing example without shrinking it")
    run.add_argument("--replay", metavar="BLOB",
                     help="replay one failing example (printed by a failed run); exit 0 if it no longer reproduces")
    run.add_argument("--check", action="append", dest="checks", metavar="NAME", help="run only this check (repeatable)")
    run.add_argument("--quiet", action="store_true", help="no progress bar, only the summary")
    list_cmd = sub.add_parser("list", help="list the bundled scenarios and the checks")
    list_cmd.set_defaults(chaos_command="list")
    from .cluster.cli import add_cluster_arguments

    add_cluster_arguments(sub)


def run(args: argparse.Namespace) -> int:
    if args.chaos_command == "list":
        return _list()
    if args.chaos_command == "cluster":
        from .cluster.cli import run_cluster

        return run_cluster(args)
    problems = _validate(args)
    if problems:
        for problem in problems:
            print(f"pstnsim chaos run: {problem}", file=sys.stderr)
        return EXIT_USAGE
    from .adapters import AdapterLoadError, load_adapter

    try:
        adapter = load_adapter(args.adapter) if args.sut else None
    except AdapterLoadError as exc:
        print(f"pstnsim chaos run: {exc}", file=sys.stderr)
        return EXIT_USAGE
    options = RunOptions(
        seed=args.seed, report_dir=args.report_dir, provider_url=args.provider_url, sut_url=args.sut,
        examples=args.examples, steps=args.steps, shrink=not args.no_shrink, replay=args.replay,
        checks=tuple(args.checks) if args.checks else None, run_id=args.run_id, dialect=args.dialect,
        time_budget=args.time_budget, adapter=adapter, adapter_spec=args.adapter, wall_guard=args.wall_guard,
        numbers=tuple(n for n in args.numbers.split(",") if n) if args.numbers else None,
    )
    files = ReportFiles()
    bus = EventBus([files, TerminalReport(quiet=args.quiet)])
    _quiet_service_logs()
    try:
        result = Runner(options, bus).run(args.files or None)
    except ScenarioError as exc:
        print(f"pstnsim chaos run: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return result.exit_code


def _quiet_service_logs() -> None:
    """The core logs every alert; the harness reports them itself, so the terminal keeps only errors."""
    import logging

    for name in ("binding_core", "simulator", "aiohttp"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _validate(args: argparse.Namespace) -> list[str]:
    from .checkers import CHECKS

    problems = []
    for name in args.files:
        if not Path(name).is_file():
            problems.append(f"no such scenario file: {name}")
    if args.sut and not args.provider_url:
        problems.append("--sut needs --provider-url (the provider the service under test talks to)")
    if args.provider_url and not args.sut:
        problems.append("--provider-url only goes with --sut (in-process runs start their own provider)")
    for flag in ("examples", "steps"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            problems.append(f"--{flag} must be >= 1")
    for name in args.checks or ():
        if name not in CHECKS.checks:
            problems.append(f"unknown check {name!r}; known: {', '.join(CHECKS.checks)}")
    if args.replay and (":" not in args.replay or len(args.files) != 1):
        problems.append("--replay takes the BLOB printed by a failed run, with exactly one scenario FILE")
    elif args.replay:
        problem = replay_blob_problem(args.replay)
        if problem:
            problems.append(problem)
    if args.adapter and not args.sut:
        problems.append("--adapter only goes with --sut (in-process runs drive the bundled core)")
    if args.numbers and not args.sut:
        problems.append("--numbers only goes with --sut (in-process runs use a fresh provider's numbers)")
    if args.numbers and not all(n.isdigit() for n in args.numbers.split(",") if n):
        problems.append(f"--numbers takes virtual numbers separated by commas, got {args.numbers!r}")
    if args.time_budget is not None and not args.time_budget > 0:
        problems.append("--time-budget must be a number of seconds > 0")
    if args.wall_guard is not None and not args.wall_guard >= 0:
        problems.append("--wall-guard must be a number of seconds >= 0 (0 turns it off)")
    return problems


def _list() -> int:
    from .checkers import CHECKS
    from .scenario_file import load_scenario

    print("bundled scenarios:")
    for path in default_suite():
        scenario = load_scenario(path)
        print(f"  {path}  [{scenario.dialect}]  {scenario.description}")
    print("checks:")
    for check in CHECKS.checks.values():
        print(f"  {check.name:<26} {check.description}")
    return EXIT_PASSED
