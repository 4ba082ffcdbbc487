"""The core's HTTP API: a route table, strict parsing, and the JSON answers. State changes go through the service.

Every refusal is `{"code", "message"}` (plus `field`, `current`, `operation_id`
where they help) with a 4xx status, and is decided before anything is written.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
from typing import Any, Awaitable, Callable, Mapping

from aiohttp import web

from . import openapi
from .alerts import alert_json
from simulator.admin_gate import AdminGate, is_json_type
from simulator.errors import short_repr

from .config import ConfigError, GraySettings
from .gray import GrayRouter
from .numbers import InvalidNumber, normalize
from .provider.breaker import GuardedClient
from .service import Accepted, BindingService, Finished, Unsettled
from .records import Operation, StateConflict
from .storage import OperationStore, StoreUnavailable

log = logging.getLogger("binding_core.api")

SERVICE = web.AppKey("service", BindingService)
STORE = web.AppKey("store", OperationStore)
GRAY = web.AppKey("gray", GrayRouter)
PROVIDER = web.AppKey("provider", GuardedClient)
ADMIN_GATE = web.AppKey("admin_gate", AdminGate)
MAX_BODY_BYTES = 64 * 1024
OP_STATES = ("pending", "running", "done", "dead")
# Lists answer a page at a time: `limit` rows (default, maximum) after the cursor `after`, with `total`
# (the rows the filter matches, whatever the page) and `next` (the cursor of the next page, or null).
PAGE_LIMITS = {"operations": (1000, 1000), "alerts": (1000, 1000), "transitions": (10000, 10000)}
_OP_ID = re.compile(openapi.OPERATION_ID_PATTERN)
# Seconds a client is told to wait (Retry-After) when the database failed: a busy SQLite file or a cut
# PostgreSQL connection is usually over by then (a store reconnects on its next call).
STORE_RETRY_AFTER = 1
STORE_FAILURES = (sqlite3.OperationalError, StoreUnavailable)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, *, headers: Mapping[str, str] | None = None,
                 **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra
        self.headers = dict(headers or {})

    def response(self) -> web.Response:
        return web.json_response({"code": self.code, "message": self.message, **self.extra}, status=self.status,
                                 headers=self.headers)


# ---- parsing ---------------------------------------------------------------


def _number(value: object, field: str) -> str:
    try:
        return normalize(value, field)
    except InvalidNumber as exc:
        raise ApiError(400, "INVALID_NUMBER", str(exc), field=field) from None


def _path_x(request: web.Request) -> str:
    return _number(request.match_info["x"], "x")


def _query(request: web.Request, accepted: tuple[str, ...]) -> dict[str, str]:
    single: dict[str, str] = {}
    for name in request.query:
        if name not in accepted:
            raise ApiError(400, "UNKNOWN_FIELD", f"unknown query parameter {name!r}; accepted: {', '.join(accepted) or 'none'}", field=name)
        if len(request.query.getall(name)) > 1:
            raise ApiError(400, "INVALID_ARGUMENT", f"query parameter {name!r} is given more than once", field=name)
        single[name] = request.query[name]
    return single


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """json.loads hook: a key given twice in one object is refused (JSON's "last one wins" hides mistakes)."""
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ApiError(400, "DUPLICATE_KEY", f"the key {short_repr(key)} appears more than once in one object",
                           field=key[:64])
        seen[key] = value
    return seen


async def _body(request: web.Request, accepted: tuple[str, ...], required: tuple[str, ...]) -> dict[str, Any]:
    content_type = request.headers.get("Content-Type")
    if not is_json_type(content_type):
        raise ApiError(415, "UNSUPPORTED_MEDIA_TYPE",
                       f"the body must be sent as Content-Type: application/json, not {short_repr(content_type or 'none')}")
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise ApiError(413, "PAYLOAD_TOO_LARGE", f"the request body is larger than {MAX_BODY_BYTES} bytes") from None
    if not raw.strip():
        raise ApiError(400, "MALFORMED_JSON", "the request body is empty; a JSON object is required")
    try:
        data = json.loads(raw, object_pairs_hook=_no_duplicate_keys)
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, "MALFORMED_JSON", f"the request body is not valid JSON: {str(exc)[:120]}") from None
    if not isinstance(data, dict):
        raise ApiError(400, "INVALID_ARGUMENT", f"the request body must be a JSON object, got {type(data).__name__}")
    for name in data:
        if name not in accepted:
            raise ApiError(400, "UNKNOWN_FIELD", f"unknown field {short_repr(name)}; accepted: {', '.join(accepted)}",
                           field=name[:64])
    for name in required:
        if name not in data:
            raise ApiError(400, "INVALID_ARGUMENT", f"{name} is required", field=name)
    return data


