"""Blind spots the mutation benchmark found in what the core answers (mutants of binding_core the default gate let
through): answers_in_contract (a bind or unbind answered with a status outside the API's contract) and
health_tells_truth (GET /health makes up a credentials problem, or miscounts operations) fail on those mutants and
pass on the bundled core; a harness error's real cause is reported (not an AttributeError from the machine's own
bookkeeping)."""

from __future__ import annotations

import sys
from unittest import mock

import pytest

from scenarios.adapters import CoreApiAdapter
from scenarios.checkers import NotApplicable, Observation, Violation
from scenarios.checkers.answers import answers_in_contract, health_tells_truth
from scenarios.driver import Driver
from scenarios.runner import Runner, RunOptions
from scenarios.scenario_file import EXAMPLES_DIR
from simulator.faults.rules import RuleError, parse_rule

from .test_vendor_wires import CORE, EXAMPLES, _mutation, defect


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


# ---- answers_in_contract ------------------------------------------------------------------------------------

CONTRACT = CoreApiAdapter.answer_statuses


def answered(*statuses, kind="bind"):
    return [{"kind": kind, "x": "13800000001", "mode": "XB", "status": s, "operation_id": "op_1",
             "outcome": "refused"} for s in statuses]


def test_answers_the_contract_allows_pass():
    obs = Observation(now=1.0, requests=answered(200, 202, 409, 422, 502, 503, 504), answer_statuses=CONTRACT)
    assert "7 answer(s)" in answers_in_contract(obs)


@pytest.mark.parametrize("status", [410, 404, 418, 500, 201])
def test_an_answer_outside_the_contract_is_a_violation(status):
    obs = Observation(now=1.0, requests=answered(200, status, kind="unbind"), answer_statuses=CONTRACT)
    with pytest.raises(Violation, match="answer outside the contract") as raised:
        answers_in_contract(obs)
    assert raised.value.details["answers"][0]["status"] == status


def test_without_a_stated_contract_or_any_status_it_is_skipped_not_passed():
    with pytest.raises(NotApplicable, match="answer_statuses"):
        answers_in_contract(Observation(now=1.0, requests=answered(410)))
    with pytest.raises(NotApplicable, match="carried an HTTP status"):  # an adapter that gives no status
        answers_in_contract(Observation(now=1.0, requests=answered(None), answer_statuses=CONTRACT))
    # An example that sent no bind or unbind has nothing outside the contract.
    assert "no bind or unbind" in answers_in_contract(Observation(now=1.0, answer_statuses=CONTRACT))


def test_a_refusing_status_fault_is_a_409_never_a_ghost_success():
    assert parse_rule({"action": {"kind": "status", "status": 409}}, default_id="r").action.get("status") == 409
    with pytest.raises(RuleError, match="status must be one of 429, 500, 502, 503, 504"):
        parse_rule({"action": {"kind": "ghost_success", "status": 409}}, default_id="g")


# ---- health_tells_truth -------------------------------------------------------------------------------------

def report(at="end", status=200, problems=(), done=3, dead=1, listed=None):
    """A /health snapshot counting `done` and `dead`; the service lists 3 done and 1 dead unless `listed` says."""
    body = {"status": "degraded" if problems else "ok", "problems": list(problems),
            "operations": {"pending": 0, "running": 0, "done": done, "dead": dead}, "breaker": "closed"}
    return {"at": at, "status": status, "body": body, "listed": {"done": 3, "dead": 1} if listed is None else listed}


def health_of(*snapshots, calls=()):
    return Observation(now=1.0, health=list(snapshots), wire_calls=list(calls))


def test_a_truthful_health_report_passes():
    assert health_tells_truth(health_of(report("start", done=0, dead=0, listed={}), report())) is None
    # A credentials problem the provider caused (a 401 in its journal) is the truth.
    refused = {"operation": "create_binding", "at": 1.0, "status": 401}
    assert health_tells_truth(health_of(report(problems=["the provider refuses the core's credentials: x"]),
                                        calls=[refused])) is None


