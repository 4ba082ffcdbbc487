"""Blind spots the mutation benchmark found in what the core answers: a harness error's real cause is reported
(not an AttributeError from the machine's own bookkeeping)."""

from __future__ import annotations

from unittest import mock

from scenarios.driver import Driver
from scenarios.runner import Runner, RunOptions
from scenarios.scenario_file import EXAMPLES_DIR


def test_a_harness_error_while_reading_the_starting_state_is_reported_with_its_cause(tmp_path):
    async def unreadable(self, xs):  # type: ignore[no-untyped-def]
        raise RuntimeError("the starting state is unreadable")

    with mock.patch.object(Driver, "record_initial", unreadable):
        result = Runner(RunOptions(report_dir=tmp_path, shrink=False, examples=1, steps=3)).run(
            [EXAMPLES_DIR / "xb_storm_5xx.toml"])
    outcome = result.outcomes[0]
    assert result.exit_code == 2 and outcome.verdict == "harness error"
    last = [line for line in outcome.error.splitlines() if line.strip()][-1]
    assert last == "RuntimeError: the starting state is unreadable", outcome.error
    assert "t0" not in outcome.error
