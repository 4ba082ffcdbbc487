"""The business operations inferred from a trace without business lines (scenarios/replay/business.py)."""

from __future__ import annotations

from typing import Any

from simulator.traces.format import Exchange, Failure
from scenarios.replay.business import infer_business

X, A, B = "15526018159", "13900000001", "13800000002"


def exchange(seq: int, offset: float, action: str, params: dict[str, Any], *, status: int | None = 200,
             body: Any = None, dialect: str = "native", failure: str | None = None, latency: float = 0.01,
             hidden: dict[str, Any] | None = None) -> Exchange:
    response = None if status is None else {"status": status, "headers": {}, "body": body}
    return Exchange(seq, offset, dialect, action, params, {"method": "POST", "path": "/"}, response,
                    Failure(failure, after=2.0) if failure else None, latency, provider_response=hidden)


def native_bound(binding_id: str, mode: str = "XB", x: str = X) -> dict[str, Any]:
    return {"binding_id": binding_id, "mode": mode, "x": x, "a": A if mode == "AXB" else None, "b": B}


def ops(trace: list[Exchange]) -> list[tuple[Any, ...]]:
    return [(o.op, o.mode, o.x, o.a, o.b, o.offset) for o in infer_business(trace).operations]


def test_a_create_and_its_retries_are_one_bind_at_the_first_attempts_offset():
    trace = [
        exchange(1, 1.0, "create_binding", {"mode": "XB", "x": X, "b": B}, status=None, failure="timeout"),
        exchange(2, 4.0, "create_binding", {"mode": "XB", "x": X, "b": B}, status=503),
        exchange(3, 9.0, "create_binding", {"mode": "XB", "x": X, "b": B}, status=201, body=native_bound("bnd_1")),
    ]
    inferred = infer_business(trace)
    assert ops(trace) == [("bind", "XB", X, None, B, 1.0)]
    assert inferred.exchanges_of == {1: [1, 2, 3]}


def test_a_create_without_x_takes_x_from_the_answer_even_one_a_lost_reply_hid():
    ghost = exchange(1, 0.5, "create_binding", {"mode": "XB", "b": B}, status=503,
                     hidden={"status": 201, "body": native_bound("bnd_1")})
    assert ops([ghost]) == [("bind", "XB", X, None, B, 0.5)]


def test_a_delete_is_an_unbind_of_its_bindings_x_and_mode_and_its_retries_are_one():
    trace = [
        exchange(1, 0.0, "create_binding", {"mode": "AXB", "x": X, "a": A, "b": B}, status=201,
                 body=native_bound("bnd_1", "AXB")),
        exchange(2, 5.0, "delete_binding", {"binding_id": "bnd_1"}, status=None, failure="reset"),
        exchange(3, 6.0, "delete_binding", {"binding_id": "bnd_1"}, status=404),
        exchange(4, 9.0, "create_binding", {"mode": "AXB", "x": X, "a": A, "b": B}, status=201,
                 body=native_bound("bnd_2", "AXB")),
    ]
    assert ops(trace) == [("bind", "AXB", X, A, B, 0.0), ("unbind", "AXB", X, None, None, 5.0),
                          ("bind", "AXB", X, A, B, 9.0)]
    assert infer_business(trace).exchanges_of == {1: [1], 2: [2, 3], 3: [4]}


def test_different_numbers_are_different_binds_and_lookups_are_no_operation():
    other_b = "13800000009"
    trace = [
        exchange(1, 0.0, "create_binding", {"mode": "XB", "x": X, "b": B}, status=201, body=native_bound("bnd_1")),
        exchange(2, 0.1, "list_bindings", {"x": X}, body={"bindings": [native_bound("bnd_1")]}),
        exchange(3, 0.2, "create_binding", {"mode": "XB", "x": X, "b": other_b}, status=409),
    ]
    assert [(o[0], o[4]) for o in ops(trace)] == [("bind", B), ("bind", other_b)]


def test_aliyun_ghost_success_then_retry_is_one_bind_and_unbind_subscription_names_its_x():
    params = {"x": X, "a": A, "b": B, "pool_key": "FC1"}
    bound = {"Code": "OK", "SecretBindDTO": {"SubsId": "s1", "SecretNo": X}}
    trace = [
        exchange(1, 0.0, "BindAxb", params, status=503, dialect="aliyun", body={"Code": "ServiceUnavailable"},
                 hidden={"status": 200, "body": bound}),
        exchange(2, 0.6, "BindAxb", params, status=200, dialect="aliyun", body=bound),
        exchange(3, 8.0, "UnbindSubscription", {"binding_id": "s9", "x": X}, dialect="aliyun", body={"Code": "OK"}),
    ]
    assert ops(trace) == [("bind", "AXB", X, A, B, 0.0), ("unbind", "AXB", X, None, None, 8.0)]


