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


# A core that gives up fast: three attempts, short backoff, an alert after two failures.
FAST_CORE_TOML = ("[retry]\nmax_attempts = 3\nbase_delay = 0.05\nmax_delay = 0.2\nalert_threshold = 2\n"
                  "[provider]\ntimeout = 1.0\n[worker]\npoll_interval = 0.2\n")


@contextmanager
def provider_and_core(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A provider and the bundled core (FAST_CORE_TOML) against it, both by URL; yields (provider, core) URLs."""
    config = tmp_path / "core.toml"
    config.write_text(FAST_CORE_TOML)
    with provider() as provider_url, server([str(PSTNSIM), "core", "--provider-url", provider_url,
                                             "--db", str(tmp_path / "core.db"), "--config", str(config),
                                             "--port", "0", "--log-level", "ERROR"]) as core_url:
        yield provider_url, core_url


def pstnsim(*args: str | Path, cwd: Path = ROOT, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """The installed console script, as a user runs it (output is not a terminal)."""
    return subprocess.run([str(PSTNSIM), *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=timeout)
