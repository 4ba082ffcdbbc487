"""The action table: each handler reads typed parameters, calls the ledger once or twice, returns the result fields.

Handlers raise LedgerError (mapped to `isv.*` in errors.py) or BusinessError;
the dialect wraps what they return in the action's envelope. Ids on this API
(SubsId, AuthId, BindId) are the ledger's binding ids, shared with every dialect.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ...errors import short_repr
from ...config import AliyunCredentials
from ...ledger import Binding, Ledger
from .errors import BusinessError
from .wire import drop_none, format_time, number, optional_number, parse_time

MIN_EXPIRY_LEAD = 60.0  # an Expiration must be more than a minute ahead
SECRET_STATUS = {"free": 0, "bound": 1, "locked": 2}
SPEC_IDS = (1, 2, 3)
SUBSCRIPTION_MODES = ("AXB", "AXN")
ALL_CITIES = ("全国", "all", "ALL")
# Values kept with a binding for queries and call reports.
KEPT_FIELDS = ("OutId", "OutOrderId", "IsRecordingEnabled", "CallRestrict", "ASRStatus", "ASRModelId", "UserData", "ReqId")


@dataclass(frozen=True)
class ActionContext:
    ledger: Ledger
    account: AliyunCredentials  # who signed the request

    def pool_key(self, params: dict[str, Any], field: str = "PoolKey") -> str:
        """The caller's pool key; a pool key of another account, or an unknown one, does not exist."""
        given = params.get(field)
        if given is None:  # ProductType named instead (wire.parse_params insists on one of the two)
            return self.account.pool_key
        if given != self.account.pool_key:
            raise BusinessError("isv.POOLKEY_NOT_EXISTS", f"pool key {short_repr(given)} does not exist for this account")
        return given

    def expiry(self, params: dict[str, Any]) -> float:
        text = params["Expiration"]
        try:
            at = parse_time(text, "Expiration")
        except ValueError:
            raise BusinessError("isv.EXPIRE_DATE_ILLEGAL", f"Expiration {short_repr(text)} is not yyyy-MM-dd HH:mm:ss") from None
        if at <= self.ledger.clock.now() + MIN_EXPIRY_LEAD:
            raise BusinessError("isv.EXPIRE_DATE_ILLEGAL", f"Expiration {text} must be more than 1 minute from now")
        return at

    def own_binding(self, binding_id: str, pool_key: str, x: str | None = None, mode: str | None = None) -> Binding:
        """An active binding of this pool (on `x`, of `mode`), else SUBS_NOT_EXIST as the service says it."""
        binding = self.ledger.binding(binding_id)
        if binding.pool_key != pool_key or (x is not None and binding.x != x) or (mode and binding.mode != mode):
            raise BusinessError("isv.SUBS_NOT_EXIST", f"no binding {binding_id} on {x or 'this pool'}")
        if binding.status != "active":
            raise BusinessError("isv.SUBS_NOT_EXIST", f"binding {binding_id} has {binding.status}")
        return binding


def _kept(params: dict[str, Any]) -> dict[str, Any]:
    return {k: params[k] for k in KEPT_FIELDS if k in params}


def _secret_bind(binding: Binding) -> dict[str, Any]:
    return {"SecretBindDTO": {"SubsId": binding.binding_id, "SecretNo": binding.x, "Extension": ""}}


# ---- classic subscriptions ----------------------------------------------------


def bind_axb(ctx: ActionContext, p: dict[str, Any]) -> dict[str, Any]:
    binding = ctx.ledger.create_binding(
        "AXB",
        a=number(p["PhoneNoA"], "PhoneNoA"),
        b=number(p["PhoneNoB"], "PhoneNoB"),
        x=optional_number(p, "PhoneNoX"),
        city=p.get("ExpectCity"),
        pool_key=ctx.pool_key(p),
        expires_at=ctx.expiry(p),
        extra=_kept(p),
    )
    return _secret_bind(binding)


