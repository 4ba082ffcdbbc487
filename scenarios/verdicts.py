"""What ended a scenario's search, in the words and exit codes the reports and the CLI use (pure functions).

Exit codes: 0 every check held, 1 a check was violated, 2 a usage or harness error or a vacuous run (nothing
was checked), 130 interrupted (Ctrl-C). A `--replay` whose failure no longer happens exits 0.
"""

from __future__ import annotations

import re
import traceback

import hypothesis

from .machine import ChaosViolation, HarnessAbort, MachineLog
from .world import HarnessError

BLOB = re.compile(r"@reproduce_failure\('([^']+)', (b'[^']*'|b\"[^\"]*\")\)")
EXIT_PASSED, EXIT_VIOLATION, EXIT_HARNESS, EXIT_INTERRUPTED = 0, 1, 2, 130


def exit_code(violations: int, harness_errors: int, interrupted: bool) -> int:
    """0 every check held, 1 a check was violated, 2 a harness error or a vacuous run, 130 Ctrl-C."""
    if interrupted:
        return EXIT_INTERRUPTED
    if violations:
        return EXIT_VIOLATION
    return EXIT_HARNESS if harness_errors else EXIT_PASSED


def replay_blob_problem(replay: str) -> str | None:
    """Why a `--replay` value cannot be replayed here (a bad blob, another Hypothesis version), else None."""
    from hypothesis.core import decode_failure

    version, sep, blob = replay.partition(":")
    if not sep or not version or not blob:
        return "--replay takes the VERSION:BLOB printed by a failed run"
    if version != hypothesis.__version__:
        return (f"--replay: this failure was recorded with Hypothesis {version}, but this pstnsim runs Hypothesis "
                f"{hypothesis.__version__}; a blob replays only on the version that made it. Install "
                f"hypothesis=={version} to replay it, or replay the failure's provider trace "
                "(<scenario>.failure.trace.jsonl beside its report) with `pstnsim replay FILE`, which needs no Hypothesis")
    try:
        decode_failure(blob.encode())
    except Exception as exc:  # noqa: BLE001 - Hypothesis raises InvalidArgument for every kind of bad blob
        return f"--replay: not a blob a failed run printed ({exc})"
    return None


def falsifying_program(error: BaseException, inner: BaseException | None = None) -> tuple[tuple[str, ...], str | None]:
    """The shrunk rule calls Hypothesis attached to the error, and its reproduction blob as `version:blob`."""
    notes = list(getattr(error, "__notes__", []) or [])
    if inner is not None and inner is not error:
        notes += list(getattr(inner, "__notes__", []) or [])
    lines: list[str] = []
    for note in notes:
        lines.extend(note.splitlines())
    program: list[str] = []
    for line in lines:
        if line.startswith("state = "):
            program = [line]  # the last printed program is the minimal one
        elif program and (line.startswith("state.") or line[:1].isspace() or line[:1] in ")]}"):
            if line.strip() != "state.transitions_legal()":  # the per-step invariant: noise in a replay
                program.append(line)
        elif program and line.startswith("You can reproduce"):
            continue
    blob = None
    for line in lines:
        found = BLOB.search(line)
        if found:
            blob = f"{found.group(1)}:{found.group(2)[2:-1]}"
    return tuple(program), blob


def violation_in(error: BaseException | None) -> ChaosViolation | None:
    """The ChaosViolation an attempt ended with, also inside Hypothesis's Flaky groups."""
    if isinstance(error, ChaosViolation):
        return error
    for inner in getattr(error, "exceptions", None) or ():
        found = violation_in(inner)
        if found is not None:
            return found
    return None


def cause(error: BaseException) -> str:
    """A harness error as the reports keep it: the message for the harness's own errors, else the failing
    program Hypothesis noted, then the traceback, so that the last line names the exception (never
    Hypothesis's @reproduce_failure hint: a harness error has nothing to replay)."""
    inner = error.error if isinstance(error, HarnessAbort) else error
    from .adapters import AdapterError

    if isinstance(inner, (HarnessError, AdapterError)):
        return f"{inner}"
    notes = [n for n in getattr(inner, "__notes__", None) or [] if "reproduce_failure" not in n]
    saved = inner.__dict__.pop("__notes__", None) if hasattr(inner, "__dict__") else None
    try:
        text = "".join(traceback.format_exception(inner))
    finally:
        if saved is not None:
            inner.__notes__ = saved
    return ("\n".join(notes) + "\n" if notes else "") + text[-8000:].rstrip()


def vacuous(log: MachineLog) -> str:
    """Why a passing scenario checked nothing ("" when it checked something)."""
    ran = [r for r in log.last_results if r.status != "skipped"]
    if log.examples == 0:
        return "no example ran" + (f" ({log.budget.stopped})" if log.budget.stopped else "")
    if log.writes == 0:
        return (f"{log.examples} example(s) sent no bind or unbind to the service; raise --steps, --examples or "
                "--time-budget")
    if log.binds_seen == 0:
        return (f"{log.writes} bind(s) and unbind(s) in {log.examples} example(s), but nothing was ever bound, so "
                "the checks compared nothing with nothing; raise --steps, --examples or --time-budget")
    if not log.last_results:
        return "no example reached its checks"
    if not ran:
        return "every check was skipped: the service offered none of the data they need"
    return ""
