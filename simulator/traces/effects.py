"""What a recorded exchange did to the provider's state, read per dialect from its parameters and the answer.

A replay keeps the ledger as the provider's truth: when it answers a request with a recorded exchange it
applies that exchange's effect (create, delete or update a binding), and before it starts it loads the
bindings the trace shows that no recorded exchange made. This module only reads exchanges; it never
touches a ledger, so the rules are testable on their own.

- `outcome(exchange)`: "ok", "not_found", "refused" or "unknown" (the client cannot tell what happened).
- `effect_of(exchange, started_at)`: the change a successful answer shows (or, for `applied: true`, the
  answer a lost reply hid: `provider_response`); None when it changed nothing.
- `requested(exchange)` / `addressed_id(exchange)`: what a create asked for / which binding a call names,
  for the rule that decides whether a failed call of unknown outcome took effect (replay_index.plan_replay).
- `bindings_shown(exchange)`: the active bindings an answer (or a successful call's parameters) shows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping

from .format import Exchange
from .meaning import national

OK, NOT_FOUND, REFUSED, UNKNOWN = "ok", "not_found", "refused", "unknown"
BEIJING = timezone(timedelta(hours=8))  # dyplsapi's times are Beijing time, `yyyy-MM-dd HH:mm:ss`
TENCENT_DEFAULT_ASSIGN = 24 * 3600.0  # GetVirtualNum's MaxAssignTime when none is given
# Values dyplsapi keeps with a binding (simulator/dialects/aliyun/actions.py KEPT_FIELDS), by the name they keep
# in a trace's params.
ALIYUN_KEPT = ("OutId", "OutOrderId", "IsRecordingEnabled", "CallRestrict", "ASRStatus", "ASRModelId", "UserData",
               "ReqId")
ALIYUN_CREATES = {"BindAxb": "AXB", "BindAxn": "AXN", "BindXB": "XB", "BindAXBCall": "AXB"}
ALIYUN_DELETES = {"UnbindSubscription": "AXB", "UnBindXB": "XB", "UnBindAXB": "AXB"}
ALIYUN_NOT_FOUND = ("isv.SUBS_NOT_EXIST",)
TENCENT_NOT_FOUND = ("-204",)
TENCENT_CONFLICT = "-106"
# Tencent gateway errors that mean "not served": throttled is a refusal, the rest leave the outcome unknown.
TENCENT_UNKNOWN_GATEWAY = ("InternalError", "ServiceUnavailable")
NATIVE_NOT_FOUND = ("BINDING_NOT_FOUND",)
VOLCENGINE_CREATES = {"BindAXB": "AXB", "SelectNumberAndBindAXB": "AXB", "BindAXN": "AXN",
                      "SelectNumberAndBindAXN": "AXN"}
VOLCENGINE_DELETES = frozenset({"UnbindAXB", "UnbindAXN"})
VOLCENGINE_UPDATES = frozenset({"UpdateAXB", "UpdateAXN"})
VOLCENGINE_CONFLICT = "BindConflict"
VOLCENGINE_NOT_FOUND = ("SubIdNotExist",)
# Gateway answers after which the provider may or may not have acted.
VOLCENGINE_UNKNOWN = ("InternalError", "ServiceUnavailableTemp")


@dataclass(frozen=True)
class CreateBinding:
    binding_id: str
    mode: str  # XB | AXB | AXN
    x: str | None  # None only with `numbers_of`
    a: str | None
    b: str | None
    pool_key: str | None = None  # None: the replaying provider's pool for this dialect
    expires_in: float | None = None  # seconds after the answer; None: never expires
    numbers_of: str | None = None  # take X and B from this binding (Aliyun BindAXBCall on a work number)
    extra: Mapping[str, Any] = field(default_factory=dict)  # what the dialect keeps with the binding


@dataclass(frozen=True)
class DeleteBinding:
    binding_id: str


@dataclass(frozen=True)
class UpdateBinding:
    binding_id: str
    a: str | None = None
    b: str | None = None
    expires_in: float | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)  # merged one level deep into the binding's extra


Effect = CreateBinding | DeleteBinding | UpdateBinding


@dataclass(frozen=True)
class ShownBinding:
    """What an exchange shows of one active binding; fields it does not show are None."""

    binding_id: str
    mode: str | None = None
    x: str | None = None
    a: str | None = None
    b: str | None = None
    pool_key: str | None = None
    expires_at: float | None = None  # epoch seconds on the recording's clock


@dataclass(frozen=True)
class Requested:
    """The binding a create asked for (to recognise it later in the trace)."""

    mode: str
    x: str | None
    a: str | None
    b: str | None


# ---- outcome -------------------------------------------------------------------


def body_of(answer: Mapping[str, Any] | None) -> Any:
    """The answer's body as data: a trace keeps JSON as an object, a proxy or HAR import may keep text."""
    if not answer:
        return None
    body = answer.get("body")
    if isinstance(body, (str, bytes)):
        try:
            return json.loads(body)
        except (ValueError, RecursionError):
            return body
    return body