def bind_axn(ctx: ActionContext, p: dict[str, Any]) -> dict[str, Any]:
    binding = ctx.ledger.create_binding(
        "AXN",
        a=number(p["PhoneNoA"], "PhoneNoA"),
        b=optional_number(p, "PhoneNoB"),
        x=optional_number(p, "PhoneNoX"),
        city=p.get("ExpectCity"),
        pool_key=ctx.pool_key(p),
        expires_at=ctx.expiry(p),
        extra=_kept(p),
    )
    return _secret_bind(binding)


UPDATE_FIELD = {
    "updateNoA": "PhoneNoA",
    "updateNoB": "PhoneNoB",
    "updateExpire": "Expiration",
    "updateCallRestrict": "CallRestrict",
    "updateCallDisplayType": "CallDisplayType",
    "updateOutId": "OutId",
    "updateIsRecordingEnabled": "IsRecordingEnabled",
}


def update_subscription(ctx: ActionContext, p: dict[str, Any]) -> dict[str, Any]:
    operation = p["OperateType"]
    if operation == "updateAxgGroup":
        raise BusinessError("isv.FORBIDDEN_ACTION", "this pool has no AXG groups")
    field = UPDATE_FIELD.get(operation)
    if field is None:
        raise BusinessError("isv.INVALID_PARAMETERS", f"OperateType {short_repr(operation)} is not one of {', '.join(UPDATE_FIELD)}")
    if field not in p:
        raise BusinessError("isv.INVALID_PARAMETERS", f"OperateType {operation} needs {field}")
    pool_key = ctx.pool_key(p)
    binding = ctx.own_binding(p["SubsId"], pool_key, number(p["PhoneNoX"], "PhoneNoX"))
    changes: dict[str, Any] = {}
    if field == "PhoneNoA":
        changes["a"] = number(p[field], field)
    elif field == "PhoneNoB":
        changes["b"] = number(p[field], field)
    elif field == "Expiration":
        changes["expires_at"] = ctx.expiry(p)
    else:
        changes["extra"] = {field: p[field]}
    ctx.ledger.update_binding(binding.binding_id, **changes)
    return {}


def unbind_subscription(ctx: ActionContext, p: dict[str, Any]) -> dict[str, Any]:
    binding = ctx.own_binding(p["SubsId"], ctx.pool_key(p), number(p["SecretNo"], "SecretNo"))
    ctx.ledger.delete_binding(binding.binding_id)
    return {}


def query_subscription_detail(ctx: ActionContext, p: dict[str, Any]) -> dict[str, Any]:
    pool_key, x = ctx.pool_key(p), number(p["PhoneNoX"], "PhoneNoX")
    binding = ctx.ledger.binding(p["SubsId"], as_queried=True)
    if binding.pool_key != pool_key or binding.x != x:
        raise BusinessError("isv.SUBS_NOT_EXIST", f"no binding {p['SubsId']} on {x}")
    detail = {
        "SubsId": binding.binding_id,
        "PhoneNoA": binding.a,
        "PhoneNoB": binding.b,
        "PhoneNoX": binding.x,
        "Extension": "",
        "GroupId": None,
        "Status": 1 if binding.status == "active" else 0,
        "ExpireDate": format_time(binding.expires_at),
        "GmtCreate": format_time(binding.created_at),
        "NeedRecord": bool(binding.extra.get("IsRecordingEnabled", False)),
        "CallRestrict": binding.extra.get("CallRestrict"),
        "ASRStatus": binding.extra.get("ASRStatus"),
        "ASRModelId": binding.extra.get("ASRModelId"),
    }
    return {"SecretBindDetailDTO": drop_none(detail)}


def query_subs_id(ctx: ActionContext, p: dict[str, Any]) -> dict[str, Any]:
    pool_key, x = ctx.pool_key(p), number(p["PhoneNoX"], "PhoneNoX")
    ctx.ledger.number(x, pool_key)
    # Subscriptions only (AXB, AXN): a work-number XB is an authorisation (AuthId), not a subscription.
    found = [b for b in ctx.ledger.bindings(x=x, pool_key=pool_key, as_queried=True) if b.mode in SUBSCRIPTION_MODES]
    if not found:
        raise BusinessError("isv.SUBS_NOT_EXIST", f"{x} has no active subscription")
    # dyplsapi's reference: X may carry several AXB subscriptions, answered all in the one SubsId string,
    # comma-separated ("11111111,1111111"), oldest first.
    return {"SubsId": ",".join(b.binding_id for b in found)}


