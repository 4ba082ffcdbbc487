"""`pstnsim replay --sut URL --provider-port P`: a service by URL (here `pstnsim core` in its own process)
pointed at the replay provider, driven in real time, offsets divided by --speed."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from replay_samples import SAMPLES

SAMPLE = next(p for p in SAMPLES if p.name.startswith("native"))
CORE_CONFIG = """
[provider]
timeout = 2.0
in_doubt_window = 5
[retry]
max_attempts = 5
base_delay = 0.5
max_delay = 8.0
alert_threshold = 3
[worker]
poll_interval = 1
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_service_by_url_replays_in_real_time_against_the_replay_provider(pstnsim, tmp_path: Path):
    provider_port = free_port()
    config = tmp_path / "core.toml"
    config.write_text(CORE_CONFIG)
    command = Path(sys.executable).with_name("pstnsim")
    core = subprocess.Popen([str(command), "core", "--provider-url", f"http://127.0.0.1:{provider_port}",
                             "--db", str(tmp_path / "core.db"), "--port", "0", "--config", str(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = core.stdout.readline()  # type: ignore[union-attr]
        assert "listening on http://" in line, line
        url = line.split("listening on ")[1].split()[0]
        done = pstnsim("replay", str(SAMPLE), "--sut", url, "--provider-port", str(provider_port), "--speed", "10",
                       "--report-dir", str(tmp_path), "--run-id", "sut")
    finally:
        core.terminate()
        core.wait(timeout=10)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "real time, service by URL" in done.stdout
    assert "the incident no longer reproduces (recorded: provider_agrees_at_each_end)" in done.stdout
    assert (tmp_path / "sut" / "report.html").is_file()