def outcome(exchange: Exchange) -> str:
    return answer_outcome(exchange.dialect, exchange.response if exchange.failure is None else None)


def answer_outcome(dialect: str, answer: Mapping[str, Any] | None) -> str:
    """What an answer says happened: ok, not_found, refused, or unknown (no answer, a 5xx, an unreadable body)."""
    if not answer or not isinstance(answer.get("status"), int):
        return UNKNOWN
    status, body = answer["status"], body_of(answer)
    if dialect == "native":
        if 200 <= status < 300:
            return OK
        if status >= 500 or not isinstance(body, dict):
            return UNKNOWN
        return NOT_FOUND if body.get("code") in NATIVE_NOT_FOUND else REFUSED
    if dialect == "aliyun":
        if status >= 500 or not isinstance(body, dict):
            return UNKNOWN
        code = str(body.get("Code"))
        if status == 200 and code in ("OK", "0000") and body.get("Success", True) is not False:
            return OK
        return NOT_FOUND if code in ALIYUN_NOT_FOUND else REFUSED
    if dialect == "tencent":
        reply = body.get("Response") if isinstance(body, dict) else None
        if status != 200 or not isinstance(reply, dict):
            return UNKNOWN
        error = reply.get("Error")
        if isinstance(error, dict):
            return UNKNOWN if error.get("Code") in TENCENT_UNKNOWN_GATEWAY else REFUSED
        code = str(reply.get("ErrorCode", "0"))
        if code == "0":
            return OK
        return NOT_FOUND if code in TENCENT_NOT_FOUND else REFUSED
    if dialect == "volcengine":
        meta = body.get("ResponseMetadata") if isinstance(body, dict) else None
        if status >= 500 or not isinstance(meta, dict):
            return UNKNOWN
        error = meta.get("Error")
        if not error:
            return OK if 200 <= status < 300 else UNKNOWN
        code = str(error.get("Code")) if isinstance(error, dict) else ""
        if code in VOLCENGINE_UNKNOWN:
            return UNKNOWN
        return NOT_FOUND if code in VOLCENGINE_NOT_FOUND else REFUSED
    return UNKNOWN


def effect_answer(exchange: Exchange, said: str | None = None) -> Mapping[str, Any] | None:
    """The answer that shows what the provider did: the client's, when it succeeded; else, for an exchange the
    recorder knows was applied, what the provider answered before the reply was lost. (`said`: its outcome,
    when the caller has it already.)"""
    if (outcome(exchange) if said is None else said) == OK:
        return exchange.response
    hidden = exchange.provider_response
    if exchange.applied is True and hidden and answer_outcome(exchange.dialect, hidden) == OK:
        return hidden
    return None


# ---- effects -------------------------------------------------------------------


def effect_of(exchange: Exchange, started_at: float, said: str | None = None) -> Effect | None:
    """The change `exchange` made, when its answer (or the one a lost reply hid) shows one."""
    answer = effect_answer(exchange, said)
    if answer is None:
        return None
    answered_at = started_at + exchange.offset + exchange.latency
    read = _EFFECTS.get(exchange.dialect)
    return None if read is None else read(exchange.action, exchange.params, body_of(answer), answered_at)


