"""vms actions: a table action name -> handler. Each handler checks content, calls the ledger, returns `Result`.

Handlers raise VolcError (or let a LedgerError through: the dialect maps it once,
in errors.py); the envelope is wire.py's.

Two binding families share the ledger:
- AXB (BindAXB, SelectNumberAndBindAXB, ...): a ledger AXB, A and B as given;
- AXN (BindAXN, ...): any caller dialling X reaches A, which is the ledger's XB
  with b = PhoneNoA; the optional PhoneNoB (the one number whose calls to X go
  elsewhere) is kept beside it in the binding's `volcengine` extra.
A SubId is the ledger's binding id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ...config import VolcengineCredentials
from ...errors import LedgerError, short_repr
from ...ledger import Binding, Ledger
from . import errors as codes
from .errors import VolcError
from .wire import number

MAX_USER_DATA = 2048
LATEST_EXPIRY = 2145888000  # 2038-01-01 00:00:00 +08:00, the vendor's upper bound
MIN_LEAD_SECONDS = 60  # ExpireTime must be more than a minute away
DEFAULT_LIMIT, MAX_LIMIT = 20, 100
ACTIVE, EXPIRED = 1, 2  # Subscription.Status
FAMILY_MODE = {"AXB": "AXB", "AXN": "XB"}


@dataclass(frozen=True)
class ActionContext:
    ledger: Ledger
    pool_key: str
    credentials: VolcengineCredentials
    request_id: str


Handler = Callable[[ActionContext, dict[str, Any]], Any]


def _check_pool(ctx: ActionContext, params: dict[str, Any]) -> None:
    pool = params.get("NumberPoolNo")
    if pool is not None and pool != ctx.credentials.number_pool_no:
        raise VolcError(codes.NUMBER_POOL_NOT_EXIST, f"NumberPoolNo {short_repr(pool)} is not a pool of this AccessKey")


def _expiry(ctx: ActionContext, raw: int) -> float:
    now = ctx.ledger.clock.now()
    if raw <= now + MIN_LEAD_SECONDS or raw >= LATEST_EXPIRY:
        raise VolcError(codes.INVALID_EXPIRE_TIME, f"ExpireTime {raw} must be more than {MIN_LEAD_SECONDS} s after "
                        f"now ({int(now)}) and before 2038-01-01")
    return float(raw)


def _flag(params: dict[str, Any], name: str, default: int) -> int:
    value = params.get(name, default)
    if value not in (0, 1):
        raise VolcError(codes.INVALID_PARAMETER, f"{name} must be 0 or 1, got {value}")
    return value


def _extra(ctx: ActionContext, params: dict[str, Any], phone_no_b: str | None = None) -> dict[str, Any]:
    user_data = params.get("UserData")
    if user_data is not None and len(user_data) > MAX_USER_DATA:
        raise VolcError(codes.INVALID_PARAMETER, f"UserData is longer than {MAX_USER_DATA} characters")
    return {"volcengine": {
        "number_pool_no": ctx.credentials.number_pool_no,
        "audio_record_flag": _flag(params, "AudioRecordFlag", 1),
        "user_data": user_data,
        "out_id": params.get("OutId"),
        "phone_no_b": phone_no_b,
        "request_id": ctx.request_id,
    }}


def _data(binding: Binding) -> dict[str, Any]:
    return binding.extra.get("volcengine") or {}


def _bind(ctx: ActionContext, params: dict[str, Any], family: str, select: bool) -> dict[str, Any]:
    _check_pool(ctx, params)
    expires_at = _expiry(ctx, params["ExpireTime"])
    a = number(params["PhoneNoA"], "PhoneNoA")
    b = number(params["PhoneNoB"], "PhoneNoB") if params.get("PhoneNoB") else None
    x = None if select else number(params["PhoneNoX"], "PhoneNoX")
    if family == "AXB":
        if a == b:
            raise VolcError(codes.INVALID_PHONE_NUMBER, "PhoneNoA and PhoneNoB must be different numbers")
        binding = ctx.ledger.create_binding("AXB", a=a, b=b, x=x, city=params.get("CityCode"), pool_key=ctx.pool_key,
                                            expires_at=expires_at, extra=_extra(ctx, params))
    else:
        binding = ctx.ledger.create_binding("XB", b=a, x=x, city=params.get("CityCode"), pool_key=ctx.pool_key,
                                            expires_at=expires_at, extra=_extra(ctx, params, phone_no_b=b))
    return _bound(binding)


def _bound(binding: Binding) -> dict[str, Any]:
    sub = subscription(binding)
    return {"PhoneNoX": sub["PhoneNoX"], "SubId": sub["SubId"], "Status": sub["Status"],
            "PhoneNoA": sub["PhoneNoA"], "PhoneNoB": sub["PhoneNoB"]}


def subscription(binding: Binding) -> dict[str, Any]:
    """A binding as vms shows it (`Subscription`): AXN shows the ledger's b as PhoneNoA."""
    data = _data(binding)
    if binding.mode == "AXB":
        a, b = binding.a, binding.b
    else:
        a, b = binding.b, data.get("phone_no_b")
    return {
        "SubId": binding.binding_id,
        "PhoneNoA": a or "",
        "PhoneNoB": b or "",
        "PhoneNoX": binding.x,
        "Status": ACTIVE if binding.status == "active" else EXPIRED,
        "RecordFlag": data.get("audio_record_flag", 1),
        "EnableTime": int(binding.created_at),
        "ExpireTime": int(binding.expires_at) if binding.expires_at is not None else None,
        "UserData": data.get("user_data") or "",
        "OutId": data.get("out_id") or "",
    }


