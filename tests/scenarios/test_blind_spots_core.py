"""Blind spots the mutation benchmark found in the default gate, closed: each check fails on a core with the
defect (a mutant of binding_core, run against the scenario that reaches it) and passes on the bundled core; and,
on plain data, each way the property can be broken.

- failed_calls_counted: an old-path (synchronous) call that fails must count as an attempt.
- bound_rows_name_their_binding: an unbind settled to a binding still held must keep that binding's id.
- sweeps_count_no_attempts: a sweep that finds its mode changed while it looked looks again, uncounted.
- axb_ghost_success now hides applied deletes from lookups for a while, so a bind that looks after a lost
  create finds a stale binding beside its own and deletes the extra: a core that takes that delete (done, or
  "not found") for a failure ends disagreeing with the provider.
"""

from __future__ import annotations

import sys

import pytest

from scenarios.checkers import NotApplicable, Observation, RetryPolicy, Violation
from scenarios.checkers.attempt_counts import failed_calls_counted, sweeps_count_no_attempts
from scenarios.checkers.binding_ids import bound_rows_name_their_binding

from .test_vendor_wires import CORE, EXAMPLES, _mutation, defect

POLICY = RetryPolicy(max_attempts=4, alert_threshold=2, provider_timeout=2.0, max_delay=4.0)


def write(at=1.0, end=1.1, status=503, key="core-op_1", **extra):
    return {"at": at, "end": end, "operation": "create_binding", "key": key, "status": status, **extra}


def attempts(count, **extra):
    return [{"id": "op_1", "kind": "bind", "path": "sync", "attempts": count, **extra}]


def counted(operations, calls, crashes=()):
    return failed_calls_counted(Observation(now=100.0, operations=operations, write_calls=calls, policy=POLICY,
                                            crash_times=list(crashes)))


@pytest.mark.parametrize("call", [
    write(status=503), write(status=429), write(status=None), write(status=200, end=9.0),
], ids=["5xx", "throttled", "no-answer", "held-past-timeout"])
def test_a_failed_call_the_core_did_not_count_is_a_violation(call):
    with pytest.raises(Violation, match="fewer attempts") as raised:
        counted(attempts(0), [call])
    assert raised.value.details["operations"][0]["operation_id"] == "op_1"
    assert counted(attempts(1), [call])


def test_calls_that_did_not_fail_need_no_attempt():
    # A success, a refusal, a refused credential, another operation's call, and an HTTP client's resend.
    calls = [write(status=200), write(status=409), write(status=401), write(key="core-op_1-dup-b9"),
             write(status=None, at=5.0, end=5.0), write(status=200, at=5.01, end=5.1)]
    assert counted(attempts(0), calls) is None


def test_a_resend_after_a_slow_failure_is_the_same_attempt_and_its_answer_counts():
    # A call reset after 0.5 s of latency, resent by the HTTP client the moment it failed: one attempt, failed
    # when the resend failed too, succeeded when the resend succeeded (found at seed 9 of crash_restart_loop).
    first = write(status=None, at=1.0, end=1.5)
    assert counted(attempts(0), [first, write(status=200, at=1.5, end=1.6)]) is None
    assert counted(attempts(1), [first, write(status=None, at=1.5, end=2.0)])
    with pytest.raises(Violation, match="fewer attempts"):
        counted(attempts(0), [first, write(status=None, at=1.5, end=2.0)])
    # A new attempt after a backoff is not a resend: two failed attempts need two counts.
    with pytest.raises(Violation, match="fewer attempts"):
        counted(attempts(1), [first, write(status=None, at=2.3, end=2.4)])


def test_a_crash_right_after_a_failed_call_may_lose_its_count():
    assert counted(attempts(0), [write()], crashes=[1.2])
    with pytest.raises(Violation):
        counted(attempts(0), [write()], crashes=[30.0])


def test_without_attempt_counts_or_keys_it_is_skipped_not_passed():
    with pytest.raises(NotApplicable, match="attempt counts"):
        counted([{"id": "op_1", "kind": "bind"}], [write()])
    with pytest.raises(NotApplicable, match="Idempotency-Key"):
        counted(attempts(0), [write(key=None)])


def sweep(attempts=0, **extra):
    return {"id": "op_9", "kind": "sweep", "origin": "op_1", "attempts": attempts, **extra}


def test_a_sweep_that_counts_an_attempt_or_alerts_is_a_violation():
    assert "none counted" in sweeps_count_no_attempts(Observation(now=1.0, operations=[sweep()], alerts=[]))
    assert sweeps_count_no_attempts(Observation(now=1.0, operations=attempts(3), alerts=[])) is None
    with pytest.raises(Violation, match="sweep"):
        sweeps_count_no_attempts(Observation(now=1.0, operations=[sweep(1)], alerts=[]))
    with pytest.raises(Violation, match="sweep"):
        sweeps_count_no_attempts(Observation(now=1.0, operations=[sweep()], alerts=[{"operation_id": "op_9"}]))