def _native_effect(action: str, params: Mapping[str, Any], body: Any, answered_at: float) -> Effect | None:
    if not isinstance(body, dict):
        return None
    if action == "create_binding" and body.get("binding_id") and body.get("x"):
        expires_in = _until(_iso_epoch(body.get("expires_at")), answered_at)
        return CreateBinding(str(body["binding_id"]), str(body.get("mode") or params.get("mode")), str(body["x"]),
                             body.get("a"), body.get("b"), None, expires_in)
    if action == "delete_binding":
        binding_id = params.get("binding_id") or body.get("binding_id")
        return DeleteBinding(str(binding_id)) if binding_id else None
    if action == "update_binding" and params.get("binding_id"):
        return UpdateBinding(str(params["binding_id"]), _str(body.get("a")), _str(body.get("b")),
                             _until(_iso_epoch(body.get("expires_at")), answered_at))
    return None


def _aliyun_effect(action: str, params: Mapping[str, Any], body: Any, answered_at: float) -> Effect | None:
    if not isinstance(body, dict):
        return None
    kept = {k: params[k] for k in ALIYUN_KEPT if k in params}
    pool_key = _str(params.get("pool_key"))
    if action in ("BindAxb", "BindAxn"):
        dto = body.get("SecretBindDTO")
        if not isinstance(dto, dict) or not dto.get("SubsId"):
            return None
        x = national(str(dto.get("SecretNo") or params.get("x") or "")) or None
        expires_in = _until(_beijing_epoch(params.get("expiration")), answered_at)
        return CreateBinding(str(dto["SubsId"]), ALIYUN_CREATES[action], x, _str(params.get("a")),
                             _str(params.get("b")), pool_key, expires_in, extra=kept)
    data = body.get("Data")
    if action == "BindXB" and isinstance(data, dict) and data.get("AuthId"):
        x = national(str(data.get("TelX") or params.get("x") or "")) or None
        return CreateBinding(str(data["AuthId"]), "XB", x, None, _str(params.get("b")), pool_key, extra=kept)
    if action == "BindAXBCall" and isinstance(data, dict) and data.get("BindId") and params.get("binding_id"):
        work = str(params["binding_id"])
        return CreateBinding(str(data["BindId"]), "AXB", None, _str(params.get("a")), None, pool_key,
                             _float(params.get("expiration")), numbers_of=work, extra={**kept, "AuthId": work})
    if action in ALIYUN_DELETES and params.get("binding_id"):
        return DeleteBinding(str(params["binding_id"]))
    if action == "UpdateSubscription" and params.get("binding_id"):
        operation = params.get("OperateType")
        if operation == "updateNoA":
            return UpdateBinding(str(params["binding_id"]), a=_str(params.get("a")))
        if operation == "updateNoB":
            return UpdateBinding(str(params["binding_id"]), b=_str(params.get("b")))
        if operation == "updateExpire":
            return UpdateBinding(str(params["binding_id"]),
                                 expires_in=_until(_beijing_epoch(params.get("expiration")), answered_at))
    return None


def _tencent_effect(action: str, params: Mapping[str, Any], body: Any, answered_at: float) -> Effect | None:
    reply = body.get("Response") if isinstance(body, dict) else None
    if not isinstance(reply, dict) or not reply.get("BindId"):
        return None
    binding_id = str(reply["BindId"])
    if action == "GetVirtualNum":
        a = _str(params.get("a"))
        assign = _float(params.get("expiration"))
        tencent = {
            "biz_app_id": _str(params.get("pool_key")),
            "ref_num": _int(reply.get("RefNum"), 1),
            "biz_id": params.get("BizId") or None,
            "record": params.get("Record") or "0",
            "status_flag": _int(params.get("StatusFlag"), 0),
            "status_url": params.get("StatusUrl") or None,
            "hangup_url": params.get("HangupUrl") or None,
            "record_url": params.get("RecordUrl") or None,
            "accredit_list": [national(n) for n in params.get("AccreditList") or []],
            "request_id": reply.get("RequestId"),
        }
        x = national(str(reply.get("VirtualNum") or params.get("x") or "")) or None
        return CreateBinding(binding_id, "AXB" if a else "XB", x, a, _str(params.get("b")), None,
                             TENCENT_DEFAULT_ASSIGN if assign is None else assign, extra={"tencent": tencent})
    if action == "DelVirtualNum":
        left = _int(reply.get("RefLeftNum"), 0)
        if left > 0:  # one reference dropped; the binding stands
            return UpdateBinding(binding_id, extra={"tencent": {"ref_num": left}})
        return DeleteBinding(binding_id)
    return None


