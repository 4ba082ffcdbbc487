"""A seed fixes the run: the same scenario at the same seed draws the same steps, whatever code is loaded around it."""

from __future__ import annotations

import importlib.util
import logging
import sys

from scenarios.runner import Runner, RunOptions
from scenarios.scenario_file import load_scenario

SEED = 7


# Gray switches over 8 numbers draw a mask in 0..255: Hypothesis mixes the project's own literals >= 100 into such
# draws unless the harness turns that off (scenarios/determinism.py).
SCENARIO = """
name = "gray_many_numbers"
[workload]
modes = ["XB"]
numbers = 8
gray = "switch"
fault_kinds = ["status"]
[core]
retry = { max_attempts = 3, base_delay = 0.5, max_delay = 4.0, alert_threshold = 2 }
[run]
checks = ["xb_matches_provider", "no_orphan_or_duplicate"]  # the draws are compared, not the core
[budget]
examples = 10
steps = 20
"""


def _drawn(tmp_path, name: str) -> list[tuple[int, str, str]]:
    path = tmp_path / "gray_many_numbers.toml"
    path.write_text(SCENARIO)
    scenario = load_scenario(path)
    runner = Runner(RunOptions(seed=SEED, report_dir=tmp_path / name, shrink=False,
                               record_draws=True))
    outcome, log = runner.run_scenario(scenario)
    assert outcome.passed, outcome.error or outcome.results
    assert log.drawn is not None
    return log.drawn


def _load_unrelated_module(tmp_path, monkeypatch) -> None:
    """A project module the run never uses, full of literals (what an unrelated commit adds)."""
    source = tmp_path / "unrelated_code.py"
    source.write_text("\n".join(f"VALUE_{n} = {n}\nNAME_{n} = 'literal-{n}'" for n in range(100, 256)))
    spec = importlib.util.spec_from_file_location("unrelated_code", source)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "unrelated_code", module)
    spec.loader.exec_module(module)


def test_same_seed_draws_the_same_steps_even_after_unrelated_code_is_loaded(tmp_path, monkeypatch):
    logging.getLogger("binding_core").setLevel(logging.CRITICAL)
    first = _drawn(tmp_path, "first")
    _load_unrelated_module(tmp_path, monkeypatch)
    second = _drawn(tmp_path, "second")
    assert len(first) > 20, "the run must draw enough steps to compare"
    assert first == second, next(f"step {i}: {a} then {b}" for i, (a, b) in enumerate(zip(first, second)) if a != b) \
        if len(first) == len(second) else f"{len(first)} steps drawn, then {len(second)}"


DIGEST = """
import hashlib, logging, sys, tempfile
from pathlib import Path
from scenarios.runner import Runner, RunOptions
from scenarios.scenario_file import load_scenario
logging.getLogger("binding_core").setLevel(logging.CRITICAL)
with tempfile.TemporaryDirectory() as tmp:
    runner = Runner(RunOptions(seed=7, report_dir=Path(tmp), examples=3, steps=8, shrink=False, record_draws=True))
    outcome, log = runner.run_scenario(load_scenario(sys.argv[1]))
print(len(log.drawn), hashlib.sha256(repr(log.drawn).encode()).hexdigest(), outcome.verdict)
"""


def test_another_process_with_another_hash_seed_draws_the_same_steps(tmp_path):
    """String hashing (set and dict-of-set order) differs between processes; what a seed draws must not."""
    import os
    import subprocess

    path = tmp_path / "gray_many_numbers.toml"
    path.write_text(SCENARIO)
    digests = []
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        done = subprocess.run([sys.executable, "-c", DIGEST, str(path)], env=env, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stderr
        digests.append(done.stdout.split())
    assert int(digests[0][0]) > 5 and digests[0][2] == "passed", digests
    assert digests[0] == digests[1]
