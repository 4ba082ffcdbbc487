"""`pstnsim chaos run`: exit codes, bad input, and a failure that replays exactly from its printed command."""

from __future__ import annotations

import json
import logging
import shlex
import sys
from pathlib import Path

import pytest

from scenarios.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "scenarios" / "examples"
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "planted_bugs"))


@pytest.fixture(autouse=True)
def quiet_core_logs():
    logging.getLogger("binding_core").setLevel(logging.CRITICAL)
    yield
    logging.getLogger("binding_core").setLevel(logging.NOTSET)


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["chaos", "run", "nope.toml"], "no such scenario file"),
        (["chaos", "run", "--sut", "http://127.0.0.1:1"], "--sut needs --provider-url"),
        (["chaos", "run", "--provider-url", "http://127.0.0.1:1"], "only goes with --sut"),
        (["chaos", "run", "--examples", "0"], "--examples must be >= 1"),
        (["chaos", "run", "--check", "nope"], "unknown check 'nope'"),
        (["chaos", "run", "--replay", "garbage"], "--replay takes the BLOB"),
    ],
)
def test_bad_input_exits_2_naming_the_problem(argv, needle, capsys):
    assert main(argv) == 2
    assert needle in capsys.readouterr().err


def test_invalid_scenario_file_exits_2(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('[workload]\nmodes = ["XC"]\n')
    assert main(["chaos", "run", str(bad), "--report-dir", str(tmp_path)]) == 2
    assert "modes" in capsys.readouterr().err


def test_list_names_scenarios_and_checks(capsys):
    assert main(["chaos", "list"]) == 0
    out = capsys.readouterr().out
    assert "xb_storm_5xx" in out and "linearizable" in out
    assert "sweep_race.toml  [aliyun]" in out, "each bundled scenario says the wire it runs over"


def test_a_failure_prints_one_command_that_replays_the_minimal_sequence(tmp_path, capsys):
    from catalogue import BY_NAME

    # Few steps per example keep the shrink (the slow part) short.
    with BY_NAME["no_operation_state"].applied():
        code = main(["chaos", "run", str(EXAMPLES / "xb_axb_same_x_timeouts.toml"), "--steps", "6",
                     "--report-dir", str(tmp_path), "--run-id", "first", "--quiet"])
        assert code == 1
        summary = json.loads((tmp_path / "first" / "summary.json").read_text())
        violation = summary["scenarios"][0]["violations"][0]
        command = violation["replay_command"]
        assert "--replay" in command and violation["steps"], violation
        assert any(line.startswith("state.") for line in violation["steps"])
        html = (tmp_path / "first" / "report.html").read_text()
        assert command.replace("'", "&#x27;") in html or shlex.quote(command) in html or "--replay" in html

        argv = shlex.split(command)
        assert argv[:3] == ["pstnsim", "chaos", "run"]
        code = main(argv[1:] + ["--report-dir", str(tmp_path), "--run-id", "replayed", "--quiet"])
        assert code == 1
        replayed = json.loads((tmp_path / "replayed" / "summary.json").read_text())["scenarios"][0]
    assert replayed["violations"][0]["check"] == violation["check"]
    assert replayed["violations"][0]["details"] == violation["details"]
    assert replayed["examples"] == 1, "a replay runs exactly the one failing example"


def test_the_documented_ci_recipe_uses_flags_the_cli_accepts():
    import argparse
    import re

    import yaml

    from scenarios import chaos_cli

    workflow = yaml.safe_load((EXAMPLES.parents[1] / "examples" / "ci" / "github-actions.yml").read_text())
    commands = [step.get("run", "") for job in workflow["jobs"].values() for step in job["steps"]]
    chaos = next(c for c in commands if re.match(r"(\.venv/bin/)?pstnsim chaos run", c))
    args = chaos.split(" chaos run", 1)[1].replace("${{ github.run_id }}", "1")
    parser = argparse.ArgumentParser()
    chaos_cli.add_arguments(parser)
    parsed = parser.parse_args(["run", *shlex.split(args)])
    assert parsed.seed == 7 and str(parsed.report_dir) == "reports"
    assert any("upload-artifact" in str(step.get("uses")) for step in workflow["jobs"]["chaos"]["steps"])
