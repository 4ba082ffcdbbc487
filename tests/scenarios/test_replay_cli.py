"""The replay a failure prints survives CI logs, narrow terminals and a fix; a blob from another Hypothesis is
refused. CLI tests run the installed `pstnsim` as a subprocess."""

from __future__ import annotations

import json
import logging
import os
import pty
import re
import shlex
import stat
import struct
import subprocess
import sys
import termios
import fcntl
from pathlib import Path

import hypothesis
import pytest

from scenarios.cli import main
from scenarios.scenario_file import EXAMPLES_DIR

from servers import PSTNSIM, ROOT, pstnsim

sys.path.insert(0, str(ROOT / "tests" / "planted_bugs"))
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def late_past_window(tmp_path: Path) -> Path:
    """late_landing with holds past the bundled core's in-doubt window: the real core leaves orphans."""
    text = (EXAMPLES_DIR / "late_landing.toml").read_text()
    held = 'action = { kind = "latency", distribution = "uniform", min = 3.0, max = 25.0 }'
    assert held in text
    text = text.replace(held, held.replace("min = 3.0, max = 25.0", "min = 70.0, max = 100.0"))
    text = text.replace('name = "late_landing"', 'name = "late_past_window"')
    text += "\n[provider]\nrequest_deadline = 120\n"
    path = tmp_path / "late_past_window.toml"
    path.write_text(text)
    return path


def run_in_terminal(argv: list[str], columns: int, cwd: Path) -> tuple[int, str]:
    """Run a command in a pseudo-terminal `columns` wide; its exit code and everything it printed."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: a terminal of that width, then the command (never back into pytest)
        try:
            fcntl.ioctl(1, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
            os.chdir(cwd)
            os.execv(argv[0], argv)
        finally:
            os._exit(127)
    chunks = []
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), ANSI.sub("", b"".join(chunks).decode(errors="replace"))


@pytest.mark.parametrize("terminal", [False, True], ids=["log", "terminal-40-columns"])
def test_the_replay_command_is_printed_whole_on_its_own_line_and_as_replay_sh(tmp_path, terminal):
    scenario = late_past_window(tmp_path)
    argv = [str(PSTNSIM), "chaos", "run", str(scenario), "--examples", "4", "--steps", "6", "--no-shrink",
            "--report-dir", str(tmp_path), "--run-id", "first"]
    if terminal:
        code, out = run_in_terminal(argv, columns=40, cwd=ROOT)
    else:
        done = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=300)
        code, out = done.returncode, done.stdout
    assert code == 1, out
    summary = json.loads((tmp_path / "first" / "summary.json").read_text())
    command = summary["scenarios"][0]["violations"][0]["replay_command"]
    assert "--replay" in command and len(command) > 120, command
    lines = [line.rstrip("\r") for line in out.splitlines()]
    assert command in lines, "the replay command must be one line of its own, unwrapped"
    trace = summary["scenarios"][0]["failure_trace"]
    assert f"pstnsim replay {trace}" in lines, "the trace replay (no Hypothesis) is printed beside it"

    script = tmp_path / "first" / "replay.sh"
    text = script.read_text()
    assert text.startswith("#!/bin/sh\n") and f'{command} "$@"' in text.splitlines()
    assert script.stat().st_mode & stat.S_IXUSR
    if not terminal:
        # From anywhere, with no pstnsim on PATH: the script finds both; the failure reproduces (exit 1).
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        again = subprocess.run([str(script)], capture_output=True, text=True, cwd=elsewhere, timeout=300,
                               env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
        assert again.returncode == 1, again.stdout + again.stderr
        assert "FAILED (reproduced)" in again.stdout or "reproduced" in again.stdout


def test_after_the_fix_the_replay_says_no_longer_reproduces_and_exits_0(tmp_path):
    from catalogue import BY_NAME

    logging.getLogger("binding_core").setLevel(logging.CRITICAL)
    with BY_NAME["no_operation_state"].applied():  # the bug, planted in this process only
        code = main(["chaos", "run", str(EXAMPLES_DIR / "xb_axb_same_x_timeouts.toml"), "--steps", "6",
                     "--no-shrink", "--report-dir", str(tmp_path), "--run-id", "buggy", "--quiet"])
    assert code == 1
    # The installed pstnsim has no planted bug: the replay finds the failure fixed.
    fixed = subprocess.run(["sh", str(tmp_path / "buggy" / "replay.sh"), "--report-dir", str(tmp_path),
                            "--run-id", "fixed"], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "no longer reproduces" in fixed.stdout and "harness error" not in fixed.stdout.lower()
    assert "DidNotReproduce" not in fixed.stdout + fixed.stderr and "Traceback" not in fixed.stderr
    summary = json.loads((tmp_path / "fixed" / "summary.json").read_text())
    assert summary["exit_code"] == 0 and summary["passed"] is True
    assert summary["scenarios"][0]["verdict"] == "no longer reproduces"
    html = (tmp_path / "fixed" / "report.html").read_text()
    assert "no longer reproduces" in html and "Traceback" not in html


def test_a_blob_from_another_hypothesis_version_is_refused_naming_both_versions(tmp_path):
    other = "6.100.0"
    done = pstnsim("chaos", "run", EXAMPLES_DIR / "xb_storm_5xx.toml", "--replay", f"{other}:AXicY2BgYAAAAAQAAQ==",
                   "--report-dir", tmp_path)
    assert done.returncode == 2
    assert other in done.stderr and hypothesis.__version__ in done.stderr
    assert "pstnsim replay" in done.stderr  # the version-free way, named
    assert "Traceback" not in done.stderr and not list(tmp_path.iterdir())


def test_a_blob_that_is_not_one_is_refused(tmp_path):
    done = pstnsim("chaos", "run", EXAMPLES_DIR / "xb_storm_5xx.toml", "--replay",
                   f"{hypothesis.__version__}:not-a-blob", "--report-dir", tmp_path)
    assert done.returncode == 2 and "not a blob" in done.stderr and "Traceback" not in done.stderr


def test_hypothesis_is_pinned_to_the_version_blobs_replay_on():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = [d for d in project["dependencies"] if d.startswith("hypothesis")]
    assert pins == [f"hypothesis=={hypothesis.__version__}"]