def test_tencent_probes_and_released_references_are_neither_bind_nor_unbind():
    def get(seq: int, offset: float, bind_id: str, refs: int) -> Exchange:
        return exchange(seq, offset, "GetVirtualNum", {"a": A, "b": B, "x": X}, dialect="tencent",
                        body={"Response": {"ErrorCode": "0", "BindId": bind_id, "VirtualNum": X, "RefNum": str(refs)}})

    def release(seq: int, offset: float, bind_id: str, left: int) -> Exchange:
        return exchange(seq, offset, "DelVirtualNum", {"binding_id": bind_id}, dialect="tencent",
                        body={"Response": {"ErrorCode": "0", "BindId": bind_id, "RefLeftNum": str(left)}})

    trace = [
        get(1, 0.0, "b1", 1),  # the business bind
        get(2, 30.0, "b1", 2), release(3, 30.01, "b1", 1),  # a probe that found it: one reference given back
        release(4, 50.0, "b1", 0),  # the business unbind
        get(5, 80.0, "b2", 1), release(6, 80.01, "b2", 0),  # a probe that found nothing and gave it back
    ]
    inferred = infer_business(trace)
    assert ops(trace) == [("bind", "AXB", X, A, B, 0.0), ("unbind", "AXB", X, None, None, 50.0)]
    assert inferred.exchanges_of == {1: [1, 2, 3], 2: [4]}


def test_what_cannot_be_driven_is_left_out_and_said():
    trace = [
        exchange(1, 0.0, "create_binding", {"mode": "XB", "b": B}, status=None, failure="timeout"),
        exchange(2, 1.0, "delete_binding", {"binding_id": "bnd_unknown"}, status=200),
    ]
    inferred = infer_business(trace)
    assert inferred.operations == []
    assert any("never shows its X" in n for n in inferred.notes)
    assert any("bnd_unknown" in n and "never describes" in n for n in inferred.notes)


def vms_ok(result: Any) -> dict[str, Any]:
    return {"ResponseMetadata": {"RequestId": "r", "Action": "x", "Version": "2022-01-01"}, "Result": result}


def vms_error(code: str) -> dict[str, Any]:
    return {"ResponseMetadata": {"RequestId": "r", "Error": {"Code": code, "Message": "..."}}}


def test_volcengine_axb_ghost_then_conflict_is_one_bind_and_an_axn_is_an_xb_whose_b_is_phone_no_a():
    made = {"PhoneNoX": X, "SubId": "bnd_1", "Status": 1, "PhoneNoA": A, "PhoneNoB": B}
    trace = [
        exchange(1, 1.0, "BindAXB", {"x": X, "a": A, "b": B}, status=503, dialect="volcengine",
                 body=vms_error("InternalError"), hidden={"status": 200, "body": vms_ok(made)}),
        exchange(2, 1.5, "QuerySubscriptionForList", {"x": X, "Status": "1"}, dialect="volcengine",
                 body=vms_ok({"Records": [{**made, "ExpireTime": 1}], "Total": 1})),
        exchange(3, 1.6, "BindAXB", {"x": X, "a": A, "b": B}, status=400, dialect="volcengine",
                 body=vms_error("BindConflict")),
        exchange(4, 5.0, "UnbindAXB", {"binding_id": "bnd_1"}, dialect="volcengine", body=vms_ok(True)),
        exchange(5, 6.0, "BindAXN", {"x": "13300000001", "a": B}, dialect="volcengine",
                 body=vms_ok({"PhoneNoX": "13300000001", "SubId": "bnd_2", "Status": 1, "PhoneNoA": B,
                              "PhoneNoB": ""})),
        exchange(6, 7.0, "UnbindAXN", {"binding_id": "bnd_2"}, status=400, dialect="volcengine",
                 body=vms_error("SubIdNotExist")),
    ]
    assert ops(trace) == [("bind", "AXB", X, A, B, 1.0), ("unbind", "AXB", X, None, None, 5.0),
                          ("bind", "XB", "13300000001", None, B, 6.0),
                          ("unbind", "XB", "13300000001", None, None, 7.0)]
    assert infer_business(trace).exchanges_of == {1: [1, 3], 2: [4], 3: [5], 4: [6]}
    assert infer_business(trace).notes == []
