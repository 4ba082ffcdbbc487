"""What a recorded exchange did to the provider's state, per dialect: the rules a replay's ledger follows."""

from __future__ import annotations

import json
from typing import Any

import pytest

from simulator.traces import Exchange, Failure
from simulator.traces.effects import (
    NOT_FOUND, OK, REFUSED, UNKNOWN, CreateBinding, DeleteBinding, UpdateBinding, bindings_shown, effect_of,
    is_conflict, outcome,
)

STARTED = 1_767_225_600.0  # 2026-01-01T00:00:00Z; the exchanges below are answered at STARTED + 10
X, A, B = "17000000001", "13900000001", "13800000002"


def exchange(dialect: str, action: str, params: dict[str, Any], status: int | None, body: Any = None, *,
             applied: bool | None = None, hidden: dict | None = None, failure: Failure | None = None) -> Exchange:
    response = None if status is None else {"status": status, "headers": {}, "body": body}
    return Exchange(1, 9.5, dialect, action, params, {"method": "POST", "path": "/"}, response, failure, 0.5,
                    None, applied, hidden)


# ---- native -----------------------------------------------------------------------------------------


def native_binding(**fields: Any) -> dict[str, Any]:
    return {"binding_id": "bnd_00000007", "mode": "AXB", "x": X, "a": A, "b": B, "status": "active",
            "created_at": "2026-01-01T00:00:10.000Z", "expires_at": "2026-01-01T01:00:10.000Z", **fields}


def test_native_create_delete_update() -> None:
    created = effect_of(exchange("native", "create_binding", {"mode": "AXB", "a": A, "b": B}, 201,
                                 native_binding()), STARTED)
    assert created == CreateBinding("bnd_00000007", "AXB", X, A, B, None, 3600.0)  # expiry: an hour after the answer
    deleted = effect_of(exchange("native", "delete_binding", {"binding_id": "bnd_00000007"}, 200,
                                 native_binding(status="released")), STARTED)
    assert deleted == DeleteBinding("bnd_00000007")
    updated = effect_of(exchange("native", "update_binding", {"binding_id": "bnd_00000007", "b": "13800000009"}, 200,
                                 native_binding(b="13800000009", expires_at=None)), STARTED)
    assert updated == UpdateBinding("bnd_00000007", A, "13800000009", None)


def test_a_refusal_changes_nothing_and_a_ghost_success_is_read_from_the_answer_it_hid() -> None:
    params = {"mode": "XB", "b": B}
    refused = exchange("native", "create_binding", params, 409, {"code": "BIND_CONFLICT"})
    assert (outcome(refused), effect_of(refused, STARTED)) == (REFUSED, None)
    hidden = {"status": 201, "headers": {}, "body": native_binding(mode="XB", a=None, expires_at=None)}
    ghost = exchange("native", "create_binding", params, 503, {"code": "INJECTED_FAULT"}, applied=True, hidden=hidden)
    assert outcome(ghost) == UNKNOWN
    assert effect_of(ghost, STARTED) == CreateBinding("bnd_00000007", "XB", X, None, B, None, None)
    # The same answer, but the recorder does not say it was applied: the hidden answer is not trusted.
    unsure = exchange("native", "create_binding", params, 503, {"code": "INJECTED_FAULT"}, hidden=hidden)
    assert effect_of(unsure, STARTED) is None


def test_native_answers_that_show_bindings() -> None:
    listed = exchange("native", "list_bindings", {"b": B}, 200,
                      {"bindings": [native_binding(), native_binding(binding_id="bnd_2", status="expired")]})
    assert [s.binding_id for s in bindings_shown(listed)] == ["bnd_00000007"]
    missing = exchange("native", "get_binding", {"binding_id": "bnd_9"}, 404, {"code": "BINDING_NOT_FOUND"})
    assert outcome(missing) == NOT_FOUND and bindings_shown(missing) == []


