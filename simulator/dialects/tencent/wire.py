"""Tencent NPP's wire format: reading a request's parameters, checking them, numbers, response envelopes.

Three request layouts reach `/` (all verified against tencentcloud-sdk-python):
- TC3 POST: JSON body, action and version in `X-TC-*` headers;
- TC3 GET: parameters in the query (`AccreditList.0=...`), same headers;
- legacy HmacSHA1/256: form parameters (body, or query for GET) carrying
  `Action`, `Version`, `Timestamp`, `Nonce`, `SecretId`, `Signature`, ...
No state here: the handlers in `actions.py` call the ledger.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from typing import Any, Mapping
from urllib.parse import parse_qsl

from aiohttp import web

from ...errors import short_repr
from ...numbers import normalize
from .errors import INVALID_PARAMETER, MISSING_PARAMETER, UNKNOWN_PARAMETER, GatewayError

API_VERSION = "2019-08-23"
NUMBER_PREFIX = "0086"
# The SDK looks for `Response.Error` only under exactly this Content-Type: with a charset it misses the error.
CONTENT_TYPE = "application/json"
# What json.dumps(..., ensure_ascii=False) builds on every call, built once.
_ENCODER = json.JSONEncoder(ensure_ascii=False)

# Parameters of the legacy signing form that are not the action's own.
LEGACY_COMMON = frozenset(
    {"Action", "Version", "Region", "Timestamp", "Nonce", "SecretId", "SignatureMethod", "Signature", "Language", "RequestClient", "Token"}
)

# Each action's parameters: name -> (kind, required). The SDK checks nothing, so the server does.
STR, STR_LIST = "str", "list"
ACTION_FIELDS: dict[str, dict[str, tuple[str, bool]]] = {
    "GetVirtualNum": {
        "BizAppId": (STR, True),
        "Dst": (STR, True),
        "Src": (STR, False),
        "AccreditList": (STR_LIST, False),
        "AssignVirtualNum": (STR, False),
        "Record": (STR, False),
        "CityId": (STR, False),
        "BizId": (STR, False),
        "MaxAssignTime": (STR, False),
        "StatusFlag": (STR, False),
        "StatusUrl": (STR, False),
        "HangupUrl": (STR, False),
        "RecordUrl": (STR, False),
    },
    "DelVirtualNum": {
        "BizAppId": (STR, True),
        "BindId": (STR, True),
        "BizId": (STR, False),
    },
    "Get400Cdr": {
        "BizAppId": (STR, True),
        "CallId": (STR, False),
        "Src": (STR, False),
        "StartTimeStamp": (STR, False),
        "EndTimeStamp": (STR, False),
    },
}

_INDEXED = re.compile(r"^(?P<name>[A-Za-z][A-Za-z0-9]*)\.(?P<index>\d+)$")


@dataclass
class WireRequest:
    """One request as the gateway reads it, before authentication."""

    method: str
    host: str
    headers: Mapping[str, str]  # lower-case names
    raw_query: str
    body: bytes
    scheme: str  # "tc3" or "legacy"
    action: str
    version: str
    params: dict[str, Any] = field(default_factory=dict)  # the action's own parameters
    common: dict[str, str] = field(default_factory=dict)  # legacy signing parameters


def is_tencent(headers: Mapping[str, str], query: Mapping[str, str]) -> bool:
    """Tencent's requests carry `X-TC-Action`, or `Action` with Version 2019-08-23 (legacy form)."""
    if "x-tc-action" in headers:
        return True
    return bool(query.get("Action")) and query.get("Version") == API_VERSION


