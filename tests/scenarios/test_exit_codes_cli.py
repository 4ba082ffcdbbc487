"""`pstnsim chaos run` exits 0 (every check held), 1 (a check violated), 2 (usage or harness error, or a vacuous
run), 130 (Ctrl-C, with a partial report); a harness error's cause is the last thing printed. The installed
`pstnsim` runs as a subprocess."""

from __future__ import annotations

import json
import signal
import subprocess

from scenarios.scenario_file import EXAMPLES_DIR

from servers import PSTNSIM, ROOT, provider, pstnsim

READS_ONLY = """
name = "reads_only"
description = "Reads and nothing else: no check can find anything."
[workload]
modes = ["XB"]
numbers = 1
parties = 2
mix = { read = 1 }
[budget]
examples = 3
steps = 5
"""


def last_line(text: str) -> str:
    return [line for line in text.splitlines() if line.strip()][-1]


def test_a_service_that_does_not_answer_is_a_harness_error_named_last(tmp_path):
    with provider() as provider_url:
        done = pstnsim("chaos", "run", EXAMPLES_DIR / "xb_storm_5xx.toml", "--sut", "http://127.0.0.1:9",
                       "--provider-url", provider_url, "--report-dir", tmp_path, "--run-id", "down")
    assert done.returncode == 2, done.stdout
    assert "service under test at http://127.0.0.1:9 does not answer" in last_line(done.stdout)
    assert "reproduce_failure" not in done.stdout + done.stderr and "Traceback" not in done.stderr
    summary = json.loads((tmp_path / "down" / "summary.json").read_text())
    assert summary["exit_code"] == 2 and summary["scenarios"][0]["verdict"] == "harness error"
    assert "does not answer" in summary["scenarios"][0]["error"]


def test_a_provider_that_is_not_one_is_a_harness_error(tmp_path):
    done = pstnsim("chaos", "run", EXAMPLES_DIR / "xb_storm_5xx.toml", "--sut", "http://127.0.0.1:9",
                   "--provider-url", "http://127.0.0.1:9", "--report-dir", tmp_path, "--run-id", "none")
    assert done.returncode == 2 and "provider at http://127.0.0.1:9 does not answer" in last_line(done.stdout)


def test_a_run_that_checked_nothing_is_vacuous_not_passed(tmp_path):
    scenario = tmp_path / "reads_only.toml"
    scenario.write_text(READS_ONLY)
    done = pstnsim("chaos", "run", scenario, "--report-dir", tmp_path, "--run-id", "vacuous")
    assert done.returncode == 2, done.stdout
    assert "vacuous" in last_line(done.stdout) and "no bind or unbind" in last_line(done.stdout)
    summary = json.loads((tmp_path / "vacuous" / "summary.json").read_text())
    assert summary["passed"] is False and summary["scenarios"][0]["verdict"] == "vacuous"


def test_ctrl_c_writes_a_partial_report_marked_interrupted_and_exits_130(tmp_path):
    proc = subprocess.Popen([str(PSTNSIM), "chaos", "run", "--examples", "1000", "--report-dir", str(tmp_path),
                             "--run-id", "cut"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:  # the first progress line after an example ran: then Ctrl-C
        seen.append(line)
        if "1/1000 examples" in line:
            break
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, "".join(seen) + out + err
    assert "Traceback" not in err and "INTERRUPTED" in out
    summary = json.loads((tmp_path / "cut" / "summary.json").read_text())
    assert summary["interrupted"] is True and summary["exit_code"] == 130 and summary["passed"] is False
    first = summary["scenarios"][0]
    assert first["verdict"] == "interrupted" and first["examples"] >= 1
    assert len(summary["scenarios"]) == 1, "scenarios after the interrupted one did not start"
    html = (tmp_path / "cut" / "report.html").read_text()
    assert "INTERRUPTED" in html and "exit code 130" in html
    junit = (tmp_path / "cut" / "junit.xml").read_text()
    assert 'name="interrupted"' in junit and "<skipped" in junit
