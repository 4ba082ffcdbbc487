"""A chaos failure becomes a provider trace, and `pstnsim replay` of it reproduces the violation without
Hypothesis; with the planted bug removed it says the incident no longer reproduces."""

from __future__ import annotations

import json
from pathlib import Path

from catalogue import BY_NAME
from scenarios.events import EventBus
from scenarios.replay import ReplayOptions, replay_trace
from scenarios.reports import ReportFiles
from scenarios.runner import Runner, RunOptions
from simulator.traces.format import read_trace


def test_a_failing_chaos_example_is_written_as_a_trace_that_replay_reproduces(tmp_path: Path) -> None:
    bug = BY_NAME["blind_resend"]  # a bind re-sent after a ghost success (503, applied): a second binding
    with bug.applied():
        chaos = Runner(RunOptions(report_dir=tmp_path, run_id="chaos", shrink=False, examples=5, dialect="aliyun"),
                       EventBus([ReportFiles()])).run([bug.scenario])
    outcome = chaos.outcomes[0]
    violated = [r.name for r in outcome.results if r.status == "failed"]
    assert not chaos.passed and violated and not outcome.error

    path = tmp_path / "chaos" / "axb_ghost_success.failure.trace.jsonl"
    assert outcome.failure_trace == str(path)
    summary = json.loads((tmp_path / "chaos" / "summary.json").read_text())
    assert summary["scenarios"][0]["failure_trace"] == str(path)
    trace = read_trace(path)
    meta = trace.header.meta
    assert trace.header.recorder == "pstnsim chaos" and trace.header.dialects == ("aliyun",)
    assert meta["violated"] == violated and meta["seed"] == 7 and meta["scenario"] == "axb_ghost_success"
    assert meta["core"]["retry"]["max_attempts"] == 5  # the scenario's [core] table
    assert trace.business and {op.op for op in trace.business} <= {"bind", "unbind"}
    # Only the core's own calls on its wire: no harness probe (calls, number list, expiry) and no admin call.
    assert trace.exchanges and {x.dialect for x in trace.exchanges} == {"aliyun"}
    assert any(x.fault and "ghost_success" in x.fault for x in trace.exchanges)
    assert "pstnsim-secret" not in path.read_text()

    with bug.applied():
        again = replay_trace(path, ReplayOptions(report_dir=tmp_path, run_id="with-bug"))  # no Hypothesis here
    assert again.exit_code == 1
    assert set(again.violations) == set(violated)
    assert again.message().startswith("reproduced: ")
    assert again.comparison is not None and not again.comparison.unrecorded  # every call was in the recording

    fixed = replay_trace(path, ReplayOptions(report_dir=tmp_path, run_id="fixed"), EventBus([ReportFiles()]))
    assert fixed.exit_code == 0 and not fixed.violations
    assert fixed.message() == f"the incident no longer reproduces (recorded: {', '.join(violated)})"
    report = json.loads((tmp_path / "fixed" / "summary.json").read_text())["scenarios"][0]
    assert report["passed"] and report["replay"]["verdict"] == "no longer reproduces"


def test_a_crash_incident_replays_with_its_crashes(tmp_path: Path) -> None:
    """Recovery that skips what the dead process claimed: the trace carries the crash times, and the replay
    crashes and restarts the in-process core there."""
    bug = BY_NAME["recovery_skips_inflight"]
    with bug.applied():
        chaos = Runner(RunOptions(report_dir=tmp_path, run_id="chaos", shrink=False)).run([bug.scenario])
    outcome = chaos.outcomes[0]
    violated = {r.name for r in outcome.results if r.status == "failed"}
    assert violated and outcome.failure_trace
    assert read_trace(outcome.failure_trace).header.meta["crashes"]
    with bug.applied():
        again = replay_trace(outcome.failure_trace, ReplayOptions(report_dir=tmp_path, run_id="with-bug"))
    assert set(again.violations) == violated
    assert replay_trace(outcome.failure_trace, ReplayOptions(report_dir=tmp_path, run_id="fixed")).exit_code == 0


def test_a_vms_sdk_retry_incident_no_longer_reproduces_against_the_fixed_core(tmp_path: Path) -> None:
    """The fixed core settles the lost BindAXB by looking (QuerySubscriptionForList, not in the recording):
    the replay answers it from the ledger, which holds the binding the ghost success made in the provider's
    own pool, so the core finds it bound and the incident is gone."""
    bug = BY_NAME["trusts_sdk_retrying_bind"]
    with bug.applied():
        chaos = Runner(RunOptions(report_dir=tmp_path, run_id="chaos", shrink=False, examples=5,
                                  dialect="volcengine")).run([bug.scenario])
    outcome = chaos.outcomes[0]
    violated = [r.name for r in outcome.results if r.status == "failed"]
    assert violated and outcome.failure_trace
    assert read_trace(outcome.failure_trace).header.dialects == ("volcengine",)

    with bug.applied():
        again = replay_trace(outcome.failure_trace, ReplayOptions(report_dir=tmp_path, run_id="with-bug"))
    assert again.exit_code == 1 and set(again.violations) == set(violated)

    fixed = replay_trace(outcome.failure_trace, ReplayOptions(report_dir=tmp_path, run_id="fixed"))
    assert fixed.exit_code == 0 and not fixed.violations
    assert fixed.message() == f"the incident no longer reproduces (recorded: {', '.join(violated)})"
    assert fixed.comparison is not None
    looked = [s for s in fixed.comparison.unrecorded if s["action"] == "QuerySubscriptionForList"]
    assert looked  # the fix's own lookups, answered from the ledger