# ---- work numbers (XB) ------------------------------------------------------------


def _replayed(ctx: ActionContext, pool_key: str, req_id: str, mode: str) -> Binding | None:
    """ReqId is the dedup key: a repeated bind returns the binding the first one made, if it still stands."""
    for binding in ctx.ledger.bindings(pool_key=pool_key, mode=mode):
        if binding.extra.get("ReqId") == req_id:
            return binding
    return None


def bind_xb(ctx: ActionContext, p: dict[str, Any]) -> dict[str, Any]:
    pool_key = ctx.pool_key(p, "CustomerPoolKey")
    binding = _replayed(ctx, pool_key, p["ReqId"], "XB") or ctx.ledger.create_binding(
        "XB",
        b=number(p["TelB"], "TelB"),
        x=number(p["TelX"], "TelX"),
        pool_key=pool_key,
        extra=_kept(p),
    )
    return {"AuthId": binding.binding_id, "TelX": binding.x}


def unbind_xb(ctx: ActionContext, p: dict[str, Any]) -> dict[str, Any]:
    pool_key = ctx.pool_key(p, "CustomerPoolKey")
    binding = ctx.own_binding(p["AuthId"], pool_key, number(p["TelX"], "TelX"), mode="XB")
    ctx.ledger.delete_binding(binding.binding_id)
    return {"Code": "0000", "Message": "成功", "Success": True}


def bind_axb_call(ctx: ActionContext, p: dict[str, Any]) -> dict[str, Any]:
    pool_key = ctx.pool_key(p, "CustomerPoolKey")
    if p["Expiration"] <= 0:
        raise BusinessError("isv.EXPIRE_DATE_ILLEGAL", "Expiration must be a positive number of seconds")
    replayed = _replayed(ctx, pool_key, p["ReqId"], "AXB")
    if replayed is not None:
        return {"BindId": replayed.binding_id}
    work = ctx.own_binding(p["AuthId"], pool_key, mode="XB")
    binding = ctx.ledger.create_binding(
        "AXB",
        a=number(p["TelA"], "TelA"),
        b=work.b,
        x=work.x,
        pool_key=pool_key,
        expires_at=ctx.ledger.clock.now() + p["Expiration"],
        extra={**_kept(p), "AuthId": work.binding_id},
    )
    return {"BindId": binding.binding_id}


def unbind_axb(ctx: ActionContext, p: dict[str, Any]) -> dict[str, Any]:
    binding = ctx.own_binding(p["BindId"], ctx.pool_key(p, "CustomerPoolKey"), mode="AXB")
    ctx.ledger.delete_binding(binding.binding_id)
    return {"Code": "0000", "Message": "成功", "Success": True}


MAX_PAGE_SIZE = 100


def list_x_telephones(ctx: ActionContext, p: dict[str, Any]) -> dict[str, Any]:
    """The pool's X numbers, a page at a time, with whether each carries a binding now."""
    pool_key = ctx.pool_key(p, "CustomerPoolKey")
    page_no, page_size = p.get("PageNo", 1), p.get("PageSize", 20)
    if page_no < 1 or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise BusinessError("isv.INVALID_PARAMETERS", f"PageNo must be >= 1 and PageSize 1..{MAX_PAGE_SIZE}")
    numbers = ctx.ledger.numbers(pool_key)
    page = numbers[(page_no - 1) * page_size : page_no * page_size]
    rows = []
    for num in page:
        work = ctx.ledger.bindings(x=num.x, mode="XB")
        rows.append(drop_none({
            "Telephone": num.x,
            "TelephoneStatus": str(SECRET_STATUS[ctx.ledger.number_status(num.x)]),
            "CustomerPoolKey": pool_key,
            "CustomerPoolName": "",
            "BuyTime": format_time(num.purchased_at if num.purchased_at is not None else ctx.ledger.clock.epoch),
            "BindTime": format_time(work[0].created_at) if work else None,
            "AuthMsg": "",
        }))
    return {"List": rows, "PageNo": page_no, "PageSize": page_size, "Total": len(numbers)}


