"""The guarantee's boundary: the core's in-doubt window must outlast the provider's request deadline.

late_landing holds creates for 3-25 s under the simulator's default 30 s deadline. Here the holds are
70-100 s and the scenario's [provider] table raises the deadline to 120 s, so a lost create can land up to
two minutes late: with the default 60 s window the harness finds the orphans; with a 150 s window it
finds none.
"""

from __future__ import annotations

import logging

import pytest

from scenarios.runner import Runner, RunOptions
from scenarios.scenario_file import EXAMPLES_DIR


@pytest.mark.parametrize(("window", "caught"), [(60, True), (150, False)], ids=["window-60s", "window-150s"])
def test_a_provider_deadline_beyond_the_cores_window_leaves_orphans_the_harness_finds(tmp_path, window, caught):
    logging.getLogger("binding_core").setLevel(logging.CRITICAL)
    text = (EXAMPLES_DIR / "late_landing.toml").read_text()
    held = "action = { kind = \"latency\", distribution = \"uniform\", min = 3.0, max = 25.0 }"
    assert held in text
    text = text.replace(held, held.replace("min = 3.0, max = 25.0", "min = 70.0, max = 100.0"))
    text = text.replace("provider = { timeout = 2.0,", f"provider = {{ in_doubt_window = {window}, timeout = 2.0,")
    text += "\n[provider]\nrequest_deadline = 120\n"
    path = tmp_path / "late_past_window.toml"
    path.write_text(text)
    result = Runner(RunOptions(report_dir=tmp_path, shrink=False)).run([path])
    outcome = result.outcomes[0]
    assert not outcome.error, outcome.error
    failed = {r.name for r in outcome.results if r.status == "failed"}
    if caught:
        assert "no_orphan_or_duplicate" in failed or "xb_matches_provider" in failed or "axb_matches_provider" in failed, failed
    else:
        assert result.passed, failed