def _find(ctx: ActionContext, params: dict[str, Any], family: str | None) -> Binding:
    _check_pool(ctx, params)
    binding = ctx.ledger.binding(params["SubId"], as_queried=True)
    if binding.pool_key != ctx.pool_key or (family is not None and binding.mode != FAMILY_MODE[family]):
        raise VolcError(codes.SUB_ID_NOT_EXIST, f"SubId {short_repr(params['SubId'])} is not a {family or 'vms'} "
                        "subscription of this pool")
    return binding


def _unbind(ctx: ActionContext, params: dict[str, Any], family: str) -> bool:
    _check_pool(ctx, params)
    binding = ctx.ledger.binding(params["SubId"])
    if binding.pool_key != ctx.pool_key or binding.mode != FAMILY_MODE[family]:
        raise VolcError(codes.SUB_ID_NOT_EXIST, f"SubId {short_repr(params['SubId'])} is not a {family} subscription")
    ctx.ledger.delete_binding(binding.binding_id)
    return True


UPDATE_TYPES = {"updateExpireTime": "ExpireTime", "updatePhoneNoA": "PhoneNoA", "updatePhoneNoB": "PhoneNoB",
                "updateAudioRecordFlag": "AudioRecordFlag", "updateUserData": "UserData"}


def _update(ctx: ActionContext, params: dict[str, Any], family: str) -> bool:
    kind = params["UpdateType"]
    field = UPDATE_TYPES.get(kind)
    if field is None:
        raise VolcError(codes.INVALID_PARAMETER, f"UpdateType must be one of {', '.join(UPDATE_TYPES)}, got "
                        f"{short_repr(kind)}")
    if field not in params:
        raise VolcError(codes.MISSING_PARAMETER, f"UpdateType {kind} needs {field}")
    binding = _find(ctx, params, family)
    if binding.status != "active":
        raise VolcError(codes.SUB_ID_NOT_EXIST, f"SubId {binding.binding_id} has expired")
    data = dict(_data(binding))
    changes: dict[str, Any] = {}
    if field == "ExpireTime":
        changes["expires_at"] = _expiry(ctx, params["ExpireTime"])
    elif field == "AudioRecordFlag":
        data["audio_record_flag"] = _flag(params, "AudioRecordFlag", 1)
    elif field == "UserData":
        data["user_data"] = _extra(ctx, params)["volcengine"]["user_data"]
    elif family == "AXB":
        changes["a" if field == "PhoneNoA" else "b"] = number(params[field], field)
    elif field == "PhoneNoA":
        changes["b"] = number(params["PhoneNoA"], "PhoneNoA")  # AXN's A is the ledger's b
    else:
        data["phone_no_b"] = number(params["PhoneNoB"], "PhoneNoB")
    ctx.ledger.update_binding(binding.binding_id, **changes, extra={"volcengine": data})
    return True


def query_subscription(ctx: ActionContext, params: dict[str, Any]) -> dict[str, Any]:
    return subscription(_find(ctx, params, None))


def query_subscription_for_list(ctx: ActionContext, params: dict[str, Any]) -> dict[str, Any]:
    _check_pool(ctx, params)
    offset, limit = _page(params)
    status = params.get("Status")
    if status not in (None, ACTIVE, EXPIRED):
        raise VolcError(codes.INVALID_PARAMETER, f"Status must be {ACTIVE} (bound) or {EXPIRED} (expired), got {status}")
    x = number(params["PhoneNoX"], "PhoneNoX") if params.get("PhoneNoX") else None
    rows = []
    for binding in ctx.ledger.bindings(x=x, pool_key=ctx.pool_key, status=None, as_queried=True):
        if binding.mode not in FAMILY_MODE.values():
            continue
        sub = subscription(binding)
        if (status is not None and sub["Status"] != status) or (params.get("SubId") and sub["SubId"] != params["SubId"]):
            continue
        if any(params.get(f) and number(params[f], f) != sub[f] for f in ("PhoneNoA", "PhoneNoB")):
            continue
        rows.append(sub)
    return {"Records": rows[offset : offset + limit], "Limit": limit, "Offset": offset, "Total": len(rows)}