def _no_body(request: web.Request) -> None:
    if request.content_length:
        raise ApiError(400, "INVALID_ARGUMENT", "this request takes no body")


# ---- answers ---------------------------------------------------------------


def _store_busy(message: str, **extra: Any) -> ApiError:
    return ApiError(503, "STORE_BUSY", message, headers={"Retry-After": str(STORE_RETRY_AFTER)}, **extra)


def _answer(result: Accepted | Finished | Unsettled, store: OperationStore) -> web.Response:
    op = result.operation
    try:
        mode_view = store.view(op.x)[op.mode.lower()]
    except STORE_FAILURES as exc:
        # The change is already committed (the worker carries it out); only reading the answer failed.
        raise _store_busy(f"the change was accepted as {op.id}, but the database failed while answering; "
                          f"see GET /v1/operations/{op.id}: {exc}", operation_id=op.id) from None
    body = {
        "operation_id": op.id,
        "x": op.x,
        "mode": op.mode,
        "kind": op.kind,
        "path": op.path,
        "state": op.state,
        "status": mode_view["status"],
        "version": mode_view["version"],
        "binding_id": mode_view["binding_id"],
    }
    if isinstance(result, Accepted):
        return web.json_response(body, status=202)
    if isinstance(result, Finished):
        if result.error is None:
            return web.json_response(body, status=200)
        error = result.error
        status = 409 if error.status == 409 else 422
        raise ApiError(status, error.code, f"the provider refused: {error.message}", operation_id=op.id, current=mode_view)
    code = result.code or {502: "PROVIDER_ERROR", 503: "CIRCUIT_OPEN", 504: "PROVIDER_TIMEOUT"}[result.status]
    raise ApiError(result.status, code, result.reason, operation_id=op.id)


async def _change(request: web.Request, mode: str, kind: str, a: str | None = None, b: str | None = None) -> web.Response:
    x = request["x"]
    try:
        result = await request.app[SERVICE].request(x, mode, kind, a=a, b=b)
    except StateConflict as exc:
        raise ApiError(409, "STATE_CONFLICT", str(exc), current=exc.view[mode.lower()]) from None
    except STORE_FAILURES as exc:  # e.g. another process holds the write lock too long: nothing written
        raise _store_busy(f"the database refused the change, try again: {exc}") from None
    return _answer(result, request.app[STORE])


def _distinct(x: str, **numbers: str) -> None:
    seen = {"x": x}
    for field, value in numbers.items():
        for other_field, other in seen.items():
            if value == other:
                raise ApiError(400, "INVALID_ARGUMENT", f"{field} must differ from {other_field}", field=field)
        seen[field] = value


# ---- handlers --------------------------------------------------------------


async def bind_xb(request: web.Request) -> web.Response:
    data = await _body(request, ("b",), ("b",))
    b = _number(data["b"], "b")
    _distinct(request["x"], b=b)
    return await _change(request, "XB", "bind", b=b)


async def bind_axb(request: web.Request) -> web.Response:
    data = await _body(request, ("a", "b"), ("a", "b"))
    a, b = _number(data["a"], "a"), _number(data["b"], "b")
    _distinct(request["x"], a=a, b=b)
    return await _change(request, "AXB", "bind", a=a, b=b)


async def unbind_xb(request: web.Request) -> web.Response:
    _no_body(request)
    return await _change(request, "XB", "unbind")


async def unbind_axb(request: web.Request) -> web.Response:
    _no_body(request)
    return await _change(request, "AXB", "unbind")


async def get_number(request: web.Request) -> web.Response:
    return web.json_response(request.app[STORE].view(request["x"]))


