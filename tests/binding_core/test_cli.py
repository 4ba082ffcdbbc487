"""`pstnsim core` refuses a bad config file by name before listening (the happy path runs in test_crash.py)."""

from __future__ import annotations

import subprocess
import sys


def test_an_unknown_config_key_stops_the_start_with_a_message_naming_it(tmp_path):
    config = tmp_path / "core.toml"
    config.write_text("[retry]\nmax_attempt = 3\n")
    result = subprocess.run(
        [sys.executable, "-m", "scenarios.cli", "core", "--provider-url", "http://127.0.0.1:9", "--db",
         str(tmp_path / "core.db"), "--config", str(config), "--port", "0"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert "max_attempt" in result.stderr and "core.toml" in result.stderr
    assert not (tmp_path / "core.db").exists()


def test_an_unknown_dialect_stops_the_start(tmp_path):
    config = tmp_path / "core.toml"
    config.write_text('[provider]\ndialect = "twilio"\n')
    result = subprocess.run(
        [sys.executable, "-m", "binding_core.cli", "--db", str(tmp_path / "core.db"), "--config", str(config),
         "--port", "0"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2 and "twilio" in result.stderr
    assert not (tmp_path / "core.db").exists()
