"""Each registered invariant check on small hand-made observations: it passes on a healthy system and names the fault."""

from __future__ import annotations

import pytest

from scenarios.checkers import CHECKS, CallProbe, Observation, RetryPolicy, Violation, run_checks
from scenarios.history import History, Outcome

X, A, B = "17100000001", "13800000001", "13900000002"
LEGAL = {("NOT_BIND", "OPERATION"), ("OPERATION", "BIND"), ("OPERATION", "NOT_BIND"), ("BIND", "OPERATION")}
POLICY = RetryPolicy(max_attempts=4, alert_threshold=3, provider_timeout=3, max_delay=10,
                     base_delay=0.5, backoff_cap=10, breaker_threshold=5, breaker_cooldown=10)


def row(xb=("NOT_BIND", None, None, 0), axb=("NOT_BIND", None, None, None, 0)):
    return {
        "x": X,
        "xb": {"status": xb[0], "b": xb[1], "binding_id": xb[2], "version": xb[3]},
        "axb": {"status": axb[0], "a": axb[1], "b": axb[2], "binding_id": axb[3], "version": axb[4]},
    }


def healthy() -> Observation:
    history = History()
    op = history.invoke(X, "XB", "bind", (B,), 0.0)
    op.core_operation_id = "op_00000001"
    history.complete(op, Outcome.OK, 4.0)
    return Observation(
        now=10.0,
        core_numbers=[row(xb=("BIND", B, "bnd_1", 2))],
        provider_bindings=[{"binding_id": "bnd_1", "mode": "XB", "x": X, "a": None, "b": B, "status": "active"}],
        provider_history=[{"binding_id": "bnd_1", "mode": "XB", "x": X, "a": None, "b": B, "status": "active",
                           "created_at": 3.0, "ended_at": None}],
        operations=[{"id": "op_00000001", "x": X, "mode": "XB", "kind": "bind", "state": "done", "attempts": 1,
                     "a": None, "b": B, "binding_id": "bnd_1", "path": "async"}],
        alerts=[],
        transitions=[
            {"x": X, "mode": "XB", "from": "NOT_BIND", "to": "OPERATION", "version": 1, "operation_id": "op_00000001", "at": 0.0},
            {"x": X, "mode": "XB", "from": "OPERATION", "to": "BIND", "version": 2, "operation_id": "op_00000001", "at": 4.0},
        ],
        legal_transitions=LEGAL,
        policy=POLICY,
        history=history,
        calls=[CallProbe(caller=A, x=X, core_row=row(xb=("BIND", B, "bnd_1", 2)), outcome="connected", callee=B)],
        managed_xs={X},
        # The recording alert sink (no alert raised, none delivered), the gray list as set, the provider's journal.
        alert_deliveries=[], alert_sink_wired=True,
        gray_timeline=[{"at": None, "begun": None, "applied": None, "enabled": False, "all": False, "numbers": []}],
        write_calls=[{"at": 1.0, "end": 1.1, "operation": "create_binding", "key": "core-1-op_00000001", "status": 201}],
        # Every call on the wire, the core's breaker record (no refusal), the core's clock tied to the harness's.
        wire_calls=[{"seq": 1, "at": 1.0, "latency": 0.1, "operation": "create_binding", "x": X, "mode": "XB",
                     "binding_id": None, "key": "core-1-op_00000001", "status": 201, "fault": None}],
        breaker_refusals=[], breaker_calls=[(1.0, 1.1, False)], core_epoch=0.0,
        # The API's contract (this bind's answer is not in `requests`) and GET /health at the start and after quiescence.
        answer_statuses=frozenset({202}),
        health=[{"at": "start", "status": 200, "body": {"problems": [], "operations": {}}, "listed": {}},
                {"at": "end", "status": 200, "body": {"problems": [], "operations": {"done": 1}}, "listed": {"done": 1}}],
    )


def failing(obs: Observation) -> dict[str, Violation]:
    return {r.name: r.violation for r in run_checks(obs, CHECKS.select()) if r.status == "failed"}


