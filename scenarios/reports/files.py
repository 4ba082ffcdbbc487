"""Writes reports/<run-id>/{summary.json, junit.xml, report.html} when the run finishes (also after Ctrl-C),
and replay.sh when a failure can be replayed."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

from ..events import Event, RunFinished, RunStarted
from .collector import RunRecord
from .html import write_html
from .junit import write_junit
from .summary_json import write_summary


class ReportFiles:
    """A subscriber: collects the run and writes the files at RunFinished."""

    def __init__(self) -> None:
        self.record = RunRecord()
        self.directory: Path | None = None
        self.written: list[Path] = []

    def __call__(self, event: Event) -> None:
        self.record(event)
        if isinstance(event, RunStarted):
            self.directory = Path(event.report_dir)
            self.directory.mkdir(parents=True, exist_ok=True)
        elif isinstance(event, RunFinished) and self.directory is not None:
            self.written = [
                write_summary(self.record, self.directory / "summary.json"),
                write_junit(self.record, self.directory / "junit.xml"),
                write_html(self.record, self.directory / "report.html"),
            ]
            script = replay_script(self.record, self.directory, Path.cwd(), pstnsim_dir())
            if script is not None:
                path = self.directory / "replay.sh"
                path.write_text(script)
                path.chmod(0o755)
                self.written.append(path)


def replay_commands(record: RunRecord) -> list[str]:
    """Each failed scenario's replay command (the shrunk example's blob), once."""
    commands: list[str] = []
    for scenario in record.scenarios.values():
        for violation in scenario.violations:
            command = violation.get("replay_command") or ""
            if "--replay" in command and command not in commands:
                commands.append(command)
    return commands


def replay_script(record: RunRecord, directory: Path, cwd: Path, bin_dir: Path | None) -> str | None:
    """replay.sh: the exact printed command(s), run from the folder the run started in (found from the script's
    own place, so a downloaded CI artifact works in a checkout) with pstnsim's folder on PATH; the script's own
    options are added to each command."""
    commands = replay_commands(record)
    if not commands:
        return None
    back = os.path.relpath(cwd.resolve(), directory.resolve())
    traces = [s.finished.failure_trace for s in record.scenarios.values() if s.finished and s.finished.failure_trace]
    lines = [
        "#!/bin/sh",
        f"# Replays the minimal failing example(s) of pstnsim chaos run {record.started.run_id if record.started else ''}"
        .rstrip(),
        "# Exit 0: no longer reproduces (every check holds); 1: still violated; 2: usage or harness error.",
        "# A blob replays only on the Hypothesis version that made it; the provider trace of a failing example",
        "# replays on any version, without Hypothesis:",
        *[f"#   pstnsim replay {shlex.quote(t)}" for t in traces],
        f'cd "$(dirname "$0")"/{shlex.quote(back)} || exit 2',
    ]
    if bin_dir is not None:
        inside = _inside(bin_dir, cwd)
        lines.append(f'PATH="$PWD"/{shlex.quote(str(inside))}:"$PATH"' if inside is not None
                     else f'PATH={shlex.quote(str(bin_dir))}:"$PATH"')
    lines.append("export PATH")
    # Options given to the script go to each command (sh replay.sh --report-dir /tmp/replays).
    if len(commands) == 1:
        lines.append(f'{commands[0]} "$@"')
    else:
        lines.append("worst=0")
        for command in commands:
            lines.append(f'{command} "$@"')
            lines.append('code=$?; [ "$code" -gt "$worst" ] && worst=$code')
        lines.append('exit "$worst"')
    return "\n".join(lines) + "\n"


def pstnsim_dir() -> Path | None:
    """The folder of the `pstnsim` that runs (a venv's bin), if there is one."""
    started = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if started is not None and started.name == "pstnsim" and started.exists():
        return started.resolve().parent
    beside = Path(sys.executable).parent / "pstnsim"
    return beside.parent if beside.exists() else None


def _inside(path: Path, root: Path) -> Path | None:
    try:
        return path.resolve().relative_to(root.resolve())
    except ValueError:
        return None