def _limit(params: dict[str, str], kind: str) -> int:
    default, maximum = PAGE_LIMITS[kind]
    text = params.get("limit")
    if text is None:
        return default
    if not text.isascii() or not text.isdigit() or len(text) > 6 or not 1 <= int(text) <= maximum:
        raise ApiError(400, "INVALID_ARGUMENT", f"limit must be a whole number from 1 to {maximum}", field="limit")
    return int(text)


def _seq_after(params: dict[str, str]) -> int:
    after = params.get("after", "0")
    if not after.isascii() or not after.isdigit() or len(after) > 18:
        raise ApiError(400, "INVALID_ARGUMENT", "after must be a non-negative integer", field="after")
    return int(after)


async def list_operations(request: web.Request) -> web.Response:
    """A page of operations, oldest first; `after` is the last operation id of the previous page."""
    params = _query(request, ("state", "limit", "after"))
    state = params.get("state")
    if state is not None and state not in OP_STATES:
        raise ApiError(400, "INVALID_ARGUMENT", f"state must be one of {', '.join(OP_STATES)}", field="state")
    after = params.get("after")
    if after is not None and not _OP_ID.fullmatch(after):
        raise ApiError(400, "INVALID_ARGUMENT", f"after must be an operation id (op_ and 8 digits), "
                                                f"got {short_repr(after)}", field="after")
    limit = _limit(params, "operations")
    store = request.app[STORE]
    ops = store.operations(state, limit=limit + 1, after=int(after[3:]) if after else 0)
    page = ops[:limit]
    return web.json_response({
        "operations": [op.to_dict() for op in page],
        "total": store.count_operations(state),
        "next": page[-1].id if len(ops) > limit else None,
    })


async def get_operation(request: web.Request) -> web.Response:
    op_id = request.match_info["operation_id"]
    if not re.fullmatch(openapi.OPERATION_ID_PATTERN, op_id):
        raise ApiError(400, "INVALID_ARGUMENT", f"{op_id!r} is not an operation id (op_ and 8 digits)", field="operation_id")
    try:
        op: Operation = request.app[STORE].operation(op_id)
    except KeyError:
        raise ApiError(404, "OPERATION_NOT_FOUND", f"operation {op_id!r} does not exist") from None
    return web.json_response(op.to_dict())


async def list_alerts(request: web.Request) -> web.Response:
    """A page of alerts, oldest first; `after` is the last alert_id of the previous page."""
    params = _query(request, ("limit", "after"))
    limit = _limit(params, "alerts")
    store = request.app[STORE]
    rows = store.alerts(after=_seq_after(params), limit=limit + 1)
    page = rows[:limit]
    return web.json_response({
        "alerts": [alert_json(row) for row in page],
        "total": store.count_alerts(),
        "next": page[-1]["seq"] if len(rows) > limit else None,
    })


async def list_transitions(request: web.Request) -> web.Response:
    params = _query(request, ("x", "after", "limit"))
    x = _number(params["x"], "x") if "x" in params else None
    after = _seq_after(params)
    limit = _limit(params, "transitions")
    store = request.app[STORE]
    rows = store.transitions(x=x, after=after, limit=limit + 1)
    page = rows[:limit]
    return web.json_response({
        "transitions": page,
        "total": store.count_transitions(x),
        "next": page[-1]["seq"] if len(rows) > limit else None,
    })


async def health(request: web.Request) -> web.Response:
    """`degraded` (still HTTP 200: the core is alive) names what an operator must fix."""
    provider = request.app[PROVIDER]
    problems = []
    if provider.auth_problem is not None:
        problems.append(f"the provider refuses the core's credentials: {provider.auth_problem.describe()}")
    return web.json_response({
        "status": "degraded" if problems else "ok",
        "problems": problems,
        "operations": request.app[STORE].counts(),
        "breaker": provider.breaker.state,
    })


async def get_gray(request: web.Request) -> web.Response:
    return web.json_response(request.app[GRAY].current.to_dict())