@pytest.mark.parametrize("snapshot, words", [
    (report("start", done=-1, dead=0, listed={}), "counts operations other than those the service lists: done -1"),
    (report(done=2), "done 2 (listed 3)"),
    (report(problems=["the provider refuses the core's credentials: refused 409 BIND_CONFLICT: taken"]),
     "credentials problem the provider never caused"),
    (report(status=500), "answered 500"),
], ids=["negative-count", "miscount", "made-up-credentials", "no-report"])
def test_an_untrue_health_report_is_a_violation(snapshot, words):
    with pytest.raises(Violation, match="untrue health report") as raised:
        health_tells_truth(health_of(snapshot, calls=[{"operation": "create_binding", "at": 1.0, "status": 409}]))
    assert words in raised.value.message


def test_without_a_health_report_it_is_skipped_not_passed():
    obs = Observation(now=1.0, unavailable={"health": "the service's adapter (Mine) reads no health report"})
    with pytest.raises(NotApplicable, match="reads no health report"):
        health_tells_truth(obs)


# ---- the mutants the gate let through before, now caught ----------------------------------------------------

def test_the_bundled_core_passes_the_old_path_scenario():
    mutation = _mutation()
    verdict, data, _ = mutation.run_gate(None, [str(EXAMPLES / "old_path_ghost_success.toml")], timeout=600)
    assert verdict == "survived", data


@pytest.mark.parametrize("module, line, operator, before, after, caught_by", [
    # The old path answers a provider conflict 410 instead of 409.
    ("api.py", 148, "core/NumberReplacer", "status = 409 if error.status == 409 else 422",
     "status = 410 if error.status == 409 else 422", "answers_in_contract"),
    # /health keeps every answer but a credentials refusal as "the credentials problem".
    ("provider/breaker.py", 93, "core/AddNot", "if isinstance(outcome, AuthFailed):",
     "if not isinstance(outcome, AuthFailed):", "health_tells_truth"),
    # /health counts -1 done operations while there are none.
    ("store.py", 402, "core/NumberReplacer", 'counts = {"pending": 0, "running": 0, "done": 0, "dead": 0}',
     'counts = {"pending": 0, "running": 0, "done": -1, "dead": 0}', "health_tells_truth"),
], ids=["old-path-410", "made-up-credentials-problem", "health-miscounts"])
def test_a_core_that_misanswers_fails_the_gate(module, line, operator, before, after, caught_by):
    mutation, mutant = defect(module, line, operator, before, after)
    result = mutation.try_mutant(CORE, mutant, [str(EXAMPLES / "old_path_ghost_success.toml")], timeout=600,
                                 python=sys.executable)
    assert result.verdict == "killed" and caught_by in result.checks, result


# ---- a provider answer of the wrong shape (xb_storm_5xx's wrong_shape_body rule) -------------------------------

def test_the_bundled_core_reads_a_wrong_shape_answer_as_unknown_and_passes():
    mutation = _mutation()
    verdict, data, _ = mutation.run_gate(None, [str(EXAMPLES / "xb_storm_5xx.toml")], timeout=600)
    assert verdict == "survived", data


@pytest.mark.parametrize("caught", ["ValueError", "TypeError"])
def test_a_client_that_crashes_on_a_wrong_shape_answer_fails_the_gate(caught):
    """The native client no longer catches one of the exceptions reading an answer's shape raises: an answer that
    parses but is not the object it expects crashes the attempt instead of making it an unknown outcome."""
    before = "except (KeyError, TypeError, ValueError, AttributeError) as exc:"
    mutation, mutant = defect("provider/native.py", 125, "core/ExceptionReplacer", before,
                              before.replace(caught, "CosmicRayTestingException"))
    result = mutation.try_mutant(CORE, mutant, [str(EXAMPLES / "xb_storm_5xx.toml")], timeout=600,
                                 python=sys.executable)
    assert result.verdict == "killed" and result.scenario == "xb_storm_5xx" and result.checks, result