def row(xb=None, axb=None, x="13800000001"):
    return {"x": x, "xb": xb or {"status": "NOT_BIND", "binding_id": None},
            "axb": axb or {"status": "NOT_BIND", "binding_id": None}}


def held(binding_id="b-1", mode="XB", x="13800000001"):
    return {"binding_id": binding_id, "mode": mode, "x": x, "b": "139", "status": "active"}


def named(rows, bindings, dialect="native"):
    return bound_rows_name_their_binding(Observation(now=1.0, core_numbers=rows, provider_bindings=bindings,
                                                     dialect=dialect))


def test_a_bound_row_naming_the_providers_binding_passes():
    assert named([row(xb={"status": "BIND", "b": "139", "binding_id": "b-1"})], [held()]) is None
    # On a vendor's wire the ids are the vendor's: only that each bound row names one is checked.
    assert "not compared" in named([row(xb={"status": "BIND", "binding_id": "SubsId-9"})], [held()], "aliyun")


@pytest.mark.parametrize("rows", [
    [row(xb={"status": "BIND", "binding_id": None}), row(axb={"status": "BIND", "binding_id": "b-2"}, x="2")],
    [row(xb={"status": "BIND", "binding_id": "b-7"})],
    [row(xb={"status": "NOT_BIND", "binding_id": "b-1"}), row(axb={"status": "BIND", "binding_id": "b-2"}, x="2")],
], ids=["bound-without-id", "someone-elses-id", "unbound-with-id"])
def test_a_row_naming_the_wrong_binding_is_a_violation(rows):
    with pytest.raises(Violation, match="binding id"):
        named(rows, [held(), held("b-2", "AXB", "2")])


def test_a_service_that_shows_no_binding_ids_is_skipped():
    with pytest.raises(NotApplicable, match="binding ids"):
        named([{"x": "1", "xb": {"status": "BIND"}, "axb": {"status": "NOT_BIND"}}], [])


@pytest.mark.parametrize("scenario, module, line, operator, before, after, check", [
    # The old path's failed call is not counted: its operations get more calls than max_attempts allows.
    ("old_path_ghost_success", "service.py", 119, "core/ReplaceTrueWithFalse",
     'count_attempt=True, phase="settle", in_doubt_until=in_doubt_until,',
     'count_attempt=False, phase="settle", in_doubt_until=in_doubt_until,', "failed_calls_counted"),
    # An unbind settled to a binding still held drops the binding's id (and an unbound one keeps it).
    ("sweep_race", "worker.py", 295, "core/ReplaceComparisonOperator_Eq_IsNot",
     'return await self._commit(op, status, op.binding_id if status == BIND else None, "settled", state=final)',
     'return await self._commit(op, status, op.binding_id if status is not BIND else None, "settled", '
     'state=final)', "bound_rows_name_their_binding"),
    # A sweep whose fence is lost (the mode changed while it looked) counts it as an attempt.
    ("sweep_race", "worker.py", 321, "core/ReplaceFalseWithTrue", 'count=False, phase="look")',
     'count=True, phase="look")', "sweeps_count_no_attempts"),
    # A duplicate's delete after adopting a binding, done or "not found", taken for a failure.
    ("axb_ghost_success", "worker.py", 258, "core/ReplaceOrWithAnd",
     "if not (isinstance(gone, Ok) or (isinstance(gone, Refused) and gone.code in NOT_FOUND_CODES)):",
     "if not (isinstance(gone, Ok) and (isinstance(gone, Refused) and gone.code in NOT_FOUND_CODES)):",
     "axb_matches_provider"),
], ids=["old-path-attempt-uncounted", "settled-unbind-loses-binding-id", "sweep-counts-a-lost-fence",
        "duplicate-delete-taken-for-failure"])
def test_the_core_defect_fails_the_gate(scenario, module, line, operator, before, after, check):
    mutation, mutant = defect(module, line, operator, before, after)
    result = mutation.try_mutant(CORE, mutant, [str(EXAMPLES / f"{scenario}.toml")], timeout=600,
                                 python=sys.executable)
    assert result.verdict == "killed" and check in result.checks, (result.verdict, result.checks, result.error)


def test_the_bundled_core_passes_those_scenarios():
    verdict, data, _ = _mutation().run_gate(None, [str(EXAMPLES / f"{name}.toml") for name in (
        "old_path_ghost_success", "sweep_race", "axb_ghost_success")], timeout=600)
    assert verdict == "survived", data
