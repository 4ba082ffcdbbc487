"""--time-budget ends the search, shrinking ends before Hypothesis's own limit, and the terminal shows an
estimate and prints commands whole."""

from __future__ import annotations

import io
import time

import pytest
from rich.console import Console

from scenarios.budget import MAX_SHRINK_SECONDS, SearchBudget, StopSearch
from scenarios.events import (
    CheckFailed, EventBus, ExampleDone, RunFinished, RunStarted, ScenarioFinished, ScenarioStarted,
)
from scenarios.reports.terminal import TerminalReport, estimate_left
from scenarios.runner import Runner, RunOptions
from scenarios.scenario_file import EXAMPLES_DIR


def test_a_spent_budget_stops_the_search_and_ends_shrinking_early():
    budget = SearchBudget(seconds=0.0)
    budget.start()
    assert budget.before_example() is False  # the first example runs whatever the budget: a run checks something
    with pytest.raises(StopSearch, match="time budget"):
        budget.before_example()
    shrinking = SearchBudget(seconds=60.0)
    shrinking.start()
    assert shrinking.before_example() is False  # within the budget: the example runs for real
    shrinking.failure()
    assert shrinking.before_example() is False  # shrinking has time left
    shrinking.failed_at = time.perf_counter() - 61.0  # a failure found a minute ago: shrinking is over
    assert shrinking.before_example() is True  # later examples only draw; the failure found is kept
    assert MAX_SHRINK_SECONDS < 300, "Hypothesis warns its maintainers after 300 s of shrinking"


def test_a_time_budget_bounds_an_in_process_run(tmp_path):
    result = Runner(RunOptions(report_dir=tmp_path, time_budget=1.0)).run([EXAMPLES_DIR / "xb_storm_5xx.toml"])
    outcome = result.outcomes[0]
    assert result.passed and "time budget" in outcome.note, outcome.note  # the budget, not the file's, ended it


def test_the_estimate_comes_from_the_pace_and_the_budget():
    assert estimate_left(done=2, total=10, elapsed=4.0, budget=None) == 16.0
    assert estimate_left(done=2, total=10, elapsed=4.0, budget=6.0) == 2.0
    assert estimate_left(done=0, total=None, elapsed=1.0, budget=None) is None


def test_a_narrow_terminal_keeps_the_replay_command_whole_and_the_harness_cause_last():
    out = io.StringIO()
    terminal = TerminalReport(Console(file=out, width=40, force_terminal=True, color_system=None), quiet=False)
    command = "pstnsim chaos run scenarios/examples/xb_storm_5xx.toml --seed 7 --dialect native --replay " + "A" * 90
    bus = EventBus([terminal])
    bus.emit(RunStarted(0.0, "r", 7, ("a", "b"), "in-process", "reports/r"))
    bus.emit(ScenarioStarted(0.0, "a", 7, "", 4, 10))
    bus.emit(ExampleDone(1.0, "a", 0, 10, 5.0))
    bus.emit(CheckFailed(1.0, "a", "linearizable", "d", "title", "message", {}, (), command))
    bus.emit(ScenarioFinished(2.0, "a", 7, False, 1, 10, 5.0, 2.0, {}, verdict="violated"))
    bus.emit(ScenarioStarted(2.0, "b", 7, "", 4, 10))
    bus.emit(ScenarioFinished(2.1, "b", 7, False, 0, 0, 0.0, 0.1, {}, error="Traceback...\nthe provider is gone",
                              verdict="harness error"))
    bus.emit(RunFinished(3.0, "r", False, 2, 1, 3.0, 5.0, "reports/r", harness_errors=1, exit_code=1))
    lines = out.getvalue().splitlines()
    assert command in lines
    assert lines[-1].endswith("the provider is gone")