# ---- the number pool ---------------------------------------------------------------


def _spec(p: dict[str, Any]) -> None:
    if p["SpecId"] not in SPEC_IDS:
        raise BusinessError("isv.INVALID_PARAMETERS", f"SpecId must be one of {SPEC_IDS}, got {p['SpecId']}")


def buy_secret_no(ctx: ActionContext, p: dict[str, Any]) -> dict[str, Any]:
    _spec(p)
    bought = ctx.ledger.buy_number(ctx.pool_key(p), p["City"], p.get("SecretNo", ""))
    return {"SecretBuyInfoDTO": {"SecretNo": bought.x}}


def release_secret_no(ctx: ActionContext, p: dict[str, Any]) -> dict[str, Any]:
    ctx.ledger.release_number(ctx.pool_key(p), number(p["SecretNo"], "SecretNo"))
    return {}


def query_secret_no_remain(ctx: ActionContext, p: dict[str, Any]) -> dict[str, Any]:
    _spec(p)
    prefix = p.get("SecretNo", "")
    city = p["City"]
    stock = ctx.ledger.stock(None if city in ALL_CITIES else city, prefix)
    cities = sorted({n.city for n in stock}) if city in ALL_CITIES else [city]
    per_city = [{"City": c, "Amount": sum(1 for n in stock if n.city == c)} for c in cities]
    return {"SecretRemainDTO": {"City": city, "Amount": len(stock), "RemainDTOList": {"remainDTO": per_city}}}


def query_secret_no_detail(ctx: ActionContext, p: dict[str, Any]) -> dict[str, Any]:
    x = number(p["SecretNo"], "SecretNo")
    num = ctx.ledger.number(x, ctx.pool_key(p))
    info = {
        "SecretStatus": SECRET_STATUS[ctx.ledger.number_status(x)],
        "CertifyStatus": 1,
        "City": num.city,
        "Province": num.city,
        "Vendor": num.vendor,
        "PurchaseTime": format_time(num.purchased_at if num.purchased_at is not None else ctx.ledger.clock.epoch),
    }
    return {"SecretNoInfoDTO": info}


def lock_secret_no(ctx: ActionContext, p: dict[str, Any]) -> dict[str, Any]:
    ctx.ledger.set_locked(ctx.pool_key(p), number(p["SecretNo"], "SecretNo"), True)
    return {}


def unlock_secret_no(ctx: ActionContext, p: dict[str, Any]) -> dict[str, Any]:
    ctx.ledger.set_locked(ctx.pool_key(p), number(p["SecretNo"], "SecretNo"), False)
    return {}


Handler = Callable[[ActionContext, dict[str, Any]], dict[str, Any]]
ACTIONS: dict[str, Handler] = {
    "BindAxb": bind_axb,
    "BindAxn": bind_axn,
    "UpdateSubscription": update_subscription,
    "UnbindSubscription": unbind_subscription,
    "QuerySubscriptionDetail": query_subscription_detail,
    "QuerySubsId": query_subs_id,
    "BindXB": bind_xb,
    "UnBindXB": unbind_xb,
    "BindAXBCall": bind_axb_call,
    "UnBindAXB": unbind_axb,
    "ListXTelephones": list_x_telephones,
    "BuySecretNo": buy_secret_no,
    "ReleaseSecretNo": release_secret_no,
    "QuerySecretNoRemain": query_secret_no_remain,
    "QuerySecretNoDetail": query_secret_no_detail,
    "LockSecretNo": lock_secret_no,
    "UnlockSecretNo": unlock_secret_no,
}
