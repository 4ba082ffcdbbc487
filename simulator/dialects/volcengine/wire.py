"""Volcengine vms's wire format: reading a request, checking its parameters, numbers, the envelopes.

The SDK sends `POST /?Action=<A>&Version=2022-01-01` with the action's fields
form-encoded in the body (GET with them in the query for NumberList). Every
value is a string on the wire; the fields the vendor types as Integer / Long
must read as whole numbers. No state here: `actions.py` calls the ledger.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any, Mapping
from urllib.parse import parse_qsl

from aiohttp import web

from ...errors import short_repr
from ...numbers import normalize
from .errors import INVALID_PARAMETER, MISSING_PARAMETER, VolcError
from .signing import REGION, SERVICE

API_VERSION = "2022-01-01"
FORM = "application/x-www-form-urlencoded"

STR, INT = "str", "int"
_BIND_COMMON = {"AudioRecordFlag": (INT, False), "UserData": (STR, False), "OutId": (STR, False),
                "CallDisplayType": (INT, False)}
_SELECT = {"CityCode": (STR, False), "CityCodeByPhoneNo": (STR, False), "DegradeCityList": (STR, False)}
_SUB = {"NumberPoolNo": (STR, True), "SubId": (STR, True)}
_UPDATE = {**_SUB, "UpdateType": (STR, True), "PhoneNoA": (STR, False), "PhoneNoB": (STR, False),
           "ExpireTime": (INT, False), "AudioRecordFlag": (INT, False), "UserData": (STR, False)}
# Each action's fields: name -> (kind, required).
ACTION_FIELDS: dict[str, dict[str, tuple[str, bool]]] = {
    "BindAXB": {"NumberPoolNo": (STR, True), "PhoneNoA": (STR, True), "PhoneNoB": (STR, True),
                "PhoneNoX": (STR, True), "ExpireTime": (INT, True), **_BIND_COMMON},
    "SelectNumberAndBindAXB": {"NumberPoolNo": (STR, True), "PhoneNoA": (STR, True), "PhoneNoB": (STR, True),
                               "ExpireTime": (INT, True), "AxConflictAxbFlag": (INT, False), **_SELECT,
                               **_BIND_COMMON},
    "UnbindAXB": dict(_SUB),
    "UpdateAXB": dict(_UPDATE),
    "QuerySubscription": dict(_SUB),
    "QuerySubscriptionForList": {"NumberPoolNo": (STR, True), "PhoneNoX": (STR, False), "PhoneNoA": (STR, False),
                                 "PhoneNoB": (STR, False), "SubId": (STR, False), "Status": (INT, False),
                                 "Offset": (INT, False), "Limit": (INT, False)},
    "BindAXN": {"NumberPoolNo": (STR, True), "PhoneNoA": (STR, True), "PhoneNoB": (STR, False),
                "PhoneNoX": (STR, True), "ExpireTime": (INT, True), **_BIND_COMMON},
    "SelectNumberAndBindAXN": {"NumberPoolNo": (STR, True), "PhoneNoA": (STR, True), "PhoneNoB": (STR, False),
                               "ExpireTime": (INT, True), **_SELECT, **_BIND_COMMON},
    "UnbindAXN": dict(_SUB),
    "UpdateAXN": dict(_UPDATE),
    "NumberPoolList": {"NumberPoolNo": (STR, False), "ServiceType": (INT, False), "SubServiceType": (INT, False),
                       "Offset": (INT, False), "Limit": (INT, False)},
    "NumberList": {"NumberPoolNo": (STR, False), "NumberPoolTypeCode": (INT, False), "Number": (STR, False),
                   "NumberStatusCode": (INT, False), "Offset": (INT, False), "Limit": (INT, False)},
    "QueryCallRecordMsg": {"CallIdList": (STR, True)},
}


@dataclass(frozen=True)
class WireRequest:
    """One request as the gateway reads it, before authentication."""

    method: str
    path: str
    headers: Mapping[str, str]  # lower-case names
    query: list[tuple[str, str]]  # decoded, in order
    body: bytes
    action: str
    version: str
    params: dict[str, str]  # the action's own fields (query minus Action/Version, plus the form)


def looks_volcengine(headers: Mapping[str, str], query: Mapping[str, str]) -> bool:
    """Volcengine's requests carry `Version=2022-01-01`, or an `HMAC-SHA256 Credential=` signature."""
    if query.get("Version") == API_VERSION:
        return True
    return headers.get("authorization", "").startswith("HMAC-SHA256 Credential=")


