"""The native wire format: JSON bodies and query strings into typed values, ledger objects into JSON.

Parsing is strict (unknown fields, wrong types, bool-for-int, null, repeated
query parameters are all refused with the field named) and pure: nothing here
touches the ledger, so a refused request cannot change state.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from aiohttp import web
from multidict import MultiMapping

from ...clock import iso
from ...errors import InvalidArgument, short_repr
from ...ledger import Binding, CallRecord
from ...numbers import Number, normalize
from ..base import kept
from ..base import read_body as read_raw_body
from ...admin_gate import is_json_type
from .errors import DuplicateKey, MalformedJson, PayloadTooLarge, UnknownField, UnsupportedMediaType

MODES = ("XB", "AXB", "AXN")
BINDING_STATUSES = ("active", "expired")
MAX_EXPIRES_IN = 10 * 365 * 24 * 3600  # ten years, in seconds
MAX_CITY_LENGTH = 64
IDEMPOTENCY_HEADER = "Idempotency-Key"
_BODY = "native.body"  # request key: the body bytes, or the size limit it broke
_JSON = "native.json"  # request key: the body parsed as a JSON object
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")

FieldParser = Callable[[str, object], Any]


def number(name: str, value: object) -> str:
    """A phone number in any accepted wire form (+86, 0086, national) -> national form."""
    if not isinstance(value, str):
        raise InvalidArgument(f"{name} must be a string, got {_json_type(value)}", field=name)
    return normalize(value, name)


def mode(name: str, value: object) -> str:
    if value not in MODES or not isinstance(value, str):
        raise InvalidArgument(f"{name} must be one of {', '.join(MODES)}, got {short_repr(value)}", field=name)
    return value


def binding_status(name: str, value: object) -> str:
    if value not in BINDING_STATUSES or not isinstance(value, str):
        raise InvalidArgument(f"{name} must be one of {', '.join(BINDING_STATUSES)}, got {short_repr(value)}", field=name)
    return value


def city(name: str, value: object) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_CITY_LENGTH:
        raise InvalidArgument(f"{name} must be a string of 1 to {MAX_CITY_LENGTH} characters", field=name)
    return value


def seconds(name: str, value: object) -> int:
    """A whole number of seconds in [1, MAX_EXPIRES_IN]; JSON true/false and 3.5 are refused."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"{name} must be an integer number of seconds, got {_json_type(value)}", field=name)
    if not 1 <= value <= MAX_EXPIRES_IN:
        raise InvalidArgument(f"{name} must be between 1 and {MAX_EXPIRES_IN} seconds, got {value}", field=name)
    return value


# What each body / query accepts: field -> parser. Anything else is UNKNOWN_FIELD.
CREATE_BINDING_FIELDS: dict[str, FieldParser] = {
    "mode": mode, "x": number, "a": number, "b": number, "city": city, "expires_in": seconds,
}
UPDATE_BINDING_FIELDS: dict[str, FieldParser] = {"a": number, "b": number, "expires_in": seconds}
PLACE_CALL_FIELDS: dict[str, FieldParser] = {"caller": number, "x": number}
LIST_BINDINGS_QUERY: dict[str, FieldParser] = {
    "x": number, "a": number, "b": number, "mode": mode, "status": binding_status,
}
LIST_CALLS_QUERY: dict[str, FieldParser] = {"x": number, "caller": number}
LIST_NUMBERS_QUERY: dict[str, FieldParser] = {"city": city}


@dataclass(frozen=True)
class CreateBinding:
    mode: str
    b: str | None = None
    a: str | None = None
    x: str | None = None
    city: str | None = None
    expires_in: int | None = None


@dataclass(frozen=True)
class UpdateBinding:
    a: str | None = None
    b: str | None = None
    expires_in: int | None = None


@dataclass(frozen=True)
class PlaceCall:
    caller: str
    x: str


# ---- parsing -------------------------------------------------------------