async def put_gray(request: web.Request) -> web.Response:
    data = await _body(request, ("all", "numbers"), ())
    if "all" in data and not isinstance(data["all"], bool):
        raise ApiError(400, "INVALID_ARGUMENT", "all must be a boolean", field="all")
    numbers = data.get("numbers", [])
    if not isinstance(numbers, list):
        raise ApiError(400, "INVALID_ARGUMENT", "numbers must be a list of numbers", field="numbers")
    normalized = tuple(_number(n, "numbers[]") for n in numbers)
    try:
        gray = request.app[GRAY].set(GraySettings(all=data.get("all", False), numbers=normalized))
    except ConfigError as exc:
        raise ApiError(400, "INVALID_ARGUMENT", str(exc)) from None
    return web.json_response(gray.to_dict())


async def delete_gray(request: web.Request) -> web.Response:
    _no_body(request)
    return web.json_response(request.app[GRAY].set(None).to_dict())


async def get_openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi.document())


Handler = Callable[[web.Request], Awaitable[web.Response]]

# (method, path, handler): one row per operation.
ROUTES: tuple[tuple[str, str, Handler], ...] = (
    ("GET", "/v1/numbers/{x}", get_number),
    ("POST", "/v1/numbers/{x}/xb", bind_xb),
    ("DELETE", "/v1/numbers/{x}/xb", unbind_xb),
    ("POST", "/v1/numbers/{x}/axb", bind_axb),
    ("DELETE", "/v1/numbers/{x}/axb", unbind_axb),
    ("GET", "/v1/operations", list_operations),
    ("GET", "/v1/operations/{operation_id}", get_operation),
    ("GET", "/v1/alerts", list_alerts),
    ("GET", "/v1/transitions", list_transitions),
    ("GET", "/health", health),
    ("GET", "/_admin/gray", get_gray),
    ("PUT", "/_admin/gray", put_gray),
    ("DELETE", "/_admin/gray", delete_gray),
    ("GET", "/openapi.json", get_openapi),
)

# Endpoints that take no query parameters at all (any given is UNKNOWN_FIELD).
_NO_QUERY = {"/v1/numbers/{x}", "/v1/numbers/{x}/xb", "/v1/numbers/{x}/axb", "/v1/operations/{operation_id}",
             "/health", "/_admin/gray", "/openapi.json"}


def add_routes(app: web.Application) -> None:
    for method, path, handler in ROUTES:
        app.router.add_route(method, path, _wrap(path, handler))


def _wrap(path: str, handler: Handler) -> Handler:
    async def serve(request: web.Request) -> web.Response:
        if path.startswith("/_admin/"):
            _admit(request)
        if path in _NO_QUERY:
            _query(request, ())
        if "{x}" in path:
            request["x"] = _path_x(request)
        return await handler(request)

    serve.__name__ = handler.__name__
    return serve


def _admit(request: web.Request) -> None:
    """The admin gate (simulator/admin_gate.py): loopback peer, own Host, no cross-site Origin, token, JSON."""
    sockname = request.transport.get_extra_info("sockname") if request.transport is not None else None
    local = sockname[0] if isinstance(sockname, tuple) and sockname else None
    has_body = bool(request.content_length) or request.headers.get("Transfer-Encoding") is not None
    refusal = request.app[ADMIN_GATE].refusal(request.method, request.headers, request.remote, local, has_body)
    if refusal is not None:
        raise ApiError(refusal.status, refusal.code, refusal.message, headers=dict(refusal.headers))


@web.middleware
async def errors_as_json(request: web.Request, handler: Handler) -> web.StreamResponse:
    """ApiError and aiohttp's own HTTP errors (404, 405, 413) become the JSON error shape; a database that
    failed a read becomes 503 STORE_BUSY (try again); crashes become 500."""
    try:
        return await handler(request)
    except ApiError as exc:
        return exc.response()
    except STORE_FAILURES as exc:
        log.warning("database failure on %s %s: %s", request.method, request.path, exc)
        return _store_busy(f"the database failed, try again: {exc}").response()
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers: Mapping[str, str] = {k: v for k, v in exc.headers.items() if k.lower() == "allow"}
        code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 413: "PAYLOAD_TOO_LARGE",
                415: "UNSUPPORTED_MEDIA_TYPE"}.get(exc.status, "HTTP_ERROR")
        return web.json_response({"code": code, "message": exc.reason}, status=exc.status, headers=headers)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return web.json_response({"code": "INTERNAL_ERROR", "message": "internal error; see the core's log"}, status=500)
