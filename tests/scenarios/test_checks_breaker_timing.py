"""The breaker, retry-gap and refusal checks over hand-built observations: each fails on the defect's data and
passes on a correct core's; then each catches its planted bug in the default suite."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

from scenarios.checkers import NotApplicable, Observation, RetryPolicy, Violation
from scenarios.checkers.breaker import breaker_opens_after_threshold
from scenarios.checkers.refusals import no_spurious_refusal
from scenarios.checkers.timing import retry_gaps_within_policy
from scenarios.history import History, Outcome

EPOCH = 1_000_000.0  # the core's clock at loop time 0
POLICY = RetryPolicy(max_attempts=8, alert_threshold=6, provider_timeout=2.0, max_delay=10.0, in_doubt_window=12.0,
                     base_delay=1.0, backoff_cap=2.0, breaker_threshold=3, breaker_cooldown=10.0, lease=9.0)


def call(at: float, status: int = 200, *, operation: str = "create_binding", key: str | None = None,
         x: str = "X1", mode: str = "XB", latency: float = 0.0) -> dict:
    return {"seq": int(at * 1000), "at": at, "latency": latency, "operation": operation, "x": x, "mode": mode,
            "binding_id": None, "key": key, "status": status, "fault": None if status < 400 else f"status:{status}"}


# ---- breaker ------------------------------------------------------------------------------------


def breaker_obs(outcomes: list[tuple[float, bool]], refusals: list[float], sent: list[float] | None = None) -> Observation:
    """`outcomes`: (when the call ended, failed) in order; each call takes 0.1 s. `sent`: extra journal arrivals."""
    told = [(end - 0.1, end, failed) for end, failed in outcomes]
    wire = [call(start, 503 if failed else 201) for start, _, failed in told] + [call(s) for s in sent or []]
    return Observation(now=500.0, policy=POLICY, wire_calls=sorted(wire, key=lambda c: c["at"]),
                       breaker_refusals=refusals, breaker_calls=told, core_epoch=EPOCH)


def test_breaker_check_passes_a_breaker_that_opens_on_the_third_consecutive_failure_and_probes():
    outcomes = [(1.0, True), (2.0, False), (3.0, True), (4.0, True), (5.0, True), (15.5, True), (26.0, False)]
    # Open from 5.0; refusals while open, the probe at 15.4 fails (open again until 25.5), the probe at 25.9 succeeds.
    assert breaker_opens_after_threshold(breaker_obs(outcomes, [6.0, 14.0, 20.0, 25.0])) is None


def test_breaker_check_fails_a_breaker_that_counts_failures_across_a_success():
    outcomes = [(1.0, True), (2.0, True), (3.0, False), (4.0, True)]  # never three in a row
    with pytest.raises(Violation, match="refused too early"):
        breaker_opens_after_threshold(breaker_obs(outcomes, [5.0]))


def test_breaker_check_fails_a_breaker_that_lets_no_probe_through_after_its_cooldown():
    outcomes = [(1.0, True), (2.0, True), (3.0, True)]
    with pytest.raises(Violation, match="no probe after the cool-down"):
        breaker_opens_after_threshold(breaker_obs(outcomes, [4.0, 20.0]))


def test_breaker_check_fails_a_call_sent_while_the_circuit_is_open():
    outcomes = [(1.0, True), (2.0, True), (3.0, True)]
    with pytest.raises(Violation, match="call sent while the circuit was open"):
        breaker_opens_after_threshold(breaker_obs(outcomes, [], sent=[6.0]))


def test_a_restarted_core_starts_with_a_closed_breaker():
    outcomes = [(1.0, True), (2.0, True), (3.0, True)]
    obs = breaker_obs(outcomes, [], sent=[6.0])
    obs.crashes = [(4.0, 1.0)]  # killed at 4, up again at 5: its new breaker has counted nothing
    assert breaker_opens_after_threshold(obs) is not None  # passes, noting it never refused


def test_breaker_check_is_skipped_without_the_services_refusals():
    obs = breaker_obs([(1.0, True)], [])
    obs.breaker_refusals = None
    obs.unavailable["breaker_refusals"] = "not observable from outside it"
    with pytest.raises(NotApplicable, match="not observable"):
        breaker_opens_after_threshold(obs)


# ---- retry gaps ------------------------------------------------------------------------------------


def operation(op_id: str, kind: str = "bind", *, created: float = 0.0, finished: float | None = 100.0,
              state: str = "done", origin: str | None = None) -> dict:
    return {"id": op_id, "operation_id": op_id, "x": "X1", "mode": "XB", "kind": kind, "state": state,
            "path": "async", "created_at": EPOCH + created, "finished_at": None if finished is None else EPOCH + finished,
            "origin": origin, "attempts": 0}


def timing_obs(calls: list[dict], operations: list[dict]) -> Observation:
    told = [(c["at"], c["at"] + c["latency"], c["status"] >= 500) for c in calls]
    return Observation(now=500.0, policy=POLICY, wire_calls=calls, operations=operations, breaker_calls=told,
                       breaker_refusals=[], core_epoch=EPOCH)


def keyed(at: float, status: int, op_id: str = "op_00000001") -> dict:
    return call(at, status, key=f"core-abc-{op_id}")


def test_retry_gaps_within_the_cap_pass():
    calls = [keyed(1.0, 503), keyed(2.5, 503), keyed(4.4, 503), keyed(6.0, 201)]
    assert retry_gaps_within_policy(timing_obs(calls, [operation("op_00000001")])) is None


def test_a_retry_gap_past_the_cap_fails():
    calls = [keyed(1.0, 503), keyed(2.5, 503), keyed(9.0, 201)]  # 6.5 s after a failure, the cap is 2 s
    with pytest.raises(Violation, match="longer than max_delay=2"):
        retry_gaps_within_policy(timing_obs(calls, [operation("op_00000001")]))


def test_a_long_gap_across_a_crash_is_legal():
    calls = [keyed(1.0, 503), keyed(9.0, 201)]
    obs = timing_obs(calls, [operation("op_00000001")])
    obs.crashes = [(2.0, 1.0)]  # the claim waits out the dead process's lease
    assert "no retry gap" in retry_gaps_within_policy(obs)  # passed: that gap is not the backoff's


def test_a_sweep_that_looks_before_the_doubt_has_passed_fails():
    bind = [keyed(1.0, 503), keyed(2.0, 201)]  # the first create was lost: in doubt until 1 + 12 = 13
    look = call(2.5, operation="list_bindings")
    ops = [operation("op_00000001", finished=2.0), operation("op_00000002", "sweep", created=2.0, finished=3.0,
                                                             origin="op_00000001")]
    with pytest.raises(Violation, match="sweep\\(s\\) that looked before"):
        retry_gaps_within_policy(timing_obs([*bind, look], ops))


def test_a_sweep_that_looks_once_the_doubt_has_passed_passes():
    bind = [keyed(1.0, 503), keyed(2.0, 201)]
    look = call(13.2, operation="list_bindings")
    ops = [operation("op_00000001", finished=2.0), operation("op_00000002", "sweep", created=2.0, finished=14.0,
                                                             origin="op_00000001")]
    assert retry_gaps_within_policy(timing_obs([*bind, look], ops)) is None


# ---- refusals --------------------------------------------------------------------------------------


def refusal_obs(xb_transitions: list[tuple[float, str, str]], axb_transitions: list[tuple[float, str, str]]) -> Observation:
    """An AXB bind on X1 answered 409 between loop times 10 and 10.1."""
    history = History()
    op = history.invoke("X1", "AXB", "bind", ("A", "B"), 10.0)
    op.detail = "409 STATE_CONFLICT"
    history.complete(op, Outcome.FAIL, 10.1)
    transitions = [{"x": "X1", "mode": mode, "from": f, "to": t, "at": EPOCH + at, "version": 1}
                   for mode, rows in (("XB", xb_transitions), ("AXB", axb_transitions)) for at, f, t in rows]
    return Observation(now=50.0, history=history, transitions=transitions, operations=[], core_epoch=EPOCH)


def test_an_axb_refused_because_of_the_xb_rows_state_is_spurious():
    obs = refusal_obs([(5.0, "NOT_BIND", "OPERATION"), (20.0, "OPERATION", "BIND")], [])
    with pytest.raises(Violation, match="spurious refusal"):
        no_spurious_refusal(obs)


def test_an_axb_refused_while_its_own_mode_is_in_operation_is_legal():
    obs = refusal_obs([], [(5.0, "NOT_BIND", "OPERATION"), (20.0, "OPERATION", "BIND")])
    assert no_spurious_refusal(obs) is None


def test_the_refusal_check_is_skipped_when_the_clocks_are_not_tied():
    obs = refusal_obs([], [])
    obs.core_epoch = None
    with pytest.raises(NotApplicable, match="clock"):
        no_spurious_refusal(obs)


# ---- the planted bugs, each caught by its own check in the default suite (default seed) ----------------

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "planted_bugs"))


@pytest.mark.parametrize("bug, check", [
    ("breaker_counts_scattered_failures", "breaker_opens_after_threshold"),
    ("breaker_never_probes", "breaker_opens_after_threshold"),
    ("backoff_ignores_cap", "retry_gaps_within_policy"),
    ("sweep_without_delay", "retry_gaps_within_policy"),
    ("axb_refused_by_xb_state", "no_spurious_refusal"),
])
def test_the_planted_bug_is_caught_by_its_check(bug, check, tmp_path):
    from catalogue import BY_NAME
    from scenarios.runner import Runner, RunOptions

    logging.getLogger("binding_core").setLevel(logging.CRITICAL)
    planted = BY_NAME[bug]
    try:
        with planted.applied():
            result = Runner(RunOptions(report_dir=tmp_path, shrink=False, dialect=planted.dialect,
                                       checks=(check,))).run([planted.scenario])
    finally:
        logging.getLogger("binding_core").setLevel(logging.NOTSET)
    outcome = result.outcomes[0]
    assert not outcome.error, outcome.error
    assert [r.name for r in outcome.results if r.status == "failed"] == [check]
