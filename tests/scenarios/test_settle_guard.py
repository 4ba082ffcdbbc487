"""The wall-clock guard on the harness's in-process waits: a core that keeps the loop busy stops virtual time, so
only real time can end its settle. It is reported as a liveness violation (the service is not going quiet, with
what was still open), not a hang and not a harness error; a wait that ends by itself is untouched."""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import sys
from pathlib import Path

import looptime
import pytest

from scenarios.budget import BadWallGuard, WallGuardExpired, run_guarded, wall_guard_seconds
from scenarios.cli import main as pstnsim_main
from scenarios.runner import EXIT_VIOLATION, Runner, RunOptions
from scenarios.scenario_file import EXAMPLES_DIR

PLANTED = Path(__file__).resolve().parents[1] / "planted_bugs" / "catalogue.py"
# Real seconds: short, so the test is quick, yet above the longest wait of a correct core on a busy machine (under
# 2 s); the guard fires whatever the machine's speed (a spinning core never goes quiet), so no figure here is a
# timing assertion.
SHORT_GUARD = 5.0


def planted_bug(name: str):
    """A bug from the planted-bug catalogue (imported as the planted-bug tests import it: `catalogue`)."""
    module = sys.modules.get("catalogue")
    if module is None:
        spec = importlib.util.spec_from_file_location("catalogue", PLANTED)
        module = importlib.util.module_from_spec(spec)
        sys.modules["catalogue"] = module  # its dataclasses look their module up
        spec.loader.exec_module(module)
    return module.BY_NAME[name]


@pytest.fixture
def loop():
    loop = looptime.new_event_loop(noop_cycles=5)
    yield loop
    loop.close()


async def spin_forever() -> None:
    """What a core that retries at once does to a looptime loop: always ready, so the clock hardly moves."""
    while True:
        await asyncio.sleep(0)


async def spin_ignoring_cancellation() -> None:
    while True:
        try:
            await asyncio.sleep(0)
        except asyncio.CancelledError:
            continue


def test_a_wait_the_loop_never_lets_end_is_cut_by_the_guard(loop):
    with pytest.raises(WallGuardExpired) as expired:
        run_guarded(loop, spin_forever(), 0.2)
    assert expired.value.seconds == 0.2
    assert not [t for t in asyncio.all_tasks(loop) if not t.done()]  # the wait was cancelled, not left running


def test_a_wait_that_ignores_its_cancellation_is_still_ended(loop):
    with pytest.raises(WallGuardExpired):
        run_guarded(loop, spin_ignoring_cancellation(), 0.2, grace=0.2)


def test_a_long_virtual_wait_that_ends_by_itself_is_untouched(loop):
    async def an_hour_then(value: str) -> str:
        await asyncio.sleep(3600)  # virtual: looptime jumps the idle clock
        return value

    assert run_guarded(loop, an_hour_then("done"), 5.0) == "done"
    assert run_guarded(loop, an_hour_then("unguarded"), None) == "unguarded"


def test_the_guard_comes_from_the_option_else_the_environment_else_the_default(monkeypatch):
    monkeypatch.delenv("PSTNSIM_WALL_GUARD", raising=False)
    assert wall_guard_seconds(12.5) == 12.5
    assert wall_guard_seconds(0) is None  # off
    assert wall_guard_seconds() == 30.0
    monkeypatch.setenv("PSTNSIM_WALL_GUARD", "45")
    assert wall_guard_seconds() == 45.0
    monkeypatch.setenv("PSTNSIM_WALL_GUARD", "0")
    assert wall_guard_seconds() is None
    for bad in ("soon", "-1", "nan", "inf"):
        monkeypatch.setenv("PSTNSIM_WALL_GUARD", bad)
        with pytest.raises(BadWallGuard, match="PSTNSIM_WALL_GUARD|wall-clock guard"):
            wall_guard_seconds()


def test_the_cli_refuses_a_guard_that_is_not_a_number(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("PSTNSIM_WALL_GUARD", "soon")
    code = pstnsim_main(["chaos", "run", str(EXAMPLES_DIR / "breaker_defaults.toml"), "--report-dir", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err == ["pstnsim chaos run: PSTNSIM_WALL_GUARD='soon' is not a number of seconds"]


def test_the_cli_refuses_a_negative_wall_guard_option(tmp_path, capsys):
    code = pstnsim_main(["chaos", "run", str(EXAMPLES_DIR / "breaker_defaults.toml"), "--wall-guard", "-1",
                         "--report-dir", str(tmp_path)])
    assert code == 2
    assert "--wall-guard must be a number of seconds >= 0 (0 turns it off)" in capsys.readouterr().err


def test_a_core_that_spins_in_its_settle_is_a_liveness_violation_listing_what_was_open(tmp_path):
    """breaker_never_probes: once open the breaker admits nothing, and the core retries at once, forever. At seed 8
    a settle of its scenario never ended before the guard."""
    logging.getLogger("binding_core").setLevel(logging.CRITICAL)
    bug = planted_bug("breaker_never_probes")
    try:
        with bug.applied():
            result = Runner(RunOptions(seed=8, report_dir=tmp_path, shrink=False, dialect=bug.dialect,
                                       wall_guard=SHORT_GUARD)).run([bug.scenario])
    finally:
        logging.getLogger("binding_core").setLevel(logging.NOTSET)
    outcome = result.outcomes[0]
    assert result.exit_code == EXIT_VIOLATION and not outcome.error, outcome.error
    failed = [r for r in outcome.results if r.status == "failed"]
    assert [r.name for r in failed] == ["liveness"]
    violation = failed[0].violation
    assert violation.title == "service not going quiet"
    assert f"after {SHORT_GUARD:g} s of real time" in violation.message
    assert violation.details["wall_guard_seconds"] == SHORT_GUARD
    still_open = violation.details["operations"]
    assert still_open and all(op["state"] in ("pending", "running") for op in still_open)
    assert f"{len(still_open)} operation(s) still open" in violation.message
