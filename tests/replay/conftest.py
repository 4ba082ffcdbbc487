"""Shared by the replay tests: the planted-bug catalogue, the bundled samples, and the CLI as a subprocess."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path
from typing import Callable, Iterator

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "planted_bugs"))  # `import catalogue`
sys.path.insert(0, str(Path(__file__).parent))  # `import replay_samples`

# Runs `pstnsim replay ...` through the real CLI entry point, optionally with a planted bug applied first
# (argv[1]: the bug's name or "-"), and with Hypothesis made unimportable: a replay must not need it.
CLI_WITH_BUG = """
import sys
sys.modules["hypothesis"] = None
sys.path.insert(0, {planted!r})
import contextlib
bug = sys.argv[1]
if bug != "-":
    from catalogue import BY_NAME
    patches = BY_NAME[bug].applied()
else:
    patches = contextlib.nullcontext()
import argparse
from scenarios.replay import cli
parser = argparse.ArgumentParser(prog="pstnsim replay")
cli.add_arguments(parser)
with patches:
    sys.exit(cli.run(parser.parse_args(sys.argv[2:])))
"""


@pytest.fixture(autouse=True)
def quiet_core_logs() -> Iterator[None]:
    logging.getLogger("binding_core").setLevel(logging.CRITICAL)
    yield
    logging.getLogger("binding_core").setLevel(logging.NOTSET)


@pytest.fixture
def replay_cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    """`replay_cli(*args, bug="-")`: `pstnsim replay *args` in a subprocess, without Hypothesis."""
    script = CLI_WITH_BUG.format(planted=str(ROOT / "tests" / "planted_bugs"))

    def run(*args: str, bug: str = "-", timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", script, bug, *args], capture_output=True, text=True,
                              timeout=timeout, cwd=ROOT)

    return run


@pytest.fixture
def pstnsim() -> Callable[..., subprocess.CompletedProcess[str]]:
    """The installed console script, as a user runs it."""
    command = Path(sys.executable).with_name("pstnsim")

    def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(command), *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT)

    return run
