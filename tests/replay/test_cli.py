"""`pstnsim replay` as a user runs it: the verdict line and the exit code (0 / 1 / 2), reports written,
bad input named by file and line without a traceback."""

from __future__ import annotations

import json
from pathlib import Path

from replay_samples import SAMPLES

SAMPLE = next(p for p in SAMPLES if p.name.startswith("aliyun"))


def test_the_bundled_core_no_longer_reproduces_the_incident_exit_0(replay_cli, tmp_path: Path):
    done = replay_cli(str(SAMPLE), "--report-dir", str(tmp_path), "--run-id", "r1")
    assert done.returncode == 0, done.stderr
    assert "the incident no longer reproduces (recorded: provider_agrees_at_each_end)" in done.stdout
    assert "Traceback" not in done.stderr
    folder = tmp_path / "r1"
    assert {p.name for p in folder.iterdir()} >= {"summary.json", "junit.xml", "report.html"}
    replay = json.loads((folder / "summary.json").read_text())["scenarios"][0]["replay"]
    assert replay["verdict"] == "no longer reproduces" and replay["steps"]
    # The fixed core sends different requests than the buggy one did: listed, not hidden.
    assert replay["unrecorded"] and all(call["unrecorded"] for call in replay["unrecorded"])
    assert "Calls the recording did not have" in (folder / "report.html").read_text()


def test_the_planted_bug_reproduces_exit_1(replay_cli, tmp_path: Path):
    done = replay_cli(str(SAMPLE), "--report-dir", str(tmp_path), "--quiet", bug="blind_resend")
    assert done.returncode == 1, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "reproduced: provider_agrees_at_each_end"
    assert "VIOLATION provider_agrees_at_each_end" in done.stdout


def test_a_truncated_trace_is_refused_naming_file_and_line_exit_2(pstnsim, tmp_path: Path):
    lines = SAMPLE.read_text().splitlines(keepends=True)
    cut = tmp_path / "cut.trace.jsonl"
    cut.write_text("".join(lines[:3]) + lines[3][: len(lines[3]) // 2])
    done = pstnsim("replay", str(cut), "--report-dir", str(tmp_path))
    assert done.returncode == 2
    assert f"{cut}:4: not valid JSON (the file looks truncated)" in done.stderr
    assert "Traceback" not in done.stderr


def test_usage_errors_exit_2(pstnsim, tmp_path: Path):
    missing = pstnsim("replay", str(tmp_path / "nope.jsonl"))
    assert missing.returncode == 2 and "no such trace file" in missing.stderr
    port = pstnsim("replay", str(SAMPLE), "--provider-port", "9000")
    assert port.returncode == 2 and "--provider-port only goes with --sut" in port.stderr
    speed = pstnsim("replay", str(SAMPLE), "--sut", "http://127.0.0.1:1", "--speed", "0")
    assert speed.returncode == 2 and "--speed must be a number > 0" in speed.stderr
    not_a_trace = tmp_path / "notes.jsonl"
    not_a_trace.write_text('{"hello": "world"}\n')
    wrong = pstnsim("replay", str(not_a_trace))
    assert wrong.returncode == 2 and f"{not_a_trace}:1: not a pstnsim trace" in wrong.stderr
    for done in (missing, port, speed, wrong):
        assert "Traceback" not in done.stderr


def test_a_service_that_does_not_answer_is_a_harness_error_exit_2(pstnsim, tmp_path: Path):
    done = pstnsim("replay", str(SAMPLE), "--sut", "http://127.0.0.1:9", "--provider-port", "0",
                   "--report-dir", str(tmp_path))
    assert done.returncode == 2
    assert "does not answer" in done.stderr and "Traceback" not in done.stderr
