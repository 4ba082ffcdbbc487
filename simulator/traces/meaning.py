"""What a provider request means, independent of how it was signed and sent.

`meaning_of` reads a request's raw parts (method, path, query string, headers, body) and returns its
dialect, action and normalised business parameters: numbers in national form, the names that carry
X / A / B / the binding id / the pool key / the expiration renamed to `x`, `a`, `b`, `binding_id`,
`pool_key`, `expiration`, and everything that changes from one send to the next left out (signatures,
nonces, timestamps, key ids, request ids, idempotency keys). Replay matches on `match_key`, so a
re-signed request with reordered JSON keys and new nonces still matches, and a changed number does not.

Pure functions: the recorder, the replay server, HAR import and `trace check` all call the same ones.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable, Mapping
from urllib.parse import parse_qsl

from ..numbers import _WIRE_NUMBER

ALIYUN_VERSION = "2017-05-25"
TENCENT_VERSION = "2019-08-23"
VOLCENGINE_VERSION = "2022-01-01"

# Envelope and signing fields: never part of the meaning.
ALIYUN_ENVELOPE = frozenset({
    "Action", "Version", "Format", "Timestamp", "SignatureNonce", "SignatureMethod", "SignatureVersion",
    "SignatureType", "AccessKeyId", "Signature", "SecurityToken", "RegionId",
})
TENCENT_ENVELOPE = frozenset({
    "Action", "Version", "Region", "Timestamp", "Nonce", "SecretId", "SignatureMethod", "Signature", "Language",
    "RequestClient", "Token",
})
# Volcengine signs in headers (Authorization, X-Date, X-Content-Sha256): only Action / Version are envelope.
VOLCENGINE_ENVELOPE = frozenset({"Action", "Version"})
# Business fields that are request or correlation ids the client makes up (Aliyun's ReqId differs on every
# send; OutId is whatever the service derives from its own operation ids, which another build of the same
# service derives differently): matching ignores them, so a fixed service's calls still meet the recording.
VOLATILE_PARAMS = {
    "native": frozenset(),
    "aliyun": frozenset({"ReqId", "OutId"}),
    "tencent": frozenset(),
    "volcengine": frozenset({"OutId"}),
}
# Wire name -> common name, per dialect.
RENAMES: dict[str, dict[str, str]] = {
    "native": {},
    "aliyun": {
        "PhoneNoX": "x", "SecretNo": "x", "TelX": "x",
        "PhoneNoA": "a", "TelA": "a",
        "PhoneNoB": "b", "TelB": "b",
        "SubsId": "binding_id", "BindId": "binding_id", "AuthId": "binding_id",
        "PoolKey": "pool_key", "CustomerPoolKey": "pool_key",
        "Expiration": "expiration",
    },
    "tencent": {
        "AssignVirtualNum": "x", "Src": "a", "Dst": "b", "BindId": "binding_id", "BizAppId": "pool_key",
        "MaxAssignTime": "expiration",
    },
    "volcengine": {
        "PhoneNoX": "x", "PhoneNoA": "a", "PhoneNoB": "b", "SubId": "binding_id", "NumberPoolNo": "pool_key",
        "ExpireTime": "expiration",
    },
}
NUMBER_NAMES = frozenset({"x", "a", "b", "caller", "callee"})
# The native API's operations: (method, path regex) -> operation; kept here (not imported from the
# dialect's route table) so that reading a trace needs no server code.
_NATIVE = (
    ("POST", "/v1/bindings", "create_binding"),
    ("GET", "/v1/bindings", "list_bindings"),
    ("GET", "/v1/bindings/{binding_id}", "get_binding"),
    ("PATCH", "/v1/bindings/{binding_id}", "update_binding"),
    ("DELETE", "/v1/bindings/{binding_id}", "delete_binding"),
    ("POST", "/v1/calls", "place_call"),
    ("GET", "/v1/calls", "list_calls"),
    ("GET", "/v1/calls/{call_id}", "get_call"),
    ("GET", "/v1/numbers", "list_numbers"),
)


@dataclass(frozen=True)
class Meaning:
    dialect: str
    action: str
    params: dict[str, Any]

    @property
    def key(self) -> str:
        return match_key(self.dialect, self.action, self.params)


def match_key(dialect: str, action: str, params: Mapping[str, Any]) -> str:
    """The string replay indexes exchanges by: canonical JSON, so key order never matters."""
    volatile = VOLATILE_PARAMS.get(dialect, frozenset())
    kept = {k: v for k, v in params.items() if k not in volatile}
    return json.dumps([dialect, action, kept], sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def detect_dialect(method: str, path: str, headers: Mapping[str, str], query: str) -> str | None:
    """native for `/v1/...`; aliyun / tencent by their action header or Action+Version; volcengine by
    Action+Version 2022-01-01; else None."""
    if path.startswith("/v1/"):
        return "native"
    lower = {k.lower(): v for k, v in headers.items()}
    if "x-acs-action" in lower:
        return "aliyun"
    if "x-tc-action" in lower:
        return "tencent"
    params = dict(parse_qsl(query, keep_blank_values=True))
    if params.get("Action"):
        if params.get("Version") == ALIYUN_VERSION:
            return "aliyun"
        if params.get("Version") == TENCENT_VERSION:
            return "tencent"
        if params.get("Version") == VOLCENGINE_VERSION:
            return "volcengine"
    return None


def meaning_of(dialect: str, method: str, path: str, query: str, headers: Mapping[str, str],
               body: bytes | str | Any) -> Meaning:
    """The meaning of one request. `body` may be raw bytes, text, or already-parsed JSON (a trace's).

    Never raises on malformed input: an unreadable body means no parameters from it."""
    lower = {k.lower(): str(v) for k, v in headers.items()}
    method = method.upper()
    if dialect == "native":
        return _native(method, path, query, _body_json(body))
    pairs = parse_qsl(query or "", keep_blank_values=True)
    content_type = lower.get("content-type", "").split(";")[0].strip().lower()
    body_text = _body_text(body)
    if dialect == "aliyun":
        form = parse_qsl(body_text, keep_blank_values=True) if body_text and "json" not in content_type else []
        params = dict(pairs + form)
        action = lower.get("x-acs-action") or params.get("Action", "")
        if "Signature" in params:  # RPC names its action in the signed parameters
            action = params.get("Action") or action
        business = {k: v for k, v in params.items() if k not in ALIYUN_ENVELOPE}
        return Meaning("aliyun", action, _normalise("aliyun", business))
    if dialect == "tencent":
        if "x-tc-action" in lower:
            action = lower["x-tc-action"]
            if method == "GET":
                raw: dict[str, Any] = _unflatten(pairs)
            elif content_type == "application/json" or isinstance(body, (dict, list)):
                parsed = _body_json(body)
                raw = parsed if isinstance(parsed, dict) else {}
            else:
                raw = _unflatten(parse_qsl(body_text, keep_blank_values=True))
        else:
            if method != "GET" and body_text:
                pairs = pairs + parse_qsl(body_text, keep_blank_values=True)
            common = {k: v for k, v in pairs if k in TENCENT_ENVELOPE}
            action = common.get("Action", "")
            raw = _unflatten([(k, v) for k, v in pairs if k not in TENCENT_ENVELOPE])
        raw = {k: v for k, v in raw.items() if v is not None}
        return Meaning("tencent", action, _normalise("tencent", raw))
    if dialect == "volcengine":
        form = parse_qsl(body_text, keep_blank_values=True) if body_text and method != "GET" and "json" not in content_type else []
        params = dict(pairs + form)
        business = {k: v for k, v in params.items() if k not in VOLCENGINE_ENVELOPE}
        return Meaning("volcengine", params.get("Action", ""), _normalise("volcengine", business))
    raise ValueError(f"unknown dialect {dialect!r}")


def _native(method: str, path: str, query: str, body: Any) -> Meaning:
    for route_method, pattern, operation in _NATIVE:
        found = _match_path(pattern, path)
        if found is not None and route_method == method:
            params: dict[str, Any] = dict(found)
            params.update(parse_qsl(query or "", keep_blank_values=True))
            if isinstance(body, dict):
                params.update(body)
            return Meaning("native", operation, _normalise("native", params))
    return Meaning("native", f"{method} {path}", {})


def _match_path(pattern: str, path: str) -> dict[str, str] | None:
    want, got = pattern.strip("/").split("/"), path.strip("/").split("/")
    if len(want) != len(got):
        return None
    found = {}
    for w, g in zip(want, got):
        if w.startswith("{"):
            if not g:
                return None
            found[w[1:-1]] = g
        elif w != g:
            return None
    return found


def _normalise(dialect: str, params: Mapping[str, Any]) -> dict[str, Any]:
    renames = RENAMES[dialect]
    out: dict[str, Any] = {}
    for name, value in params.items():
        common = renames.get(name, name)
        if common in NUMBER_NAMES:
            value = national(value)
        out[common] = value
    return out


def national(value: Any) -> Any:
    """`+8613800000001` / `008613800000001` -> `13800000001`; anything else unchanged."""
    if isinstance(value, str):
        found = _WIRE_NUMBER.fullmatch(value)
        if found:
            return found.group(2)
    return value


def _unflatten(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Form keys `Name.0`, `Name.1` become a list `Name`, as Tencent's legacy form encodes lists."""
    params: dict[str, Any] = {}
    indexed: dict[str, dict[int, str]] = {}
    for key, value in pairs:
        name, _, index = key.rpartition(".")
        if name and index.isdigit():
            indexed.setdefault(name, {})[int(index)] = value
        else:
            params[key] = value
    for name, items in indexed.items():
        params[name] = [items[i] for i in sorted(items)]
    return params


def _body_text(body: Any) -> str:
    if body is None:
        return ""
    if isinstance(body, (bytes, bytearray)):
        return bytes(body).decode("utf-8", errors="replace")
    if isinstance(body, str):
        return body
    return ""


def _body_json(body: Any) -> Any:
    if isinstance(body, (dict, list)):
        return body
    text = _body_text(body)
    if not text:
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None