def _page(params: dict[str, Any]) -> tuple[int, int]:
    offset, limit = params.get("Offset", 0), params.get("Limit", DEFAULT_LIMIT)
    if offset < 0 or not 0 < limit <= MAX_LIMIT:
        raise VolcError(codes.INVALID_PARAMETER, f"Offset must be >= 0 and Limit 1..{MAX_LIMIT}")
    return offset, limit


def number_pool_list(ctx: ActionContext, params: dict[str, Any]) -> dict[str, Any]:
    offset, limit = _page(params)
    pools = [{
        "NumberPoolName": "pstnsim", "NumberPoolNo": ctx.credentials.number_pool_no,
        "ServiceType": 100, "ServiceTypeName": "隐私号", "SubServiceType": 101, "SubServiceTypeName": "AXB",
        "NumberCount": len(ctx.ledger.numbers(ctx.pool_key)),
    }]
    if params.get("NumberPoolNo") not in (None, ctx.credentials.number_pool_no):
        pools = []
    return {"Records": pools[offset : offset + limit], "Limit": limit, "Offset": offset, "Total": len(pools)}


def number_list(ctx: ActionContext, params: dict[str, Any]) -> dict[str, Any]:
    _check_pool(ctx, params)
    offset, limit = _page(params)
    wanted = number(params["Number"], "Number") if params.get("Number") else None
    rows = []
    for num in ctx.ledger.numbers(ctx.pool_key):
        if wanted is not None and num.x != wanted:
            continue
        rows.append({
            "Number": num.x, "NumberStatusCode": 2 if num.locked else 1,
            "NumberStatusDesc": "locked" if num.locked else "normal", "NumberLocation": num.city,
            "NumberPoolNo": ctx.credentials.number_pool_no, "NumberPoolName": "pstnsim",
            "CurrentBindCount": len(ctx.ledger.bindings(x=num.x)),
        })
    return {"Records": rows[offset : offset + limit], "Limit": limit, "Offset": offset, "Total": len(rows)}


def query_call_record_msg(ctx: ActionContext, params: dict[str, Any]) -> list[dict[str, Any]]:
    """The call records of the comma-separated CallIdList; unknown ids are simply absent."""
    records = []
    for call_id in [c.strip() for c in params["CallIdList"].split(",") if c.strip()]:
        try:
            call = ctx.ledger.call(call_id)
        except LedgerError:
            continue
        user_data = ""
        if call.binding_id:
            found = [b for b in ctx.ledger.bindings(x=call.x, status=None) if b.binding_id == call.binding_id]
            user_data = (_data(found[0]).get("user_data") or "") if found else ""
        records.append({
            "CallId": call.call_id, "Caller": call.caller, "Callee": call.callee or "",
            "CallerShowNumber": call.x, "CalleeShowNumber": call.shown_caller or call.x,
            "BeginCallTime": int(call.started_at), "EndTime": int(call.started_at + call.duration),
            "CallDuration": int(call.duration) if call.outcome == "connected" else 0,
            "CallResult": 1 if call.outcome == "connected" else 2, "UserData": user_data,
        })
    return records


ACTIONS: dict[str, Handler] = {
    "BindAXB": lambda ctx, p: _bind(ctx, p, "AXB", select=False),
    "SelectNumberAndBindAXB": lambda ctx, p: _bind(ctx, p, "AXB", select=True),
    "UnbindAXB": lambda ctx, p: _unbind(ctx, p, "AXB"),
    "UpdateAXB": lambda ctx, p: _update(ctx, p, "AXB"),
    "QuerySubscription": query_subscription,
    "QuerySubscriptionForList": query_subscription_for_list,
    "BindAXN": lambda ctx, p: _bind(ctx, p, "AXN", select=False),
    "SelectNumberAndBindAXN": lambda ctx, p: _bind(ctx, p, "AXN", select=True),
    "UnbindAXN": lambda ctx, p: _unbind(ctx, p, "AXN"),
    "UpdateAXN": lambda ctx, p: _update(ctx, p, "AXN"),
    "NumberPoolList": number_pool_list,
    "NumberList": number_list,
    "QueryCallRecordMsg": query_call_record_msg,
}