def test_healthy_observation_passes_every_check():
    results = run_checks(healthy(), CHECKS.select())
    assert {r.status for r in results} == {"passed"}, [r.to_dict() for r in results if r.status != "passed"]


def test_missing_data_is_skipped_not_passed():
    results = {r.name: r.status for r in run_checks(Observation(now=0.0), CHECKS.select())}
    assert set(results.values()) == {"skipped"}


def test_row_left_in_operation():
    obs = healthy()
    obs.core_numbers = [row(xb=("OPERATION", B, None, 1))]
    assert "no_operation_left" in failing(obs)


def test_pending_operation_counts_as_left():
    obs = healthy()
    obs.operations[0]["state"] = "pending"
    assert "binding left in OPERATION" == failing(obs)["no_operation_left"].title


def test_core_bound_but_provider_empty():
    obs = healthy()
    obs.provider_bindings = []
    assert "xb_matches_provider" in failing(obs)


def test_core_unbound_but_provider_holds_binding_is_an_orphan():
    obs = healthy()
    obs.core_numbers = [row()]
    fails = failing(obs)
    assert "xb_matches_provider" in fails and "no_orphan_or_duplicate" in fails


def test_duplicate_provider_bindings():
    obs = healthy()
    obs.provider_bindings.append({"binding_id": "bnd_2", "mode": "XB", "x": X, "a": None, "b": B, "status": "active"})
    fails = failing(obs)
    assert fails["no_orphan_or_duplicate"].details["duplicates"]
    assert "xb_matches_provider" in fails


def test_axb_wrong_pair():
    obs = healthy()
    obs.core_numbers = [row(xb=("BIND", B, "bnd_1", 2), axb=("BIND", A, B, "bnd_2", 2))]
    obs.provider_bindings.append({"binding_id": "bnd_2", "mode": "AXB", "x": X, "a": A, "b": "13900000003", "status": "active"})
    assert list(failing(obs)) == ["axb_matches_provider"]


def test_expired_provider_bindings_are_not_held():
    obs = healthy()
    obs.core_numbers = [row()]
    obs.provider_bindings[0]["status"] = "expired"
    assert "xb_matches_provider" not in failing(obs)


def test_slow_operation_breaks_liveness():
    obs = healthy()
    obs.history.operations[0].ended_at = POLICY.deadline() + 1
    assert "liveness" in failing(obs)


def test_downtime_extends_the_liveness_deadline():
    obs = healthy()
    obs.history.operations[0].ended_at = POLICY.deadline() + 1
    obs.downtime = 5
    assert "liveness" not in failing(obs)


def test_unsettled_operation_breaks_liveness():
    obs = healthy()
    obs.unsettled = [{"x": X, "mode": "XB", "since": 0.0}]
    assert "liveness" in failing(obs)


def test_retries_above_cap():
    obs = healthy()
    obs.operations[0]["attempts"] = 5
    obs.alerts = [{"operation_id": "op_00000001"}]
    fails = failing(obs)
    assert "retries_capped" in fails and "alert_iff_threshold" not in fails


@pytest.mark.parametrize("attempts,alerts,bad", [(2, 0, False), (3, 1, False), (3, 0, True), (2, 1, True), (4, 2, True)])
def test_alert_iff_threshold(attempts, alerts, bad):
    obs = healthy()
    obs.operations[0]["attempts"] = attempts
    obs.alerts = [{"operation_id": "op_00000001", "x": X}] * alerts
    assert ("alert_iff_threshold" in failing(obs)) is bad


def test_stray_alert_for_unknown_operation():
    obs = healthy()
    obs.alerts = [{"operation_id": "nope"}]
    assert failing(obs)["alert_iff_threshold"].details["stray_alerts"]


def test_illegal_transition_skipping_operation():
    obs = healthy()
    obs.transitions = [{"x": X, "mode": "XB", "from": "NOT_BIND", "to": "BIND", "version": 1, "operation_id": "op_00000001"}]
    obs.core_numbers = [row(xb=("BIND", B, "bnd_1", 1))]
    assert "legal_transitions" in failing(obs)