def json_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object, or MALFORMED_JSON / INVALID_ARGUMENT saying what is wrong with it."""
    if not raw.strip():
        raise MalformedJson("the request body is empty; a JSON object is required")
    try:
        data = json.loads(raw, object_pairs_hook=_unique_keys)
    except DuplicateKey:
        raise
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, bad UTF-8, absurd nesting
        raise MalformedJson(f"the request body is not valid JSON: {_short(exc)}") from None
    if not isinstance(data, dict):
        raise InvalidArgument(f"the request body must be a JSON object, got {_json_type(data)}")
    return data


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """json.loads hook: a key twice in one object is refused (JSON's "last one wins" hides mistakes)."""
    data: dict[str, Any] = {}
    for key, value in pairs:
        if key in data:
            raise DuplicateKey(f"the key {short_repr(key)} appears more than once in one object", field=key[:64])
        data[key] = value
    return data


async def read_body(request: web.Request) -> bytes:
    """The raw body, read once per request (describe, idempotency and the handler all ask for it).

    An oversize body is remembered as such: aiohttp consumes the stream while refusing it, so a
    second `request.read()` would see an empty body instead of the real problem.
    """
    body = kept(request, _BODY)
    if body is None:
        body = await read_raw_body(request)
        request[_BODY] = body = request.client_max_size if body is None else body
    if isinstance(body, int):
        raise PayloadTooLarge(f"the request body is larger than {body} bytes")
    return body


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object, parsed once per request (describe reads it before the handler).

    Only a body sent as JSON (`application/json`, `application/*+json`) is read as JSON: `text/plain`
    is what a web page may send cross-site without asking first, so it is refused 415."""
    content_type = request.headers.get("Content-Type")
    if not is_json_type(content_type):
        raise UnsupportedMediaType(
            f"the body must be sent as Content-Type: application/json, not {short_repr(content_type or 'none')}")
    data = kept(request, _JSON)
    if data is None:
        request[_JSON] = data = json_object(await read_body(request))
    return data


def fields(
    data: Mapping[str, object], spec: Mapping[str, FieldParser], required: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Check every field against `spec`; return the parsed values of those present."""
    for name in data:
        if name not in spec:
            accepted = ", ".join(spec) or "none"
            raise UnknownField(f"unknown field {short_repr(name)}; accepted: {accepted}", field=name[:64])
    for name in required:
        if name not in data:
            raise InvalidArgument(f"{name} is required", field=name)
    return {name: spec[name](name, value) for name, value in data.items()}


def query(params: MultiMapping[str], spec: Mapping[str, FieldParser]) -> dict[str, Any]:
    """Query parameters: each at most once, each known; values checked like body fields."""
    single: dict[str, str] = {}
    for name in params:
        if len(params.getall(name)) > 1:
            raise InvalidArgument(f"query parameter {short_repr(name)} is given more than once", field=name)
        single[name] = params[name]
    return fields(single, spec)


def create_binding(data: Mapping[str, object]) -> CreateBinding:
    return CreateBinding(**fields(data, CREATE_BINDING_FIELDS, required=("mode",)))


def update_binding(data: Mapping[str, object]) -> UpdateBinding:
    parsed = fields(data, UPDATE_BINDING_FIELDS)
    if not parsed:
        raise InvalidArgument("nothing to change: give at least one of a, b, expires_in")
    return UpdateBinding(**parsed)


def place_call(data: Mapping[str, object]) -> PlaceCall:
    return PlaceCall(**fields(data, PLACE_CALL_FIELDS, required=("caller", "x")))


def idempotency_key(headers: Mapping[str, str]) -> str | None:
    key = headers.get(IDEMPOTENCY_HEADER)
    if key is not None and not _IDEMPOTENCY_KEY.fullmatch(key):
        raise InvalidArgument(
            f"{IDEMPOTENCY_HEADER} must be 1 to 255 printable ASCII characters without spaces",
            field=IDEMPOTENCY_HEADER,
        )
    return key


# ---- shaping -------------------------------------------------------------


def binding_json(binding: Binding) -> dict[str, Any]:
    return {
        "binding_id": binding.binding_id,
        "mode": binding.mode,
        "x": binding.x,
        "a": binding.a,
        "b": binding.b,
        "status": binding.status,
        "created_at": iso(binding.created_at),
        "expires_at": _iso_or_none(binding.expires_at),
        "ended_at": _iso_or_none(binding.ended_at),
    }


def call_json(record: CallRecord) -> dict[str, Any]:
    return {
        "call_id": record.call_id,
        "caller": record.caller,
        "x": record.x,
        "outcome": record.outcome,
        "callee": record.callee,
        "shown_caller": record.shown_caller,
        "reason": record.reason,
        "binding_id": record.binding_id,
        "mode": record.mode,
        "started_at": iso(record.started_at),
        "duration": record.duration,
    }


def number_json(num: Number, status: str) -> dict[str, Any]:
    return {"x": num.x, "city": num.city, "status": status}


def _iso_or_none(at: float | None) -> str | None:
    return None if at is None else iso(at)


def _json_type(value: object) -> str:
    names = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "object"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."
