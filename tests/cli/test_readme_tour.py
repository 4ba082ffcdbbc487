"""The README's "five-minute tour", run top to bottom as written: its shell lines with bash and curl, its two
servers as real `pstnsim` processes (on free ports, not 8090 / 8080), and each `# ...` line under a command
checked against what that command printed.

How a `# ...` line is read: an `HTTP/1.1 NNN Reason` status line, the `"key": value` pairs and `Header: value`
pairs it shows must all be in the output ("..." stands for anything); a line with none of these must appear as
it is. `# poll: ...` repeats the command until the output shows it (with a deadline). Text after " — " is prose.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import string
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(sys.executable).parent.parent

JSON_PAIR = re.compile(r'"([^"]+)": ("(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?|null|true|false)')
HEADER_PAIR = re.compile(r"\b([A-Z][a-z]+(?:-[A-Z][a-z]+)+): (\S+)")
STATUS_LINE = re.compile(r"^HTTP/1\.1 \d{3}(?: [A-Z][a-z]+)*")


def tour_lines(readme: str) -> list[str]:
    """The shell lines of the tour's code blocks, continuation lines joined, in order."""
    section = readme.split("## A five-minute tour", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.S)
    assert blocks, "the README has no tour"
    return [line for block in blocks for line in block.replace("\\\n", " ").splitlines() if line.strip()]


@dataclass
class Step:
    command: str
    expected: list[str] = field(default_factory=list)


def steps_of(lines: list[str]) -> list[Step]:
    steps: list[Step] = []
    for line in lines:
        if line.startswith("#"):
            assert steps, f"an expected output before any command: {line}"
            steps[-1].expected.append(line[1:].strip())
        else:
            steps.append(Step(line))
    return steps


def unmet(expected: str, output: str) -> list[str]:
    """What of one `# ...` line the output does not show (empty: all of it)."""
    text = expected.removeprefix("poll:").strip().removeprefix("...").strip()
    text = text.split(" — ", 1)[0].strip()
    missing = []
    status = STATUS_LINE.match(text)
    pairs = [f'"{key}": {value}' for key, value in JSON_PAIR.findall(text)]
    headers = [f"{name}: {value}" for name, value in HEADER_PAIR.findall(text.split("{", 1)[0])]
    if status and status.group(0) not in output:
        missing.append(status.group(0))
    missing += [pair for pair in pairs if pair not in output]
    missing += [header for header in headers if header.lower() not in output.lower()]
    if not (status or pairs or headers) and text not in output:
        missing.append(text)
    return missing


class Tour:
    """Runs the tour's lines: variables (P=, X=, C=) kept between lines, servers kept running."""

    def __init__(self, pstnsim_server, tmp_path: Path) -> None:
        self.start_server = pstnsim_server
        self.tmp_path = tmp_path
        self.variables: dict[str, str] = {}
        self.replacements: dict[str, str] = {"/tmp/core.db": str(tmp_path / "core.db"),
                                             "/tmp/reports": str(tmp_path / "reports")}

    def localise(self, text: str) -> str:
        """The README's fixed ports and paths -> this run's."""
        for old, new in self.replacements.items():
            text = text.replace(old, new)
        return text

    def run(self, step: Step) -> str:
        command = self.localise(step.command)
        if assignment := re.fullmatch(r"([A-Z]+)=(\S+)", command):
            self.variables[assignment.group(1)] = string.Template(assignment.group(2)).substitute(self.variables)
            return ""
        if command.startswith((".venv/bin/pstnsim replay ", ".venv/bin/pstnsim trace ")):
            return self.once(command)
        if command.startswith(".venv/bin/pstnsim "):
            return self.serve(command)
        if command.startswith("make chaos"):
            return self.make(command)
        assert command.startswith("curl "), f"a tour line this test does not know how to run: {command}"
        result = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=30,
                                cwd=self.tmp_path, env={**os.environ, **self.variables})
        assert result.returncode == 0, f"{command}\n{result.stderr}"
        return result.stdout

    def serve(self, command: str) -> str:
        args = shlex.split(string.Template(command.split("#", 1)[0]).substitute(self.variables))[1:]
        port = args.index("--port") + 1
        readme_port, args[port] = args[port], "0"
        url, listening = self.start_server(*args)
        self.replacements[f":{readme_port}"] = f":{url.rsplit(':', 1)[1]}"
        return listening

    def once(self, command: str) -> str:
        """A pstnsim command that runs to its end (replay, trace): from the checkout, as the reader would."""
        args = shlex.split(command.split("#", 1)[0])
        result = subprocess.run([str(VENV / "bin" / "pstnsim"), *args[1:]], capture_output=True, text=True,
                                timeout=120, cwd=ROOT)
        assert result.returncode == 0, f"{command}: exit {result.returncode}\n{result.stdout}\n{result.stderr}"
        return result.stdout

    def make(self, command: str) -> str:
        # The venv running these tests as it is (-o: never reinstall); reports into tmp, not the checkout.
        args = shlex.split(command)[2:]
        args = [f"ARGS=--report-dir {self.tmp_path / 'reports'} {a[5:]}" if a.startswith("ARGS=") else a for a in args]
        result = subprocess.run(["make", "-s", "-C", str(ROOT), "-o", f"{VENV}/.installed", f"VENV={VENV}", "chaos",
                                 *args], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, f"{command}: exit {result.returncode}\n{result.stdout}\n{result.stderr}"
        return result.stdout


@pytest.mark.skipif(shutil.which("curl") is None or shutil.which("make") is None, reason="the tour uses curl and make")
def test_the_readme_tour_runs_as_written(pstnsim_server, tmp_path):
    tour = Tour(pstnsim_server, tmp_path)
    steps = steps_of(tour_lines((ROOT / "README.md").read_text()))
    assert any("_admin/reset" in s.command for s in steps) and any("INVALID_NUMBER" in e for s in steps for e in s.expected)
    assert any(s.command.startswith(".venv/bin/pstnsim replay ") for s in steps)
    for step in steps:
        output = tour.run(step)
        deadline = time.monotonic() + 10
        for expected in step.expected:
            missing = unmet(tour.localise(expected), output)
            while missing and expected.startswith("poll:") and time.monotonic() < deadline:
                time.sleep(0.05)  # poll with a deadline, as the README tells the reader to
                output = tour.run(step)
                missing = unmet(tour.localise(expected), output)
            assert not missing, f"{step.command}\n  README shows: {expected}\n  missing: {missing}\n  got: {output}"


def test_the_reading_of_expected_lines_is_strict_enough():
    """The checker itself: a differing value, status or header fails; "..." and prose do not."""
    output = 'HTTP/1.1 201 Created\nIdempotent-Replayed: true\n\n{"code": "OK", "n": 2, "x": null}'
    assert unmet('HTTP/1.1 201 Created, Idempotent-Replayed: true — prose', output) == []
    assert unmet('{"code": "OK", ..., "x": null}', output) == []
    assert unmet('HTTP/1.1 503 Service Unavailable   {"code": "OK"}', output) == ["HTTP/1.1 503 Service Unavailable"]
    assert unmet('{"code": "INVALID_NUMBER", "n": 2}', output) == ['"code": "INVALID_NUMBER"']
    assert unmet("HTTP/1.1 201 Created, Idempotent-Replayed: false", output) == ["Idempotent-Replayed: false"]
    assert unmet("pstnsim provider listening on http://127.0.0.1:1", output) == [
        "pstnsim provider listening on http://127.0.0.1:1"]
