"""NPP actions: a table action name -> handler. Each handler checks content, calls the ledger, returns fields.

Handlers raise BusinessError (or let a LedgerError through: the dialect maps it
once, in errors.py) and return the Response's fields; the envelope is wire.py's.

Reference counts (`RefNum` / `RefLeftNum`): a GetVirtualNum that repeats an
active binding of the same app (same mode, Src, Dst, BizId, and X if assigned)
reuses it and counts one more reference; DelVirtualNum drops one reference and
releases the binding when none is left ("如果计数为 0 会解绑").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import urlsplit

from ...config import TencentCredentials
from ...errors import InvalidNumber, short_repr
from ...ledger import Binding, Ledger
from . import errors as codes
from .errors import BusinessError
from .push import ALL_STATUS_FLAGS, cdr, tencent_data
from .wire import number, wire_number

DEFAULT_ASSIGN_SECONDS = 24 * 3600
MAX_ASSIGN_SECONDS = 168 * 3600
MAX_ACCREDIT = 30
MAX_BIZ_ID_BYTES = 16


@dataclass(frozen=True)
class ActionContext:
    ledger: Ledger
    pool_key: str
    credentials: TencentCredentials
    request_id: str


Handler = Callable[[ActionContext, dict[str, Any]], dict[str, Any]]


def _check_app(ctx: ActionContext, params: dict[str, Any]) -> str:
    if params["BizAppId"] != ctx.credentials.biz_app_id:
        raise BusinessError(codes.APP_ID_INVALID, f"BizAppId {short_repr(params['BizAppId'])} is not an app of this SecretId")
    return params["BizAppId"]


def _seconds(params: dict[str, Any], name: str, default: int | None = None) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit():
        raise BusinessError(codes.BAD_PARAMETERS, f"{name} must be a whole number of seconds, got {short_repr(raw)}")
    return int(raw)


def _callback_url(params: dict[str, Any], name: str) -> str | None:
    raw = params.get(name) or None
    if raw is not None:
        parts = urlsplit(raw)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise BusinessError(codes.CALLBACK_URL_INVALID, f"{name} must be an http(s) URL, got {short_repr(raw)}")
    return raw


def _accredit_list(params: dict[str, Any], axb: bool) -> list[str]:
    accredit = params.get("AccreditList") or []
    if accredit and axb:
        raise BusinessError(codes.ACCREDIT_LIST_INVALID, "AccreditList applies to xb mode only (no Src)")
    if len(accredit) > MAX_ACCREDIT:
        raise BusinessError(codes.ACCREDIT_LIST_INVALID, f"AccreditList holds {len(accredit)} numbers, at most {MAX_ACCREDIT}")
    try:
        return [number(n, f"AccreditList[{i}]") for i, n in enumerate(accredit)]
    except InvalidNumber as exc:
        raise BusinessError(codes.ACCREDIT_LIST_INVALID, f"AccreditList: {exc}") from None


def get_virtual_num(ctx: ActionContext, params: dict[str, Any]) -> dict[str, Any]:
    """xb mode without Src (Dst is the staff number B), axb mode with it (Src is A)."""
    app_id = _check_app(ctx, params)
    dst = number(params["Dst"], "Dst")
    src = number(params["Src"], "Src") if params.get("Src") else None
    if src == dst:
        raise BusinessError(codes.SRC_DST_INVALID, "Src and Dst must be different numbers")
    accredit = _accredit_list(params, axb=src is not None)
    x = number(params["AssignVirtualNum"], "AssignVirtualNum") if params.get("AssignVirtualNum") else None
    record = params.get("Record") or "0"
    if record not in ("0", "1"):
        raise BusinessError(codes.BAD_PARAMETERS, f"Record must be '0' or '1', got {short_repr(record)}")
    assign_seconds = _seconds(params, "MaxAssignTime", DEFAULT_ASSIGN_SECONDS)
    if not 0 < assign_seconds <= MAX_ASSIGN_SECONDS:
        raise BusinessError(codes.BAD_PARAMETERS, f"MaxAssignTime must be 1..{MAX_ASSIGN_SECONDS} seconds (168 h)")
    status_flag = _seconds(params, "StatusFlag", 0)
    if status_flag & ~ALL_STATUS_FLAGS:
        raise BusinessError(codes.BAD_PARAMETERS, f"StatusFlag {status_flag} has bits outside {ALL_STATUS_FLAGS}")
    biz_id = params.get("BizId") or None
    if biz_id is not None and len(biz_id.encode()) > MAX_BIZ_ID_BYTES:
        raise BusinessError(codes.BAD_PARAMETERS, f"BizId is longer than {MAX_BIZ_ID_BYTES} bytes")
    tencent = {
        "biz_app_id": app_id,
        "ref_num": 1,
        "biz_id": biz_id,
        "record": record,
        "status_flag": status_flag,
        "status_url": _callback_url(params, "StatusUrl"),
        "hangup_url": _callback_url(params, "HangupUrl"),
        "record_url": _callback_url(params, "RecordUrl"),
        "accredit_list": accredit,
        "request_id": ctx.request_id,
    }
    reused = _reusable(ctx, app_id, "AXB" if src else "XB", src, dst, x, biz_id)
    if reused is not None:
        refs = tencent_data(reused)["ref_num"] + 1
        ctx.ledger.update_binding(reused.binding_id, extra={"tencent": {**tencent_data(reused), "ref_num": refs}})
        return _bound(reused.binding_id, reused.x, refs)
    if biz_id is not None:
        for other in ctx.ledger.bindings():
            data = tencent_data(other)
            if data.get("biz_app_id") == app_id and data.get("biz_id") == biz_id:
                raise BusinessError(codes.BAD_PARAMETERS, f"BizId {short_repr(biz_id)} is already used by {other.binding_id}")
    binding = ctx.ledger.create_binding(
        "AXB" if src else "XB",
        a=src,
        b=dst,
        x=x,
        city=params.get("CityId") or None,
        pool_key=ctx.pool_key,
        expires_at=ctx.ledger.clock.now() + assign_seconds,
        extra={"tencent": tencent},
    )
    return _bound(binding.binding_id, binding.x, 1)


def _reusable(
    ctx: ActionContext, app_id: str, mode: str, a: str | None, b: str, x: str | None, biz_id: str | None
) -> Binding | None:
    """The active binding this GetVirtualNum repeats, if any."""
    for binding in ctx.ledger.bindings(mode=mode, a=a, b=b, x=x):
        data = tencent_data(binding)
        if data.get("biz_app_id") == app_id and data.get("biz_id") == biz_id and binding.a == a:
            return binding
    return None


def _bound(bind_id: str, x: str, refs: int) -> dict[str, Any]:
    return {"ErrorCode": codes.OK, "Msg": "ok", "BindId": bind_id, "VirtualNum": wire_number(x), "RefNum": str(refs)}


def del_virtual_num(ctx: ActionContext, params: dict[str, Any]) -> dict[str, Any]:
    """Release a binding; a BizId given at bind time must be given (and match) here."""
    app_id = _check_app(ctx, params)
    binding = ctx.ledger.binding(params["BindId"])
    data = tencent_data(binding)
    if data and data.get("biz_app_id") != app_id:
        raise BusinessError(codes.BIND_ID_NOT_FOUND, f"bindId {binding.binding_id} does not exist in app {app_id}")
    if data.get("biz_id") and not params.get("BizId"):
        raise BusinessError(codes.BIZ_ID_REQUIRED, "BizId is required: the binding was made with one")
    if params.get("BizId") and params["BizId"] != data.get("biz_id"):
        raise BusinessError(codes.BIND_ID_NOT_FOUND, f"bindId {binding.binding_id} has no BizId {short_repr(params['BizId'])}")
    refs_left = int(data.get("ref_num", 1)) - 1
    if refs_left > 0:
        ctx.ledger.update_binding(binding.binding_id, extra={"tencent": {**data, "ref_num": refs_left}})
    else:
        ctx.ledger.delete_binding(binding.binding_id)
    return {"ErrorCode": codes.OK, "Msg": "ok", "BindId": binding.binding_id, "RefLeftNum": str(refs_left)}


def get_400_cdr(ctx: ActionContext, params: dict[str, Any]) -> dict[str, Any]:
    """Call records, filtered by CallId, caller (Src) and a [StartTimeStamp, EndTimeStamp] window in unix seconds."""
    _check_app(ctx, params)
    start = _seconds(params, "StartTimeStamp")
    end = _seconds(params, "EndTimeStamp")
    if start is not None and end is not None and start > end:
        raise BusinessError(codes.BAD_PARAMETERS, "StartTimeStamp is after EndTimeStamp")
    caller = number(params["Src"], "Src") if params.get("Src") else None
    records = []
    for call in ctx.ledger.calls(caller=caller):
        if params.get("CallId") and call.call_id != params["CallId"]:
            continue
        if (start is not None and call.started_at < start) or (end is not None and call.started_at > end):
            continue
        binding = None
        if call.binding_id:
            binding = next((b for b in ctx.ledger.bindings(x=call.x, status=None) if b.binding_id == call.binding_id), None)
        records.append(cdr(call, binding))
    return {"ErrorCode": codes.OK, "Msg": "ok", "Offset": str(len(records)), "Cdr": records}


ACTIONS: dict[str, Handler] = {
    "GetVirtualNum": get_virtual_num,
    "DelVirtualNum": del_virtual_num,
    "Get400Cdr": get_400_cdr,
}