def test_version_skipping_or_repeating():
    obs = healthy()
    obs.transitions[1]["version"] = 1
    assert "versions_step_by_one" in failing(obs)


def test_row_version_behind_history_is_a_lost_update():
    obs = healthy()
    obs.core_numbers = [row(xb=("BIND", B, "bnd_1", 1))]
    assert "versions_step_by_one" in failing(obs)


def test_non_linearizable_history():
    obs = healthy()
    second = obs.history.invoke(X, "XB", "bind", ("13900000009",), 1.0)
    obs.history.complete(second, Outcome.OK, 3.0)
    assert "linearizable" in failing(obs)


def test_misrouted_call():
    obs = healthy()
    obs.calls = [CallProbe(caller=A, x=X, core_row=row(xb=("BIND", B, "bnd_1", 2)), outcome="rejected", callee=None)]
    assert "calls_routed_as_core_says" in failing(obs)


def test_axb_routing_expectation_beats_xb():
    from scenarios.checkers.invariants import expected_route

    both = row(xb=("BIND", B, "b1", 2), axb=("BIND", A, "13900000003", "b2", 2))
    assert expected_route(both, A) == "13900000003"
    assert expected_route(both, "13900000003") == A
    assert expected_route(both, "13700000000") == B
    assert expected_route(both, B) is None
    assert expected_route(row(), A) is None


def test_step_phase_selects_only_step_checks():
    assert {c.name for c in CHECKS.select(phase="step")} == {"legal_transitions", "versions_step_by_one"}


def test_unknown_check_name_is_refused():
    with pytest.raises(KeyError, match="nope"):
        CHECKS.select(["nope"])


def _refused_bind(binding_life: tuple[float, float | None], b: str = B) -> Observation:
    """A bind that ended refused (NOT_BIND) at t=4 while a binding X -> `b` lived `binding_life`."""
    obs = healthy()
    created, ended = binding_life
    obs.transitions[-1] = {**obs.transitions[-1], "to": "NOT_BIND"}
    obs.operations[0] = {**obs.operations[0], "binding_id": None, "outcome": "refused"}
    obs.provider_history = [{"binding_id": "bnd_9", "mode": "XB", "x": X, "a": None, "b": b,
                             "status": "released" if ended is not None else "active",
                             "created_at": created, "ended_at": ended}]
    return obs


def test_an_operation_that_ends_disowning_a_binding_already_made_is_a_leak_even_if_it_is_cleaned_up_later():
    found = failing(_refused_bind((1.0, 64.0)))  # made by the first attempt, swept a minute after the refusal
    assert "provider_agrees_at_each_end" in found
    [leak] = found["provider_agrees_at_each_end"].details["leaks"]
    assert (leak["operation_id"], leak["core_after"], leak["binding"]["binding_id"]) == ("op_00000001", "NOT_BIND", "bnd_9")


@pytest.mark.parametrize("life", [(9.0, 64.0), (1.0, 2.0), (4.2, None)], ids=["landed-late", "gone-before", "skew"])
def test_bindings_made_after_the_end_or_gone_before_it_are_not_blamed_on_the_operation(life):
    assert "provider_agrees_at_each_end" not in failing(_refused_bind(life))


def test_a_binding_with_other_numbers_is_not_blamed_on_the_operation():
    """X held by someone else's binding is a reason to refuse, not a leak of this operation."""
    assert "provider_agrees_at_each_end" not in failing(_refused_bind((1.0, 64.0), b="13700000009"))


def test_a_service_whose_operations_do_not_carry_their_numbers_is_skipped_not_passed():
    obs = _refused_bind((1.0, 64.0))
    obs.operations = [{k: v for k, v in op.items() if k not in ("a", "b")} for op in obs.operations]
    [result] = [r for r in run_checks(obs, CHECKS.select()) if r.name == "provider_agrees_at_each_end"]
    assert result.status == "skipped"
