"""The provider's own REST/JSON dialect (`/v1/...`, OpenAPI at `/openapi.json`).

A request goes: route table (`routes`) -> `NativeDialect.serve` (405/404 as
JSON, Idempotency-Key) -> handler (`handlers`: parse with `wire`, call the
ledger, shape with `wire`) -> ledger. Errors become JSON in `errors` only.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from ...clock import iso
from ...config import ProviderConfig
from ...errors import InvalidArgument, LedgerError
from ...idempotency import IdempotencyStore, fingerprint
from ...ledger import Binding, CallRecord, Ledger, LedgerEvent
from ...numbers import normalize
from ...middleware import INFO
from ..base import Dialect, PushMessage, RequestInfo, kept
from . import handlers, routes, wire
from .errors import MethodNotAllowed, RouteNotFound, error_response

OPENAPI_FILE = Path(__file__).with_name("openapi.json")
REPLAYED_HEADER = "Idempotent-Replayed"


class NativeDialect(Dialect):
    name = "native"

    def __init__(self, ledger: Ledger, config: ProviderConfig) -> None:
        super().__init__(ledger, config)
        self.idempotency: IdempotencyStore[_Answer] = IdempotencyStore(ledger.clock)
        self.openapi: dict[str, Any] = json.loads(OPENAPI_FILE.read_text())
        ledger.on_reset(self.reset)

    def reset(self) -> None:
        """Forget idempotency keys; called whenever the ledger goes back to its initial state."""
        self.idempotency.reset()

    # ---- routing ---------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        for path, methods in routes.by_path().items():
            app.router.add_route("*", path, functools.partial(self.serve, methods))
        app.router.add_route("*", routes.PREFIX + "{tail:.*}", self.serve_not_found)

    async def serve(self, methods: dict[str, routes.Route], request: web.Request) -> web.StreamResponse:
        route = methods.get(request.method)
        if route is None:
            allowed = ", ".join(methods)
            error = MethodNotAllowed(f"{request.method} is not allowed on {request.path}; allowed: {allowed}")
            return error_response(error, headers={"Allow": allowed})
        if route.handler is None:
            return web.json_response(self.openapi)
        try:
            key = wire.idempotency_key(request.headers) if request.method in routes.MUTATING else None
            if key is None:
                response = await route.handler(self.ledger, request)
            else:
                response = await self._serve_once(route, request, key)
        except LedgerError as exc:
            return error_response(exc)
        if route.operation == "create_binding":
            _note_allocated_x(request, response)
        return response

    async def serve_not_found(self, request: web.Request) -> web.Response:
        return error_response(RouteNotFound(f"no native API operation at {request.path}"))

    async def _serve_once(self, route: routes.Route, request: web.Request, key: str) -> web.Response:
        """Idempotency-Key: the first outcome that reached the ledger is replayed for every retry."""
        body = _canonical(await wire.read_body(request))
        digest = fingerprint(request.method, request.path, request.query_string, body)

        async def compute() -> _Answer:
            try:
                response = await route.handler(self.ledger, request)  # type: ignore[misc]
                kept = True
            except LedgerError as exc:
                # Input refusals are not kept: the client may fix the request and resend it under its key.
                response, kept = error_response(exc), not isinstance(exc, InvalidArgument)
            assert isinstance(response, web.Response)
            return _Answer(response.status, bytes(response.body or b""), response.content_type, kept)

        answer, replayed = await self.idempotency.once(key, digest, compute, keep=lambda a: a.kept)
        headers = {REPLAYED_HEADER: "true"} if replayed else {}
        return web.Response(
            status=answer.status, body=answer.body, content_type=answer.content_type, headers=headers
        )

    # ---- the contract with the fault engine and the journal -------------

    def operations(self) -> frozenset[str]:
        return frozenset(route.operation for route in routes.ROUTES) | {"invalid"}

    async def describe(self, request: web.Request) -> RequestInfo | None:
        if not request.path.startswith(routes.PREFIX):
            return None  # `/` is the vendors'; /openapi.json, like admin, gets no faults and no journal entry
        route, params = routes.resolve(request.method, request.path)
        if route is None:
            return RequestInfo(self.name, "invalid")
        numbers: dict[str, str | None] = {"x": None, "a": None, "b": None}
        if params:
            _merge(numbers, self._numbers_of_id(params))
        if request.query_string:
            _merge(numbers, _numbers_in(dict(request.query)))
        if request.method in ("POST", "PATCH"):
            _merge(numbers, _numbers_in(await _json_or_empty(request)))
        return RequestInfo(self.name, route.operation, **numbers)

    def _numbers_of_id(self, params: dict[str, str]) -> dict[str, Any]:
        try:
            if "binding_id" in params:
                found: Binding = self.ledger.binding(params["binding_id"])
                return {"x": found.x, "a": found.a, "b": found.b}
            if "call_id" in params:
                record: CallRecord = self.ledger.call(params["call_id"])
                return {"x": record.x, "a": record.caller}
        except LedgerError:
            pass
        return {}

    # ---- pushes ----------------------------------------------------------

    def push_messages(self, event: LedgerEvent) -> list[PushMessage]:
        """The native webhook: `{"event", "event_id", "at", "data"}` with data shaped as the API shows it.

        `event_id` is stable across redeliveries (pushes are at least once): receivers deduplicate on it.
        """
        url = self.config.webhook_url
        if url is None:
            return []
        if event.kind == "call":
            record = CallRecord(**event.payload)
            event_id, data = record.call_id, wire.call_json(record)
        elif event.kind == "binding_expired":
            binding = Binding(**event.payload)
            event_id, data = f"{binding.binding_id}:expired", wire.binding_json(binding)
        else:
            return []
        body = {"event": event.kind, "event_id": event_id, "at": iso(event.at), "data": data}
        return [PushMessage(url=url, body=body, kind=event.kind)]


@dataclass(frozen=True)
class _Answer:
    """A response as the idempotency store keeps it; `kept` is False for input refusals."""

    status: int
    body: bytes
    content_type: str
    kept: bool


def _note_allocated_x(request: web.Request, response: web.StreamResponse) -> None:
    """A create without x learns its X from the ledger: tell the journal, which reads request[INFO] last."""
    info: RequestInfo | None = kept(request, INFO)
    if info is None or info.x is not None or response.status != 201 or not isinstance(response, web.Response):
        return
    created = kept(request, handlers.CREATED)
    if created is not None:  # the handler ran; an idempotent replay did not, and only its body tells
        x = created.x
    else:
        try:
            x = json.loads(bytes(response.body or b""))["x"]
        except (ValueError, KeyError, TypeError):
            return
    request[INFO] = dataclasses.replace(info, x=x)


def _canonical(raw: bytes) -> bytes:
    """Equal JSON documents hash alike whatever their key order or spacing."""
    try:
        return json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, RecursionError):
        return raw


async def _json_or_empty(request: web.Request) -> dict[str, Any]:
    try:
        return await wire.read_json_object(request)
    except LedgerError:
        return {}


def _numbers_in(data: dict[str, Any]) -> dict[str, str]:
    """x, a, b (and a call's caller, reported as a) in national form, where they parse."""
    found = {}
    for field, role in _NUMBER_FIELDS:
        if field in data:
            try:
                found[role] = normalize(data[field], field)
            except LedgerError:
                continue
    return found


_NUMBER_FIELDS = (("x", "x"), ("a", "a"), ("b", "b"), ("caller", "a"))


def _merge(into: dict[str, str | None], found: dict[str, Any]) -> None:
    for role, value in found.items():
        if value is not None:
            into[role] = value
