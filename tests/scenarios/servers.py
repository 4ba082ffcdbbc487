"""Real servers for the CLI tests: `pstnsim provider`, `pstnsim core` and examples/sut/mask_service.py, each a
process of its own on an ephemeral loopback port; and the installed `pstnsim` as a user runs it."""

from __future__ import annotations

import re
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import ContextManager, Iterator

ROOT = Path(__file__).resolve().parents[2]
PSTNSIM = Path(sys.executable).with_name("pstnsim")
MASK_SERVICE = ROOT / "examples" / "sut" / "mask_service.py"
URL = re.compile(r"listening on (http://127\.0\.0\.1:\d+)")


@contextmanager
def server(argv: list[str]) -> Iterator[str]:
    """Start a server, yield its URL once it prints it, stop it after."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    assert proc.stdout is not None
    try:
        for line in proc.stdout:  # blocks until the server prints its URL (or dies: then the loop ends)
            found = URL.search(line)
            if found:
                break
        else:
            proc.wait()
            raise AssertionError(f"{argv} did not start (exit {proc.returncode})")
        yield found.group(1)
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def provider(seed: int = 3) -> ContextManager[str]:
    return server([str(PSTNSIM), "provider", "--port", "0", "--seed", str(seed)])


def pstnsim(*args: str | Path, cwd: Path = ROOT, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """The installed console script, as a user runs it (output is not a terminal)."""
    return subprocess.run([str(PSTNSIM), *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=timeout)