def parse_request(method: str, path: str, headers: Mapping[str, str], raw_query: str, body: bytes) -> WireRequest:
    """Read the action, version and fields; raise VolcError for a body or query that cannot be read."""
    query = parse_qsl(raw_query, keep_blank_values=True)
    form: list[tuple[str, str]] = []
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if body and method != "GET":
        if content_type != FORM:
            raise VolcError(INVALID_PARAMETER, f"the body must be {FORM}, got {short_repr(content_type or 'none')}")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise VolcError(INVALID_PARAMETER, f"the form body is not UTF-8 (byte {exc.start})") from None
        form = parse_qsl(text, keep_blank_values=True, strict_parsing=False)
        if text.strip() and not form:
            raise VolcError(INVALID_PARAMETER, "the form body holds no name=value pair")
    common = dict(query)
    params: dict[str, str] = {}
    for key, value in [(k, v) for k, v in query if k not in ("Action", "Version")] + form:
        if key in params:
            raise VolcError(INVALID_PARAMETER, f"the parameter {short_repr(key)} is given more than once")
        params[key] = value
    return WireRequest(method, path, headers, query, body, common.get("Action", ""), common.get("Version", ""), params)


def check_params(action: str, params: Mapping[str, str]) -> dict[str, Any]:
    """Unknown, missing or wrongly typed fields are refused, naming the field; INT fields come back as int."""
    fields = ACTION_FIELDS[action]
    unknown = sorted(set(params) - set(fields))
    if unknown:
        raise VolcError(INVALID_PARAMETER, f"unknown parameter(s) for {action}: {', '.join(unknown)}")
    checked: dict[str, Any] = {}
    for name, (kind, required) in fields.items():
        value = params.get(name)
        if value is None or value == "":
            if required:
                raise VolcError(MISSING_PARAMETER, f"the request is missing {name} parameter ({action})")
            continue
        if kind == INT:
            text = value[1:] if value.startswith("-") else value
            if not text.isdigit() or len(text) > 18:
                raise VolcError(INVALID_PARAMETER, f"{name} must be an integer, got {short_repr(value)}")
            checked[name] = int(value)
        else:
            checked[name] = value
    return checked


def number(value: str, field_name: str) -> str:
    """A vms number (national, as the SDK examples send it; `+86` / `86` tolerated) in the ledger's form."""
    return normalize(value, field_name)


class RequestIds:
    """Seeded request ids shaped like Volcengine's (timestamp-like digits + hex): same seed, same ids."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(f"volcengine-request-id:{seed}")

    def next(self) -> str:
        return f"{self._rng.getrandbits(64):020d}{self._rng.getrandbits(48):012X}"


def _metadata(request_id: str, action: str, version: str) -> dict[str, Any]:
    return {"RequestId": request_id, "Action": action, "Version": version, "Service": SERVICE, "Region": REGION}


def envelope(result: Any, request_id: str, action: str) -> web.Response:
    body = {"ResponseMetadata": _metadata(request_id, action, API_VERSION), "Result": result}
    return web.Response(body=json.dumps(body, ensure_ascii=False).encode(), content_type="application/json")


def error_envelope(error: VolcError, request_id: str, action: str = "", version: str = "") -> web.Response:
    detail: dict[str, Any] = {"Code": error.code, "Message": error.message}
    if error.code_n is not None:
        detail = {"CodeN": error.code_n, **detail}
    body = {"ResponseMetadata": {**_metadata(request_id, action, version), "Error": detail}}
    return web.Response(status=error.status, body=json.dumps(body, ensure_ascii=False).encode(),
                        content_type="application/json")