def _volcengine_effect(action: str, params: Mapping[str, Any], body: Any, answered_at: float) -> Effect | None:
    """vms: AXB binds are ledger AXBs; an AXN (every caller reaches A) is a ledger XB whose b is PhoneNoA."""
    result = body.get("Result") if isinstance(body, dict) else None
    if action in VOLCENGINE_CREATES and isinstance(result, dict) and result.get("SubId"):
        x = national(str(result.get("PhoneNoX") or params.get("x") or "")) or None
        expires_in = _until(_float(params.get("expiration")), answered_at)
        a, b = _str(params.get("a")), _str(params.get("b"))
        # NumberPoolNo names the vms key's pool, not a ledger pool: the binding lives in the replaying
        # provider's own pool (pool_key None), where the dialect's lookups find it.
        if VOLCENGINE_CREATES[action] == "AXB":
            return CreateBinding(str(result["SubId"]), "AXB", x, a, b, None, expires_in, extra=_vms_kept(params))
        return CreateBinding(str(result["SubId"]), "XB", x, None, a, None, expires_in,
                             extra=_vms_kept(params, phone_no_b=b))
    if action in VOLCENGINE_DELETES and params.get("binding_id"):
        return DeleteBinding(str(params["binding_id"]))
    if action in VOLCENGINE_UPDATES and result is True and params.get("binding_id"):
        binding_id, kind = str(params["binding_id"]), params.get("UpdateType")
        if kind == "updateExpireTime":
            return UpdateBinding(binding_id, expires_in=_until(_float(params.get("expiration")), answered_at))
        if kind == "updatePhoneNoA":  # an AXN's A is the ledger's b
            a = _str(params.get("a"))
            return UpdateBinding(binding_id, a=a) if action == "UpdateAXB" else UpdateBinding(binding_id, b=a)
        if kind == "updatePhoneNoB":
            b = _str(params.get("b"))
            if action == "UpdateAXB":
                return UpdateBinding(binding_id, b=b)
            return UpdateBinding(binding_id, extra={"volcengine": {"phone_no_b": b}})
        if kind == "updateUserData":
            return UpdateBinding(binding_id, extra={"volcengine": {"user_data": params.get("UserData")}})
        if kind == "updateAudioRecordFlag":
            return UpdateBinding(binding_id, extra={"volcengine": {
                "audio_record_flag": _int(params.get("AudioRecordFlag"), 1)}})
    return None


def _vms_kept(params: Mapping[str, Any], phone_no_b: str | None = None) -> dict[str, Any]:
    """What the vms dialect keeps with a binding (simulator/dialects/volcengine/actions.py), from the request."""
    kept = {"number_pool_no": _str(params.get("pool_key")), "user_data": params.get("UserData"),
            "out_id": params.get("OutId"), "phone_no_b": phone_no_b}
    if params.get("AudioRecordFlag") not in (None, ""):
        kept["audio_record_flag"] = _int(params.get("AudioRecordFlag"), 1)
    return {"volcengine": {k: v for k, v in kept.items() if v is not None}}


_EFFECTS = {"native": _native_effect, "aliyun": _aliyun_effect, "tencent": _tencent_effect,
            "volcengine": _volcengine_effect}


# ---- what a call asks for and names ----------------------------------------------