def parse_request(method: str, headers: Mapping[str, str], raw_query: str, body: bytes) -> WireRequest:
    """Read the layout, the action and the parameters; raise GatewayError on a body that cannot be read."""
    host = headers.get("host", "")
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if "x-tc-action" in headers:
        if method == "GET":
            params = _unflatten(parse_qsl(raw_query, keep_blank_values=True))
        elif content_type == "application/json":
            params = _json_object(body)
        else:
            params = _unflatten(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        return WireRequest(
            method, host, headers, raw_query, body, "tc3", headers["x-tc-action"], headers.get("x-tc-version", ""), params
        )
    pairs = parse_qsl(raw_query, keep_blank_values=True)
    if method != "GET":
        pairs += parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    common = {k: v for k, v in pairs if k in LEGACY_COMMON}
    params = _unflatten([(k, v) for k, v in pairs if k not in LEGACY_COMMON])
    return WireRequest(
        method, host, headers, raw_query, body, "legacy", common.get("Action", ""), common.get("Version", ""), params, common
    )


def legacy_signed_params(wire: WireRequest) -> dict[str, str]:
    """Every form parameter as sent (flat keys), the set the legacy signature covers."""
    pairs = parse_qsl(wire.raw_query, keep_blank_values=True)
    if wire.method != "GET":
        pairs += parse_qsl(wire.body.decode("utf-8", "replace"), keep_blank_values=True)
    return dict(pairs)


def _json_object(body: bytes) -> dict[str, Any]:
    """The TC3 JSON body as an object; every way it can be malformed (bad UTF-8, bad JSON, a key given
    twice, nesting too deep for the parser, a 5,000-digit number) is the gateway's InvalidParameter."""
    try:
        text = (body or b"{}").decode("utf-8")
    except UnicodeDecodeError as exc:
        raise GatewayError(INVALID_PARAMETER, f"the request body is not UTF-8 (byte {exc.start})") from None
    try:
        data = json.loads(text, object_pairs_hook=_unique_keys)
    except GatewayError:
        raise
    except RecursionError:
        raise GatewayError(INVALID_PARAMETER, "the request body is nested too deeply to be read") from None
    except ValueError as exc:
        raise GatewayError(INVALID_PARAMETER, f"the request body is not valid JSON: {str(exc)[:100]}") from None
    if not isinstance(data, dict):
        raise GatewayError(INVALID_PARAMETER, f"the request body must be a JSON object, got {type(data).__name__}")
    return {k: v for k, v in data.items() if v is not None}


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key, value in pairs:
        if key in data:
            raise GatewayError(INVALID_PARAMETER, f"the parameter {short_repr(key)} is given more than once")
        data[key] = value
    return data


def _unflatten(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Form keys `Name.0`, `Name.1` become a list `Name`; other keys stay strings."""
    params: dict[str, Any] = {}
    indexed: dict[str, dict[int, str]] = {}
    for key, value in pairs:
        match = _INDEXED.match(key)
        if match:
            indexed.setdefault(match["name"], {})[int(match["index"])] = value
        else:
            params[key] = value
    for name, items in indexed.items():
        params[name] = [items[i] for i in sorted(items)]
    return params


def check_params(action: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Unknown, missing or wrongly typed parameters are refused by the gateway, naming the parameter."""
    fields = ACTION_FIELDS[action]
    unknown = sorted(set(params) - set(fields))
    if unknown:
        raise GatewayError(UNKNOWN_PARAMETER, f"unknown parameter(s) for {action}: {', '.join(unknown)}")
    for name, (kind, required) in fields.items():
        if name not in params:
            if required:
                raise GatewayError(MISSING_PARAMETER, f"the parameter {name} is required by {action}")
            continue
        value = params[name]
        if kind == STR and not isinstance(value, str):
            raise GatewayError(INVALID_PARAMETER, f"{name} must be a string, got {type(value).__name__}")
        if kind == STR_LIST and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise GatewayError(INVALID_PARAMETER, f"{name} must be a list of strings")
        if required and value == "":
            raise GatewayError(MISSING_PARAMETER, f"the parameter {name} is required by {action} and is empty")
    return dict(params)


def number(value: str, field_name: str) -> str:
    """A Tencent number (`0086` + national) in the ledger's national form; raises InvalidNumber naming the field."""
    national = value[len(NUMBER_PREFIX) :] if value.startswith(NUMBER_PREFIX) else value
    return normalize(national, field_name)


def wire_number(national: str | None) -> str:
    return f"{NUMBER_PREFIX}{national}" if national else ""


class RequestIds:
    """Seeded, UUID-shaped request ids: the same seed and request order give the same ids."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(f"tencent-request-id:{seed}")

    def next(self) -> str:
        h = f"{self._rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def envelope(fields: Mapping[str, Any], request_id: str) -> web.Response:
    """HTTP 200 `{"Response": {...fields, "RequestId"}}` with the exact Content-Type the SDK needs."""
    body = {"Response": {**fields, "RequestId": request_id}}
    return web.Response(body=_ENCODER.encode(body).encode(), headers={"Content-Type": CONTENT_TYPE})


def error_envelope(code: str, message: str, request_id: str, status: int = 200) -> web.Response:
    """A gateway error: `Response.Error{Code, Message}`; HTTP 200 unless an injected fault says otherwise."""
    body = {"Response": {"Error": {"Code": code, "Message": message}, "RequestId": request_id}}
    return web.Response(
        status=status, body=_ENCODER.encode(body).encode(), headers={"Content-Type": CONTENT_TYPE}
    )
