"""Exit codes as the README's commands deliver them: the CI gate gets pstnsim's own 0/1/2, `make chaos` says
which one make hid, and `make bench`'s harness-power figure exits 0 whatever it caught."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(sys.executable).parent.parent


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_chaos_says_the_exit_code_of_pstnsim_that_make_turns_into_2(tmp_path):
    # -o: use the venv running these tests as it is, never reinstall it.
    result = subprocess.run(
        ["make", "-s", "-C", str(ROOT), "-o", f"{VENV}/.installed", f"VENV={VENV}", "chaos",
         f"ARGS={tmp_path / 'no_such_scenario.toml'}"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert "no_such_scenario.toml" in result.stderr
    assert "make chaos: pstnsim exited 2" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_ci_recipe_gates_on_pstnsim_itself_not_through_make():
    workflow = yaml.safe_load((ROOT / "examples" / "ci" / "github-actions.yml").read_text())
    commands = [step.get("run", "") for step in workflow["jobs"]["chaos"]["steps"]]
    assert not any("make chaos" in command for command in commands), "make would turn a violation's 1 into 2"
    setup = commands.index("make setup")
    gate = next(i for i, c in enumerate(commands) if re.match(r"\.venv/bin/pstnsim chaos run\b", c))
    assert setup < gate
    dry_run = subprocess.run(["make", "-n", "-C", str(ROOT), "setup"], capture_output=True, text=True, timeout=60) \
        if shutil.which("make") else None
    assert dry_run is None or dry_run.returncode == 0, dry_run.stderr


def test_harness_power_exits_0_and_lists_a_missed_bug_as_a_figure(monkeypatch, capsys):
    spec = importlib.util.spec_from_file_location("harness_power", ROOT / "benchmarks" / "harness_power.py")
    harness_power = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(harness_power)
    first, second = (bug.name for bug in harness_power.BUGS[:2])
    # The first bug is caught, the second missed: what the figures say, without running the harness.
    monkeypatch.setattr(harness_power, "catch", lambda name, seed, report_dir: (name == first, 0.5, []))
    monkeypatch.setattr(sys, "argv", ["harness_power.py", "--seeds", "7", "--bug", first, "--bug", second])
    assert harness_power.main() == 0
    out = capsys.readouterr().out
    assert re.search(rf"{second}\s+seed 7\s+MISSED", out)
    assert "caught 1/2 planted bugs" in out
    assert f"missed: {second} (seed 7)" in out