# ---- Aliyun -----------------------------------------------------------------------------------------


def classic(**fields: Any) -> dict[str, Any]:
    return {"Code": "OK", "Message": "OK", "RequestId": "R", **fields}


def work(**data: Any) -> dict[str, Any]:
    return {"Code": "0000", "Message": "成功", "Success": True, "RequestId": "R", "Data": data}


@pytest.mark.parametrize("action, mode", [("BindAxb", "AXB"), ("BindAxn", "AXN")])
def test_aliyun_subscription_binds(action: str, mode: str) -> None:
    # 2026-01-01 09:00:10 Beijing is STARTED + 10 s + 1 h.
    params = {"pool_key": "FC1", "a": A, "b": B, "expiration": "2026-01-01 09:00:10", "OutId": "op-1"}
    body = classic(SecretBindDTO={"SubsId": "S1", "SecretNo": X, "Extension": ""})
    assert effect_of(exchange("aliyun", action, params, 200, body), STARTED) == CreateBinding(
        "S1", mode, X, A, B, "FC1", 3600.0, extra={"OutId": "op-1"})


def test_aliyun_work_numbers() -> None:
    bound = exchange("aliyun", "BindXB", {"pool_key": "FC1", "ReqId": "r1", "x": X, "b": B}, 200,
                     work(AuthId="W1", TelX=X))
    assert effect_of(bound, STARTED) == CreateBinding("W1", "XB", X, None, B, "FC1", extra={"ReqId": "r1"})
    call = exchange("aliyun", "BindAXBCall", {"pool_key": "FC1", "ReqId": "r2", "binding_id": "W1", "a": A,
                                              "expiration": "600"}, 200, work(BindId="C1"))
    assert effect_of(call, STARTED) == CreateBinding("C1", "AXB", None, A, None, "FC1", 600.0, numbers_of="W1",
                                                     extra={"ReqId": "r2", "AuthId": "W1"})


@pytest.mark.parametrize("action, params, body", [
    ("UnbindSubscription", {"binding_id": "S1", "x": X, "pool_key": "FC1"}, classic()),
    ("UnBindXB", {"binding_id": "S1", "x": X, "pool_key": "FC1", "ReqId": "r"}, work(Code="0000")),
    ("UnBindAXB", {"binding_id": "S1", "pool_key": "FC1", "ReqId": "r"}, work(Code="0000")),
])
def test_aliyun_unbinds(action: str, params: dict, body: dict) -> None:
    assert effect_of(exchange("aliyun", action, params, 200, body), STARTED) == DeleteBinding("S1")


def test_aliyun_update_and_refusals() -> None:
    update = exchange("aliyun", "UpdateSubscription", {"binding_id": "S1", "x": X, "OperateType": "updateNoB",
                                                       "b": "13800000009"}, 200, classic())
    assert effect_of(update, STARTED) == UpdateBinding("S1", b="13800000009")
    conflict = exchange("aliyun", "BindAxb", {"a": A, "b": B}, 200, {"Code": "isv.BIND_CONFLICT", "Message": "m"})
    gone = exchange("aliyun", "UnbindSubscription", {"binding_id": "S1"}, 200, {"Code": "isv.SUBS_NOT_EXIST"})
    gateway = exchange("aliyun", "BindAxb", {"a": A, "b": B}, 503, {"Code": "ServiceUnavailable"})
    failed_work = exchange("aliyun", "BindXB", {"b": B}, 200, {"Code": "isv.X", "Success": False, "Data": None})
    assert [outcome(e) for e in (conflict, gone, gateway, failed_work)] == [REFUSED, NOT_FOUND, UNKNOWN, REFUSED]
    assert all(effect_of(e, STARTED) is None for e in (conflict, gone, gateway, failed_work))


