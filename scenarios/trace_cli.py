"""`pstnsim trace import | diff | check`: bring a HAR in as a trace, compare two traces by meaning, and
measure how faithful the simulator is to a recording.

Exit codes: 0 done / equal / all agree; 1 the traces differ / the simulator differs; 2 bad input (a
missing, truncated or corrupt file, an unknown format version, a HAR that is not HAR), always one line
`pstnsim trace <cmd>: <message>` on stderr and never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any, Callable

from simulator.traces.diff import diff_traces
from simulator.traces.diff import render_text as render_diff
from simulator.traces.diff import to_json as diff_json
from simulator.traces.fidelity import check_file
from simulator.traces.fidelity import render_text as render_check
from simulator.traces.fidelity import to_json as check_json
from simulator.traces.format import TraceError, read_trace, write_trace
from simulator.traces.har import DIALECT_CHOICES, HarError, import_har_file

EQUAL, DIFFERENT, BAD_INPUT = 0, 1, 2


class UsageError(Exception):
    """Input that is readable but unusable (a HAR with no provider request, an --out that cannot be written)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="trace_command", required=True, metavar="{import,diff,check}")

    imported = sub.add_parser(
        "import", help="a HAR 1.2 file (dev tools, Playwright, mitmproxy, Charles) as a pstnsim trace",
        description="Read a HAR 1.2 file and write the provider requests in it as a pstnsim trace. Failed "
                    "entries (status 0 or -1, no response) become timeouts or resets; other traffic is skipped "
                    "and counted; secrets are scrubbed; A/B numbers get stand-ins unless --keep-numbers.")
    imported.add_argument("har", type=Path, metavar="FILE.har", help="the HAR file")
    imported.add_argument("--dialect", choices=DIALECT_CHOICES, default="auto",
                          help="the provider dialect of the traffic (default auto: detected per entry)")
    imported.add_argument("--out", type=Path, required=True, metavar="FILE", help="the trace to write (JSON Lines)")
    imported.add_argument("--keep-numbers", action="store_true",
                          help="keep the real A and B numbers (default: the same stand-in for each, everywhere)")
    imported.set_defaults(_trace_run=_import)

    diff = sub.add_parser(
        "diff", help="compare two traces by meaning (missing, extra, reordered calls; changed parameters, outcomes)",
        description="Compare two traces by meaning: calls aligned by dialect, action and parameters. Exit 0 "
                    "when equal by meaning, 1 when they differ, 2 on bad input.")
    diff.add_argument("a", type=Path, metavar="A", help="the first trace (e.g. the recording)")
    diff.add_argument("b", type=Path, metavar="B", help="the second trace (e.g. the replay)")
    diff.add_argument("--include-volatile", action="store_true",
                      help="also compare request ids, binding ids, assigned X, times and nonces")
    diff.add_argument("--json", action="store_true", help="print the differences as JSON")
    diff.set_defaults(_trace_run=_diff)

    check = sub.add_parser(
        "check", help="play a trace's requests against a fresh simulator and list where it answers differently",
        description="Play the recorded requests in order against a fresh in-process simulator and list every "
                    "place where it answers differently from the recording (status, business code, fields). "
                    "Exit 0 when all comparable exchanges agree, 1 when any differ, 2 on bad input.")
    check.add_argument("trace", type=Path, metavar="FILE", help="the trace to check")
    check.add_argument("--seed", type=int, default=None,
                       help="the fresh simulator's seed (default: the recording simulator's, else 0)")
    check.add_argument("--json", action="store_true", help="print the results as JSON")
    check.set_defaults(_trace_run=_check)


def run(args: argparse.Namespace) -> int:
    command: Callable[[argparse.Namespace], int] = args._trace_run
    try:
        return command(args)
    except (TraceError, HarError, UsageError) as exc:
        print(f"pstnsim trace {args.trace_command}: {exc}", file=sys.stderr)
        return BAD_INPUT
    except OSError as exc:  # the check's simulator could not listen, an output could not be written
        print(f"pstnsim trace {args.trace_command}: {exc.strerror or exc}", file=sys.stderr)
        return BAD_INPUT


def _import(args: argparse.Namespace) -> int:
    result = import_har_file(args.har, dialect=args.dialect, keep_numbers=args.keep_numbers)
    trace = result.trace
    if not trace.exchanges:
        raise UsageError(f"{args.har}: no {_dialect_words(args.dialect)} request among its {result.entries} "
                         f"entries; nothing written")
    try:
        write_trace(args.out, trace)
    except OSError as exc:
        raise UsageError(f"cannot write {args.out}: {exc.strerror or exc}") from None
    dialects = ", ".join(trace.header.dialects)
    failed = f", {result.failures} of them failed (timeout or reset)" if result.failures else ""
    print(f"imported {len(trace.exchanges)} exchanges ({dialects}) from {args.har} into {args.out}{failed}")
    if result.skipped:
        print(f"skipped {result.skipped} entries that are not provider requests" if result.skipped > 1
              else "skipped 1 entry that is not a provider request")
    print("A/B numbers kept as recorded" if args.keep_numbers
          else "A/B numbers replaced by stand-ins (--keep-numbers keeps them); secrets scrubbed")
    return EQUAL


def _diff(args: argparse.Namespace) -> int:
    a, b = read_trace(args.a), read_trace(args.b)
    result = diff_traces(a, b, include_volatile=args.include_volatile)
    if args.json:
        _print_json(diff_json(result, str(args.a), str(args.b)))
    else:
        print(render_diff(result, str(args.a), str(args.b)))
    return EQUAL if result.equal else DIFFERENT


def _check(args: argparse.Namespace) -> int:
    report = asyncio.run(check_file(args.trace, seed=args.seed))
    if args.json:
        _print_json(check_json(report))
    else:
        print(render_check(report))
    return EQUAL if report.all_agree else DIFFERENT


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def _dialect_words(dialect: str) -> str:
    return "provider" if dialect == "auto" else dialect
