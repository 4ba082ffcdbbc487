"""dyplsapi 2017-05-25 on the wire: which parameters each action takes, their types, and the two envelopes.

Every business parameter arrives as a string (the SDK sends `str(value)`, so
booleans are `True`/`False`). The SDK validates nothing, so the server enforces
required fields here. Times on this API are Beijing time, `yyyy-MM-dd HH:mm:ss`.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping

from ...errors import InvalidNumber, short_repr
from ...numbers import normalize
from .errors import GatewayError, invalid_parameter, missing_parameter

VERSION = "2017-05-25"
BEIJING = timezone(timedelta(hours=8))
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

STR, INT, BOOL = "str", "int", "bool"
# Accepted on every action (POP's common business parameters).
COMMON = {"OwnerId": INT, "ResourceOwnerAccount": STR, "ResourceOwnerId": INT}

# action -> {parameter: type}; REQUIRED lists what the server insists on.
PARAMETERS: dict[str, dict[str, str]] = {
    "BindAxb": {
        "PoolKey": STR, "PhoneNoA": STR, "PhoneNoB": STR, "PhoneNoX": STR, "Expiration": STR, "ExpectCity": STR,
        "IsRecordingEnabled": BOOL, "OutId": STR, "OutOrderId": STR, "CallRestrict": STR, "CallTimeout": INT,
        "CallDisplayType": INT, "ASRStatus": BOOL, "ASRModelId": STR, "RingConfig": STR, "DtmfConfig": STR,
    },
    "BindAxn": {
        "PoolKey": STR, "PhoneNoA": STR, "PhoneNoB": STR, "PhoneNoX": STR, "Expiration": STR, "ExpectCity": STR,
        "IsRecordingEnabled": BOOL, "OutId": STR, "OutOrderId": STR, "CallRestrict": STR, "CallTimeout": INT,
        "CallDisplayType": INT, "ASRStatus": BOOL, "ASRModelId": STR, "RingConfig": STR, "NoType": STR, "Extend": STR,
    },
    "UpdateSubscription": {
        "SubsId": STR, "PhoneNoX": STR, "OperateType": STR, "PhoneNoA": STR, "PhoneNoB": STR, "Expiration": STR,
        "GroupId": INT, "CallRestrict": STR, "CallDisplayType": INT, "OutId": STR, "IsRecordingEnabled": BOOL,
        "ASRStatus": BOOL, "ASRModelId": STR, "RingConfig": STR, "PoolKey": STR, "ProductType": STR,
    },
    "UnbindSubscription": {"SubsId": STR, "SecretNo": STR, "PoolKey": STR, "ProductType": STR},
    "QuerySubscriptionDetail": {"SubsId": STR, "PhoneNoX": STR, "PoolKey": STR, "ProductType": STR},
    "QuerySubsId": {"PhoneNoX": STR, "PoolKey": STR},
    "BindXB": {"CustomerPoolKey": STR, "ReqId": STR, "TelX": STR, "TelB": STR, "UserData": STR, "CallerParentId": INT},
    "UnBindXB": {"CustomerPoolKey": STR, "ReqId": STR, "AuthId": STR, "TelX": STR, "CallerParentId": INT},
    "BindAXBCall": {
        "CustomerPoolKey": STR, "ReqId": STR, "AuthId": STR, "TelA": STR, "Expiration": INT, "UserData": STR,
        "CallerParentId": INT,
    },
    "UnBindAXB": {"CustomerPoolKey": STR, "ReqId": STR, "BindId": STR, "CallerParentId": INT},
    "ListXTelephones": {"CustomerPoolKey": STR, "ReqId": STR, "PageNo": INT, "PageSize": INT, "CallerParentId": INT},
    "BuySecretNo": {"PoolKey": STR, "City": STR, "SpecId": INT, "SecretNo": STR, "DisplayPool": BOOL},
    "ReleaseSecretNo": {"PoolKey": STR, "SecretNo": STR},
    "QuerySecretNoRemain": {"City": STR, "SpecId": INT, "SecretNo": STR},
    "QuerySecretNoDetail": {"PoolKey": STR, "SecretNo": STR},
    "LockSecretNo": {"PoolKey": STR, "SecretNo": STR},
    "UnlockSecretNo": {"PoolKey": STR, "SecretNo": STR},
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "BindAxb": ("PoolKey", "PhoneNoA", "PhoneNoB", "Expiration"),
    "BindAxn": ("PoolKey", "PhoneNoA", "Expiration"),
    "UpdateSubscription": ("SubsId", "PhoneNoX", "OperateType"),
    "UnbindSubscription": ("SubsId", "SecretNo"),
    "QuerySubscriptionDetail": ("SubsId", "PhoneNoX"),
    "QuerySubsId": ("PhoneNoX",),
    "BindXB": ("CustomerPoolKey", "ReqId", "TelX", "TelB"),
    "UnBindXB": ("CustomerPoolKey", "ReqId", "AuthId", "TelX"),
    "BindAXBCall": ("CustomerPoolKey", "ReqId", "AuthId", "TelA", "Expiration"),
    "UnBindAXB": ("CustomerPoolKey", "ReqId", "BindId"),
    "ListXTelephones": ("CustomerPoolKey", "ReqId"),
    "BuySecretNo": ("PoolKey", "City", "SpecId"),
    "ReleaseSecretNo": ("PoolKey", "SecretNo"),
    "QuerySecretNoRemain": ("City", "SpecId"),
    "QuerySecretNoDetail": ("PoolKey", "SecretNo"),
    "LockSecretNo": ("PoolKey", "SecretNo"),
    "UnlockSecretNo": ("PoolKey", "SecretNo"),
}
# These need PoolKey, or ProductType (e.g. AXB_170) in its place.
POOL_OR_PRODUCT = frozenset({"UpdateSubscription", "UnbindSubscription", "QuerySubscriptionDetail"})
# Work-number actions answer `Code: "0000"` + `Success` + `Data`; the rest `Code: "OK"` + `RequestId`.
WORK_NUMBER_ACTIONS = frozenset({"BindXB", "UnBindXB", "BindAXBCall", "UnBindAXB", "ListXTelephones"})
# Which parameter carries X, A and B, for the fault engine and the journal.
X_FIELDS = ("PhoneNoX", "SecretNo", "TelX")
A_FIELDS = ("PhoneNoA", "TelA")
B_FIELDS = ("PhoneNoB", "TelB")
MAX_REQ_ID = 20


def parse_params(action: str, raw: Mapping[str, str]) -> dict[str, Any]:
    """Typed business parameters of `action`; GatewayError naming the first missing, unknown or ill-typed one.

    Empty values count as absent (the SDK sends nothing for None, but hand-made clients send `Key=`).
    """
    schema = {**COMMON, **PARAMETERS[action]}
    unknown = sorted(k for k in raw if k not in schema)
    if unknown:
        raise invalid_parameter(unknown[0], f"{action} takes no parameter {short_repr(unknown[0])}")
    params: dict[str, Any] = {}
    for name, value in raw.items():
        if value == "":
            continue
        params[name] = _convert(name, value, schema[name])
    for name in REQUIRED[action]:
        if name not in params:
            raise missing_parameter(name)
    if action in POOL_OR_PRODUCT and "PoolKey" not in params and "ProductType" not in params:
        raise missing_parameter("PoolKey")
    if len(params.get("ReqId", "")) > MAX_REQ_ID:
        raise invalid_parameter("ReqId", f"at most {MAX_REQ_ID} characters")
    return params


def _convert(name: str, value: str, kind: str) -> Any:
    if kind == INT:
        try:
            return int(value)
        except ValueError:
            raise invalid_parameter(name, f"{short_repr(value)} is not an integer") from None
    if kind == BOOL:
        lowered = value.lower()
        if lowered not in ("true", "false"):
            raise invalid_parameter(name, f"{short_repr(value)} is not a boolean (true or false)")
        return lowered == "true"
    return value


def number(value: str, field: str) -> str:
    """National form of a phone number (Aliyun sends national numbers; `86`/`+86`/`0086` prefixes tolerated)."""
    if value.startswith("86") and len(value) == 13:
        value = value[2:]
    return normalize(value, field)


def optional_number(params: Mapping[str, Any], field: str) -> str | None:
    return number(params[field], field) if field in params else None


def describe_number(value: str | None) -> str | None:
    """For the journal and fault matching: the national form when valid, else the raw value. Never raises."""
    if value is None:
        return None
    try:
        return number(value, "number")
    except InvalidNumber:
        return value


# ---- times ------------------------------------------------------------------


def parse_time(value: str, field: str) -> float:
    """`yyyy-MM-dd HH:mm:ss` in Beijing time -> epoch seconds; ValueError if malformed."""
    exact = _TIME.fullmatch(value)
    if exact:  # the form every SDK sends, without strptime's cost; datetime still checks the ranges
        return datetime(*map(int, exact.groups()), tzinfo=BEIJING).timestamp()  # type: ignore[misc]
    return datetime.strptime(value, TIME_FORMAT).replace(tzinfo=BEIJING).timestamp()


_TIME = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2}) ([0-9]{2}):([0-9]{2}):([0-9]{2})")


def format_time(at: float | None) -> str | None:
    if at is None:
        return None
    return datetime.fromtimestamp(at, tz=BEIJING).strftime(TIME_FORMAT)


# ---- envelopes ----------------------------------------------------------------


def classic_ok(request_id: str, **fields: Any) -> dict[str, Any]:
    return {"Code": "OK", "Message": "OK", "RequestId": request_id, **fields}


def classic_error(request_id: str, code: str, message: str) -> dict[str, Any]:
    return {"Code": code, "Message": message, "RequestId": request_id}


def work_ok(request_id: str, data: Mapping[str, Any]) -> dict[str, Any]:
    return {"Code": "0000", "Message": "成功", "Success": True, "RequestId": request_id, "Data": dict(data)}


def work_error(request_id: str, code: str, message: str) -> dict[str, Any]:
    return {"Code": code, "Message": message, "Success": False, "RequestId": request_id, "Data": None}


def envelope_ok(action: str, request_id: str, result: Mapping[str, Any]) -> dict[str, Any]:
    if action in WORK_NUMBER_ACTIONS:
        return work_ok(request_id, result)
    return classic_ok(request_id, **result)


def envelope_error(action: str, request_id: str, code: str, message: str) -> dict[str, Any]:
    if action in WORK_NUMBER_ACTIONS:
        return work_error(request_id, code, message)
    return classic_error(request_id, code, message)


def drop_none(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


def version_error(version: str | None) -> GatewayError:
    return GatewayError(
        "InvalidVersion", f"Specified parameter Version {short_repr(version)} is not valid; dyplsapi speaks {VERSION}"
    )