def test_a_proxy_trace_body_kept_as_text_is_read_as_json() -> None:
    body = json.dumps(classic(SecretBindDTO={"SubsId": "S1", "SecretNo": "+86" + X}))
    created = effect_of(exchange("aliyun", "BindAxb", {"a": A, "b": B}, 200, body), STARTED)
    assert isinstance(created, CreateBinding) and (created.binding_id, created.x) == ("S1", X)


def test_aliyun_answers_that_show_bindings() -> None:
    detail = classic(SecretBindDetailDTO={"SubsId": "S1", "PhoneNoA": A, "PhoneNoB": B, "PhoneNoX": X, "Status": 1,
                                          "ExpireDate": "2026-01-01 09:00:00"})
    [shown] = bindings_shown(exchange("aliyun", "QuerySubscriptionDetail", {"binding_id": "S1", "x": X}, 200, detail))
    assert (shown.binding_id, shown.mode, shown.x, shown.a, shown.b, shown.expires_at) == (
        "S1", "AXB", X, A, B, STARTED + 3600)


# ---- Tencent ---------------------------------------------------------------------------------------


def npp(**fields: Any) -> dict[str, Any]:
    return {"Response": {"RequestId": "R", **fields}}


def test_tencent_get_virtual_num_counts_references() -> None:
    params = {"pool_key": "app", "a": A, "b": B, "expiration": "7200", "BizId": "order-1"}
    made = effect_of(exchange("tencent", "GetVirtualNum", params, 200,
                              npp(ErrorCode="0", BindId="T1", VirtualNum="0086" + X, RefNum="2")), STARTED)
    assert isinstance(made, CreateBinding)
    assert (made.binding_id, made.mode, made.x, made.a, made.b, made.expires_in) == ("T1", "AXB", X, A, B, 7200.0)
    assert made.extra["tencent"]["ref_num"] == 2 and made.extra["tencent"]["biz_app_id"] == "app"
    xb = effect_of(exchange("tencent", "GetVirtualNum", {"pool_key": "app", "b": B}, 200,
                            npp(ErrorCode="0", BindId="T2", VirtualNum="0086" + X, RefNum="1")), STARTED)
    assert isinstance(xb, CreateBinding) and (xb.mode, xb.a, xb.expires_in) == ("XB", None, 24 * 3600.0)


def test_tencent_del_virtual_num_releases_at_the_last_reference() -> None:
    def released(left: str) -> Any:
        return effect_of(exchange("tencent", "DelVirtualNum", {"binding_id": "T1"}, 200,
                                  npp(ErrorCode="0", BindId="T1", RefLeftNum=left)), STARTED)

    assert released("0") == DeleteBinding("T1")
    assert released("1") == UpdateBinding("T1", extra={"tencent": {"ref_num": 1}})


def test_tencent_outcomes() -> None:
    def said(status: int, body: Any) -> str:
        return outcome(exchange("tencent", "GetVirtualNum", {}, status, body))

    assert said(200, npp(ErrorCode="0", BindId="T1")) == OK
    assert said(200, npp(ErrorCode="-204", Msg="m")) == NOT_FOUND
    assert said(200, npp(ErrorCode="-106", Msg="m")) == REFUSED
    assert said(200, npp(Error={"Code": "RequestLimitExceeded", "Message": "m"})) == REFUSED
    assert said(200, npp(Error={"Code": "InternalError", "Message": "m"})) == UNKNOWN
    assert said(503, npp(Error={"Code": "ServiceUnavailable", "Message": "m"})) == UNKNOWN
    assert outcome(exchange("tencent", "GetVirtualNum", {}, None, failure=Failure("reset"))) == UNKNOWN


# ---- volcengine -------------------------------------------------------------------------------------


def vms_ok(result: Any) -> dict[str, Any]:
    return {"ResponseMetadata": {"RequestId": "r", "Action": "BindAXB", "Version": "2022-01-01"}, "Result": result}


