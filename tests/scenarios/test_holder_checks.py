"""one_holder_at_a_time and no_call_after_settle on small hand-built observations: each fails on the data a
replica bug leaves in the provider's journal and passes on what a correct cluster leaves, including a holder
stopped past its lease that finishes its attempt."""

from __future__ import annotations

from scenarios.checkers import CHECKS, Observation, RetryPolicy, run_checks
from scenarios.history import History, Outcome

X = "17100000001"
POLICY = RetryPolicy(max_attempts=4, alert_threshold=2, provider_timeout=2.0, max_delay=4.0, lease=9.0)
PREFIX = "core-0123456789abcdef-18f"


def result(name: str, obs: Observation):
    (outcome,) = run_checks(obs, CHECKS.select([name]))
    return outcome


def call(op: str, at: float, latency: float, *, operation: str = "create_binding", status: int | None = 200,
         suffix: str = "") -> dict:
    return {"at": at, "end": at + latency, "operation": operation, "key": f"{PREFIX}-{op}{suffix}",
            "status": status, "x": X}


def obs(calls, *, crashes=(), history=None, policy=POLICY) -> Observation:
    return Observation(now=100.0, write_calls=calls, policy=policy, crashes=list(crashes), history=history)


# ---- one_holder_at_a_time ------------------------------------------------------------------------


def test_calls_one_after_another_pass():
    calls = [call("op_00000001", 1.0, 1.5, status=503), call("op_00000001", 3.0, 0.2),
             call("op_00000002", 1.2, 0.3), call("op_00000001", 4.0, 0.1, operation="delete_binding",
                                                  suffix="-dup-b9")]
    outcome = result("one_holder_at_a_time", obs(calls))
    assert outcome.status == "passed", outcome.violation
    assert "none two at once" in outcome.reason


def test_two_calls_of_one_operation_in_flight_at_once_fail():
    # A second replica took the operation while the first one's slow create was still at the provider.
    calls = [call("op_00000007", 10.0, 1.5), call("op_00000007", 10.6, 0.9)]
    outcome = result("one_holder_at_a_time", obs(calls))
    assert outcome.status == "failed"
    (overlap,) = outcome.violation.details["overlaps"]
    assert overlap["operation_id"] == "op_00000007" and overlap["overlap"] == 0.9


def test_a_retry_after_the_core_gave_up_on_a_held_call_is_not_an_overlap():
    # The provider held the first create for 5 s; the core gave up after its 2 s timeout and retried at once.
    calls = [call("op_00000003", 10.0, 5.0, status=None), call("op_00000003", 12.1, 2.9)]
    assert result("one_holder_at_a_time", obs(calls)).status == "passed"
    # Under load the first call reached the provider 0.3 s after the core started it (and its timeout).
    calls = [call("op_00000003", 10.3, 5.0, status=None), call("op_00000003", 12.05, 2.9)]
    assert result("one_holder_at_a_time", obs(calls)).status == "passed"


def test_overlaps_within_the_slack_pass():
    calls = [call("op_00000003", 10.0, 1.0), call("op_00000003", 10.9, 0.1)]
    assert result("one_holder_at_a_time", obs(calls)).status == "passed"


def test_an_overlap_by_a_holder_resuming_after_a_pause_past_its_lease_is_forgiven():
    # Paused at 5 s for 12 s (past its 9 s lease): another replica took over at 16 s; the paused one resumes at 17 s
    # and finishes its create while the other one's is still in flight.
    calls = [call("op_00000004", 16.0, 1.5), call("op_00000004", 17.1, 0.5)]
    outcome = result("one_holder_at_a_time", obs(calls, crashes=[(5.0, 12.0)]))
    assert outcome.status == "passed"
    assert "forgiven" in outcome.reason


def test_an_overlap_long_after_an_outage_still_fails():
    calls = [call("op_00000004", 60.0, 1.5), call("op_00000004", 60.5, 0.5)]
    assert result("one_holder_at_a_time", obs(calls, crashes=[(5.0, 12.0)])).status == "failed"


def test_an_outage_too_short_to_outlive_a_lease_is_not_forgiven():
    # A 3 s kill and restart with a 20 s lease: every claim the process held was still live when it came back,
    # so a second holder right after it is a claim taken from a live holder (a restart that reset them).
    long_lease = RetryPolicy(max_attempts=4, alert_threshold=2, provider_timeout=2.0, max_delay=4.0, lease=20.0)
    calls = [call("op_00000004", 9.0, 1.5), call("op_00000004", 9.4, 0.5)]
    assert result("one_holder_at_a_time", obs(calls, crashes=[(6.0, 3.0)], policy=long_lease)).status == "failed"
    assert result("one_holder_at_a_time", obs(calls, crashes=[(6.0, 3.0)])).status == "passed"  # 9 s lease


def test_skipped_without_a_journal_or_keys():
    missing = Observation(now=1.0, policy=POLICY, unavailable={"write_calls": "the tencent wire carries no key"})
    outcome = result("one_holder_at_a_time", missing)
    assert outcome.status == "skipped" and "tencent" in outcome.reason
    unkeyed = [{**call("op_00000001", 1.0, 0.1), "key": None}]
    assert result("one_holder_at_a_time", obs(unkeyed)).status == "skipped"


# ---- no_call_after_settle ------------------------------------------------------------------------


def history(ended_at: float, core_id: str = "op_00000005") -> History:
    h = History()
    op = h.invoke(X, "XB", "bind", ("17200000001",), 1.0)
    op.core_operation_id = core_id
    h.complete(op, Outcome.OK, ended_at)
    return h


def test_calls_before_the_end_pass():
    calls = [call("op_00000005", 1.1, 0.3, status=503), call("op_00000005", 2.0, 0.2)]
    outcome = result("no_call_after_settle", obs(calls, history=history(2.3)))
    assert outcome.status == "passed", outcome.violation


def test_a_create_after_the_operation_settled_fails():
    # A redelivered message run without claiming: the finished bind's create goes out again.
    calls = [call("op_00000005", 2.0, 0.2), call("op_00000005", 8.0, 0.2)]
    outcome = result("no_call_after_settle", obs(calls, history=history(2.3)))
    assert outcome.status == "failed"
    (late,) = outcome.violation.details["calls"]
    assert late["operation_id"] == "op_00000005" and late["after"] == 5.7


def test_a_late_call_by_a_holder_resuming_from_a_pause_is_forgiven():
    calls = [call("op_00000005", 2.0, 0.2), call("op_00000005", 16.5, 0.2)]
    outcome = result("no_call_after_settle", obs(calls, history=history(12.0), crashes=[(1.5, 14.8)]))
    assert outcome.status == "passed" and "forgiven" in outcome.reason


def test_no_call_after_settle_skipped_without_a_history():
    outcome = result("no_call_after_settle", obs([call("op_00000005", 2.0, 0.2)]))
    assert outcome.status == "skipped"
