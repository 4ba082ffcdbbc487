"""refusal_answered_by_provider: a refusal the core passes on is one the provider gave. Fails on a core whose
Tencent client refuses every AXB before sending it (the provider never refused anything); passes on the bundled
core; and on plain data, each way a refusal can be unexplained."""

from __future__ import annotations

import sys

import pytest

from scenarios.checkers import NotApplicable, Observation, Violation
from scenarios.checkers.refusal_source import refusal_answered_by_provider

from .test_vendor_wires import CORE, EXAMPLES, defect

EPOCH = 1_000.0  # the core's clock minus the loop's


def op(kind="bind", outcome="refused", error="refused 409 BIND_CONFLICT: X is taken", **extra):
    return {"id": "op_1", "kind": kind, "x": "13800000001", "mode": "XB", "outcome": outcome, "last_error": error,
            "created_at": EPOCH + 10.0, "finished_at": EPOCH + 12.0, "binding_id": None, **extra}


def call(operation="create_binding", at=11.0, status=409, **extra):
    return {"operation": operation, "at": at, "x": "13800000001", "mode": "XB", "status": status,
            "binding_id": None, "fault": None, **extra}


def observe(operations, calls, epoch=EPOCH):
    return Observation(now=100.0, operations=operations, wire_calls=calls, core_epoch=epoch)


def test_a_refusal_the_provider_gave_while_the_operation_ran_passes():
    assert "1 refusal" in refusal_answered_by_provider(observe([op()], [call()]))
    # A vendor's journal may name neither the mode nor the number of a delete, only the binding.
    unbind = op(kind="unbind", binding_id="b-7", error="refused 403 FORBIDDEN: no")
    delete = call("delete_binding", status=403, x=None, mode=None, binding_id="b-7")
    assert refusal_answered_by_provider(observe([unbind], [delete]))
    # Refusals reported as not sent (breaker open, provider unreachable) made no call: nothing to match.
    assert refusal_answered_by_provider(observe([op(error="not sent: the circuit is open")], [])) is None


@pytest.mark.parametrize("calls", [
    [],  # no call at all: the core made the refusal up
    [call(status=429)],  # throttled: never a refusal
    [call(status=503)],  # failed: not a refusal
    [call(fault="ghost_success")],  # a 4xx the core could not read
    [call(at=30.0)],  # refused, but after the operation had ended
    [call(x="13800000002")],  # another number's refusal
    [call("delete_binding")],  # a delete refused, not the bind's create
], ids=["none", "throttled", "5xx", "unread", "too-late", "other-number", "wrong-call"])
def test_a_refusal_without_the_providers_refusal_is_a_violation(calls):
    with pytest.raises(Violation, match="refusal the provider never gave") as raised:
        refusal_answered_by_provider(observe([op()], calls))
    assert raised.value.details["operations"][0]["id"] == "op_1"


def test_without_the_journal_or_a_shared_clock_it_is_skipped_not_passed():
    with pytest.raises(NotApplicable, match="journal"):
        refusal_answered_by_provider(Observation(now=1.0, operations=[op()], core_epoch=EPOCH))
    with pytest.raises(NotApplicable, match="clock"):
        refusal_answered_by_provider(observe([op()], [call()], epoch=None))


def test_a_client_that_refuses_every_axb_unsent_fails_the_gate():
    mutation, mutant = defect("provider/tencent.py", 163, "core/ReplaceComparisonOperator_Is_IsNot",
                              "if a is None:", "if a is not None:")
    result = mutation.try_mutant(CORE, mutant, [str(EXAMPLES / "tencent_wire.toml")], timeout=600,
                                 python=sys.executable)
    assert result.verdict == "killed" and result.checks == ["refusal_answered_by_provider"], result


def test_on_a_vendor_wire_a_refusal_comes_in_a_200_envelope():
    vendor = Observation(now=100.0, operations=[op(error="refused 200 BIND_CONFLICT: taken")],
                         wire_calls=[call(status=200)], core_epoch=EPOCH, dialect="aliyun")
    assert refusal_answered_by_provider(vendor)
    # On the native wire a 200 is a success, never a refusal.
    with pytest.raises(Violation):
        refusal_answered_by_provider(observe([op()], [call(status=200)]))


def test_a_vendors_call_is_matched_by_its_own_action_name():
    delete = call("UnBindXB", status=200)
    unbind = op(kind="unbind", error="refused 200 isv.NO_AVAILABLE_NUMBER: no")
    vendor = Observation(now=100.0, operations=[unbind], wire_calls=[delete], core_epoch=EPOCH, dialect="aliyun")
    assert refusal_answered_by_provider(vendor)
    creates_only = Observation(now=100.0, operations=[unbind], wire_calls=[call("BindXB", status=200)],
                               core_epoch=EPOCH, dialect="aliyun")
    with pytest.raises(Violation):
        refusal_answered_by_provider(creates_only)
