"""Helpers for tests that run the installed `pstnsim` command as a user would: a subprocess, its exit code
and its output."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Callable, Iterator

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The console script installed next to the interpreter running the tests (.venv/bin/pstnsim).
PSTNSIM = Path(sys.executable).with_name("pstnsim")
LISTENING = re.compile(r"listening on (http://\S+)")


@pytest.fixture
def pstnsim() -> Callable[..., subprocess.CompletedProcess[str]]:
    """`pstnsim(*args, cwd=None)`: run the command to its end; stdout, stderr as text."""
    assert PSTNSIM.exists(), f"{PSTNSIM} is not installed (pip install -e .)"

    def run(*args: str, cwd: Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(PSTNSIM), *args], capture_output=True, text=True, timeout=timeout, cwd=cwd)

    return run


@pytest.fixture
def pstnsim_server() -> Iterator[Callable[..., tuple[str, str]]]:
    """`pstnsim_server(*args)`: start a `pstnsim provider|core ...` that serves until stopped; once it printed its
    "listening on" line, returns (its URL, that line). Every server started is terminated at teardown."""
    started: list[subprocess.Popen[str]] = []

    def start(*args: str) -> tuple[str, str]:
        proc = subprocess.Popen([str(PSTNSIM), *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        started.append(proc)
        seen = []
        for line in proc.stdout:  # type: ignore[union-attr]  # ends at EOF if the server exits
            seen.append(line)
            if match := LISTENING.search(line):
                return match.group(1), line.rstrip()
        raise AssertionError(f"pstnsim {' '.join(args)} exited {proc.wait()} without listening:\n{''.join(seen)}")

    try:
        yield start
    finally:
        for proc in started:
            proc.terminate()
        for proc in started:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

