"""`pstnsim replay FILE`: the command-line face of `replay_trace` (the library never imports this)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from urllib.parse import urlsplit

from simulator.traces.format import TraceError

from ..events import EventBus
from ..reports import ReportFiles
from .plan import ReplayError
from .replayer import ReplayOptions, replay_trace
from .terminal import ReplayTerminal

EXIT_PASSED, EXIT_VIOLATION, EXIT_USAGE = 0, 1, 2
DEFAULT_PROVIDER_PORT = 8090


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Replay a recorded incident: the trace's business operations are driven against a "
                          "binding service while the provider answers as recorded, and the chaos checks run. "
                          "Exit 0: no violation (a recorded failure that no longer reproduces); 1: a violation; "
                          "2: bad input or the harness could not run.")
    parser.add_argument("file", metavar="FILE", help="a pstnsim trace (JSON Lines), e.g. a chaos run's "
                                                     "<scenario>.failure.trace.jsonl")
    parser.add_argument("--sut", metavar="URL",
                        help="the binding service to replay against, in real time (default: the bundled core "
                             "in-process, virtual time)")
    parser.add_argument("--provider-port", type=int, metavar="P",
                        help=f"with --sut: the replay provider listens on 127.0.0.1:P (default "
                             f"{DEFAULT_PROVIDER_PORT}); point the service at it")
    parser.add_argument("--speed", type=float, default=1.0, metavar="N",
                        help="with --sut: offsets and recorded latencies are divided by N (default 1)")
    parser.add_argument("--seed", type=int, help="the core's seed (default: the trace's, else 7)")
    parser.add_argument("--unrecorded", choices=("ledger", "error"), default="ledger",
                        help="a call the trace has no exchange for: answered from the provider's ledger "
                             "(default) or refused; either way the report lists it")
    parser.add_argument("--report-dir", type=Path, default=Path("reports"), help="reports go to DIR/<run-id>/")
    parser.add_argument("--run-id", help="name of the report folder (default: UTC time and 'replay')")
    parser.add_argument("--quiet", action="store_true", help="only violations and the verdict")


def run(args: argparse.Namespace) -> int:
    problems = _validate(args)
    if problems:
        for problem in problems:
            print(f"pstnsim replay: {problem}", file=sys.stderr)
        return EXIT_USAGE
    if args.speed != 1.0 and not args.sut and not args.quiet:
        print("pstnsim replay: note: --speed applies to --sut replays; in-process time is virtual", file=sys.stderr)
    options = ReplayOptions(
        report_dir=args.report_dir, run_id=args.run_id, sut_url=args.sut,
        provider_port=args.provider_port if args.provider_port is not None else DEFAULT_PROVIDER_PORT,
        speed=args.speed, seed=args.seed, unrecorded=args.unrecorded,
    )
    _quiet_service_logs()
    try:
        result = replay_trace(args.file, options, EventBus([ReportFiles(), ReplayTerminal(quiet=args.quiet)]))
    except (TraceError, ReplayError) as exc:
        print(f"pstnsim replay: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # the replay provider's port is taken, the report folder cannot be written...
        print(f"pstnsim replay: {exc.strerror or exc}{f': {exc.filename}' if exc.filename else ''}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # noqa: BLE001 - the harness could not run: say why, no traceback
        print(f"pstnsim replay: the replay could not run: {exc} (report.html has the details)", file=sys.stderr)
        return EXIT_USAGE
    print(result.message())
    return result.exit_code


def _validate(args: argparse.Namespace) -> list[str]:
    problems = []
    if not Path(args.file).is_file():
        problems.append(f"no such trace file: {args.file}")
    if args.sut:
        parts = urlsplit(args.sut)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            problems.append(f"--sut must be an http(s) URL such as http://127.0.0.1:8080, got {args.sut!r}")
    elif args.provider_port is not None:
        problems.append("--provider-port only goes with --sut (in-process replays start their own provider)")
    if args.provider_port is not None and not 0 <= args.provider_port <= 65535:
        problems.append(f"--provider-port must be in 0..65535, got {args.provider_port}")
    if not args.speed > 0:
        problems.append(f"--speed must be a number > 0, got {args.speed:g}")
    return problems


def _quiet_service_logs() -> None:
    """The core logs every alert; the report says what matters, so the terminal keeps only errors."""
    for name in ("binding_core", "simulator", "aiohttp", "pstnsim"):
        logging.getLogger(name).setLevel(logging.ERROR)