def test_volcengine_binds_and_unbinds_as_the_dialect_keeps_them() -> None:
    pool = {"pool_key": "NP000000000000000001", "expiration": STARTED + 3610}
    axb = effect_of(exchange("volcengine", "BindAXB", {"x": X, "a": A, "b": B, **pool}, 200,
                             vms_ok({"SubId": "S1", "PhoneNoX": X})), STARTED)
    # NumberPoolNo is the vms key's pool, not a ledger pool: the binding goes to the replaying provider's own
    # pool (None), where the dialect's lookups see it.
    assert axb == CreateBinding("S1", "AXB", X, A, B, None, 3600.0,
                                extra={"volcengine": {"number_pool_no": "NP000000000000000001"}})
    axn = effect_of(exchange("volcengine", "SelectNumberAndBindAXN", {"a": A, "b": B, **pool}, 200,
                             vms_ok({"SubId": "S2", "PhoneNoX": X})), STARTED)
    assert (axn.mode, axn.x, axn.a, axn.b) == ("XB", X, None, A)  # every caller reaches A: the ledger's b
    assert effect_of(exchange("volcengine", "UnbindAXB", {"binding_id": "S1"}, 200, vms_ok(True)), STARTED) == \
        DeleteBinding("S1")
    refused = {"ResponseMetadata": {"RequestId": "r", "Error": {"Code": "SubIdNotExist", "Message": "no"}}}
    assert outcome(exchange("volcengine", "UnbindAXB", {"binding_id": "S9"}, 400, refused)) == NOT_FOUND
    busy = {"ResponseMetadata": {"RequestId": "r", "Error": {"Code": "InternalError", "Message": "oops"}}}
    assert outcome(exchange("volcengine", "BindAXB", {"x": X}, 500, busy)) == UNKNOWN
    ghost = exchange("volcengine", "BindAXB", {"x": X, "a": A, "b": B}, 503, busy, applied=True,
                     hidden={"status": 200, "body": vms_ok({"SubId": "S3", "PhoneNoX": X})})
    assert effect_of(ghost, STARTED).binding_id == "S3"  # the binding a lost answer made


def test_volcengine_updates_lookups_and_conflicts() -> None:
    assert effect_of(exchange("volcengine", "UpdateAXN", {"binding_id": "S2", "UpdateType": "updatePhoneNoA",
                                                          "a": B}, 200, vms_ok(True)), STARTED) == \
        UpdateBinding("S2", b=B)  # an AXN's A is the ledger's b
    assert effect_of(exchange("volcengine", "UpdateAXB", {"binding_id": "S1", "UpdateType": "updateExpireTime",
                                                          "expiration": STARTED + 7210}, 200, vms_ok(True)),
                     STARTED) == UpdateBinding("S1", expires_in=7200.0)
    row = {"SubId": "S1", "PhoneNoX": X, "PhoneNoA": A, "PhoneNoB": B, "Status": 1, "ExpireTime": STARTED + 60}
    axn_row = {**row, "SubId": "S2", "PhoneNoB": ""}
    gone = {**row, "SubId": "S3", "Status": 2}
    listed = exchange("volcengine", "QuerySubscriptionForList", {"x": X}, 200,
                      vms_ok({"Records": [row, axn_row, gone], "Total": 3}))
    assert [(s.binding_id, s.mode, s.x, s.a, s.b) for s in bindings_shown(listed)] == [
        ("S1", "AXB", X, A, B), ("S2", "XB", X, None, A)]  # the expired one is not shown
    assert bindings_shown(exchange("volcengine", "QuerySubscription", {"binding_id": "S1"}, 200, vms_ok(row)))[0] \
        .expires_at == STARTED + 60
    conflict = {"ResponseMetadata": {"RequestId": "r", "Error": {"Code": "BindConflict", "Message": "taken"}}}
    assert is_conflict(exchange("volcengine", "BindAXB", {"x": X, "a": A, "b": B}, 400, conflict))