def requested(exchange: Exchange) -> Requested | None:
    """The binding a create call asked for (None: not a create, or one whose numbers it does not carry)."""
    p, dialect, action = exchange.params, exchange.dialect, exchange.action
    if dialect == "native" and action == "create_binding" and p.get("mode"):
        return Requested(str(p["mode"]), _str(p.get("x")), _str(p.get("a")), _str(p.get("b")))
    if dialect == "aliyun" and action in ("BindAxb", "BindAxn", "BindXB"):
        return Requested(ALIYUN_CREATES[action], _str(p.get("x")), _str(p.get("a")), _str(p.get("b")))
    if dialect == "tencent" and action == "GetVirtualNum":
        a = _str(p.get("a"))
        return Requested("AXB" if a else "XB", _str(p.get("x")), a, _str(p.get("b")))
    if dialect == "volcengine" and action in VOLCENGINE_CREATES:
        if VOLCENGINE_CREATES[action] == "AXB":
            return Requested("AXB", _str(p.get("x")), _str(p.get("a")), _str(p.get("b")))
        return Requested("XB", _str(p.get("x")), None, _str(p.get("a")))
    return None


def addressed_id(exchange: Exchange) -> str | None:
    """The binding a call names by id (a delete, an update, a query), if any."""
    value = exchange.params.get("binding_id")
    return str(value) if value else None


def is_conflict(exchange: Exchange) -> bool:
    """A create refused because the binding (or one with its numbers) is already there."""
    if exchange.failure is not None or outcome(exchange) != REFUSED:
        return False
    body = body_of(exchange.response)
    if not isinstance(body, dict):
        return False
    if exchange.dialect == "native":
        return body.get("code") == "BIND_CONFLICT"
    if exchange.dialect == "aliyun":
        return body.get("Code") == "isv.BIND_CONFLICT"
    if exchange.dialect == "volcengine":
        return _vms_error_code(body) == VOLCENGINE_CONFLICT
    reply = body.get("Response")
    return isinstance(reply, dict) and str(reply.get("ErrorCode")) == TENCENT_CONFLICT


def _vms_error_code(body: Mapping[str, Any]) -> str | None:
    meta = body.get("ResponseMetadata")
    error = meta.get("Error") if isinstance(meta, dict) else None
    return str(error.get("Code")) if isinstance(error, dict) and error.get("Code") is not None else None


def is_delete(exchange: Exchange) -> bool:
    return (exchange.dialect, exchange.action) in {("native", "delete_binding"), ("tencent", "DelVirtualNum")} or (
        exchange.dialect == "aliyun" and exchange.action in ALIYUN_DELETES) or (
        exchange.dialect == "volcengine" and exchange.action in VOLCENGINE_DELETES)


def bindings_shown(exchange: Exchange, said: str | None = None) -> list[ShownBinding]:
    """Active bindings a successful exchange shows exist: in its answer, or named by its parameters."""
    if (outcome(exchange) if said is None else said) != OK:
        return []
    body, p = body_of(exchange.response), exchange.params
    if exchange.dialect == "native":
        rows = body.get("bindings") if isinstance(body, dict) and "bindings" in body else [body]
        return [_native_shown(row) for row in rows or []
                if isinstance(row, dict) and row.get("binding_id") and row.get("status") == "active"]
    if exchange.dialect == "aliyun":
        return _aliyun_shown(exchange.action, p, body)
    if exchange.dialect == "tencent" and exchange.action == "DelVirtualNum" and p.get("binding_id"):
        return [ShownBinding(str(p["binding_id"]))]
    if exchange.dialect == "volcengine":
        return _vms_shown(exchange.action, p, body)
    return []


def _native_shown(row: Mapping[str, Any]) -> ShownBinding:
    return ShownBinding(str(row["binding_id"]), _str(row.get("mode")), _str(row.get("x")), _str(row.get("a")),
                        _str(row.get("b")), None, _iso_epoch(row.get("expires_at")))


