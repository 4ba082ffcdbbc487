"""Each sample incident in examples/traces/ replays to its violation against the planted bug it was recorded
with, and passes against the bundled core."""

from __future__ import annotations

from pathlib import Path

import pytest

from catalogue import BY_NAME
from replay_samples import ROOT, SAMPLES
from scenarios.replay import ReplayOptions, replay_trace
from simulator.traces.format import read_trace


def test_there_is_an_incident_per_dialect_and_the_readme_names_each():
    dialects = {read_trace(path).header.dialects[0] for path in SAMPLES}
    assert dialects == {"native", "aliyun", "tencent"}
    readme = (ROOT / "examples" / "traces" / "README.md").read_text()
    for path in SAMPLES:
        assert path.name in readme


@pytest.mark.parametrize("path", SAMPLES, ids=[p.name for p in SAMPLES])
def test_the_sample_reproduces_against_its_planted_bug_and_passes_against_the_bundled_core(path: Path, tmp_path: Path):
    meta = read_trace(path).header.meta
    recorded = set(meta["violated"])
    with BY_NAME[meta["planted_bug"]].applied():
        buggy = replay_trace(path, ReplayOptions(report_dir=tmp_path, run_id="bug"))
    assert buggy.exit_code == 1 and set(buggy.violations) == recorded, buggy.message()
    assert buggy.comparison is not None and not buggy.comparison.unrecorded and not buggy.comparison.never_asked

    fixed = replay_trace(path, ReplayOptions(report_dir=tmp_path, run_id="fixed"))
    assert fixed.exit_code == 0, fixed.message()
    assert fixed.message().startswith("the incident no longer reproduces (recorded: ")