def _aliyun_shown(action: str, p: Mapping[str, Any], body: Any) -> list[ShownBinding]:
    pool_key = _str(p.get("pool_key"))
    if action == "QuerySubscriptionDetail" and isinstance(body, dict):
        detail = body.get("SecretBindDetailDTO")
        if not isinstance(detail, dict) or not detail.get("SubsId") or str(detail.get("Status", 1)) != "1":
            return []
        a, b = _number(detail.get("PhoneNoA")), _number(detail.get("PhoneNoB"))
        return [ShownBinding(str(detail["SubsId"]), "AXB" if a and b else "AXN", _number(detail.get("PhoneNoX")),
                             a, b, pool_key, _beijing_epoch(detail.get("ExpireDate")))]
    if action == "QuerySubsId" and isinstance(body, dict) and body.get("SubsId"):  # every one on X, comma-separated
        return [ShownBinding(subs.strip(), None, _str(p.get("x")), pool_key=pool_key)
                for subs in str(body["SubsId"]).split(",") if subs.strip()]
    if action in ALIYUN_DELETES and p.get("binding_id"):
        return [ShownBinding(str(p["binding_id"]), ALIYUN_DELETES[action], _str(p.get("x")), pool_key=pool_key)]
    if action == "UpdateSubscription" and p.get("binding_id"):
        return [ShownBinding(str(p["binding_id"]), None, _str(p.get("x")), pool_key=pool_key)]
    return []


def _vms_shown(action: str, p: Mapping[str, Any], body: Any) -> list[ShownBinding]:
    """vms lookups show Subscriptions (Status 1 bound); an unbind or update names a binding that stood."""
    result = body.get("Result") if isinstance(body, dict) else None
    if action == "QuerySubscription" and isinstance(result, dict):
        return [shown for shown in (_subscription(result),) if shown is not None]
    if action == "QuerySubscriptionForList" and isinstance(result, dict):
        rows = result.get("Records") if isinstance(result.get("Records"), list) else []
        return [shown for row in rows if isinstance(row, dict) and (shown := _subscription(row)) is not None]
    if action in VOLCENGINE_DELETES | VOLCENGINE_UPDATES and p.get("binding_id"):
        return [ShownBinding(str(p["binding_id"]), "AXB" if action.endswith("AXB") else "XB")]
    return []


def _subscription(row: Mapping[str, Any]) -> ShownBinding | None:
    """A bound Subscription as the ledger holds it: both parties -> AXB; A alone -> the XB an AXN is (b = A).
    (An AXN made with a PhoneNoB reads as AXB here: the Subscription does not say its family.)"""
    if not row.get("SubId") or str(row.get("Status", 1)) != "1":
        return None
    a, b = _number(row.get("PhoneNoA")), _number(row.get("PhoneNoB"))
    expires_at = _float(row.get("ExpireTime"))
    if a and b:
        return ShownBinding(str(row["SubId"]), "AXB", _number(row.get("PhoneNoX")), a, b, None, expires_at)
    return ShownBinding(str(row["SubId"]), "XB", _number(row.get("PhoneNoX")), None, a, None, expires_at)


def numbers_shown(exchange: Exchange) -> list[str]:
    """X numbers an exchange names: its `x` parameter, and the numbers a pool listing answers with."""
    found = [n for n in (_number(exchange.params.get("x")),) if n]
    body = body_of(exchange.response)
    if exchange.dialect == "aliyun" and exchange.action == "ListXTelephones" and isinstance(body, dict):
        data = body.get("Data") if isinstance(body.get("Data"), dict) else body
        found += [n for row in data.get("List") or [] if isinstance(row, dict) and (n := _number(row.get("Telephone")))]
    if exchange.dialect == "volcengine" and exchange.action == "NumberList" and isinstance(body, dict):
        result = body.get("Result") if isinstance(body.get("Result"), dict) else {}
        found += [n for row in result.get("Records") or [] if isinstance(row, dict) and (n := _number(row.get("Number")))]
    if exchange.dialect == "native" and exchange.action == "list_numbers" and isinstance(body, dict):
        found += [n for row in body.get("numbers") or [] if isinstance(row, dict) and (n := _number(row.get("x")))]
    return found


# ---- small readers ---------------------------------------------------------------


def _str(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _number(value: Any) -> str | None:
    return national(str(value)) if value not in (None, "") else None


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _until(at: float | None, answered_at: float) -> float | None:
    return None if at is None else at - answered_at


def _iso_epoch(value: Any) -> float | None:
    """RFC 3339 (the native API's times) -> epoch seconds; None when absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _beijing_epoch(value: Any) -> float | None:
    """dyplsapi's `yyyy-MM-dd HH:mm:ss` (Beijing time) -> epoch seconds; None when absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING).timestamp()
    except ValueError:
        return None
