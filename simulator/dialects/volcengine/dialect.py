"""The Volcengine vms dialect on the shared `/` endpoint: recognise, authenticate, dispatch, wrap.

A request's path: `describe` (who and what, for faults and the journal) ->
`handle`: action and version known -> signature, key, X-Date -> fields ->
the action's handler (ledger) -> envelope. Every refusal is
`ResponseMetadata.Error` with the gateway's HTTP status; nothing is applied
before every check has passed.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from aiohttp import web

from ...config import ProviderConfig
from ...errors import LedgerError, short_repr
from ...ledger import CallRecord, Ledger, LedgerEvent
from ...middleware import INFO
from ..base import Dialect, PushMessage, RequestInfo, read_body
from . import errors as codes
from .actions import ACTIONS, ActionContext
from .auth import Authenticator
from .errors import VolcError, business_error, fault_error
from .push import call_pushes
from .wire import API_VERSION, RequestIds, WireRequest, check_params, envelope, error_envelope, looks_volcengine, number, parse_request

_WIRE = "pstnsim.volcengine.wire"  # per-request cache: describe and handle read the body once
# Which field carries X, A and B for fault matching and the journal (AXN's A is the ledger's b).
_NUMBER_FIELDS = {
    "BindAXB": ("PhoneNoX", "PhoneNoA", "PhoneNoB"),
    "SelectNumberAndBindAXB": (None, "PhoneNoA", "PhoneNoB"),
    "BindAXN": ("PhoneNoX", None, "PhoneNoA"),
    "SelectNumberAndBindAXN": (None, None, "PhoneNoA"),
    "QuerySubscriptionForList": ("PhoneNoX", "PhoneNoA", "PhoneNoB"),
}


class VolcengineDialect(Dialect):
    name = "volcengine"

    def __init__(self, ledger: Ledger, config: ProviderConfig) -> None:
        super().__init__(ledger, config)
        self._auth = Authenticator(config.volcengine, ledger.clock.now)
        self._request_ids = RequestIds(config.seed)
        ledger.on_reset(self.reset)

    def reset(self) -> None:
        """Request ids from the start again, with the ledger."""
        self._request_ids = RequestIds(self.config.seed)

    # ---- recognising -----------------------------------------------------

    async def _wire(self, request: web.Request) -> WireRequest | VolcError | None:
        if _WIRE in request:
            return request[_WIRE]
        request[_WIRE] = result = await self._read(request)
        return result

    async def _read(self, request: web.Request) -> WireRequest | VolcError | None:
        if request.path != "/":
            return None
        headers = {k.lower(): v for k, v in request.headers.items()}
        if not looks_volcengine(headers, request.query):
            return None
        try:
            body = await read_body(request)
        except Exception as exc:  # a broken upload: still ours to answer
            return VolcError(codes.INVALID_PARAMETER, f"the request body could not be read: {exc}")
        if body is None:
            return VolcError(codes.REQUEST_TOO_LARGE, f"the request body exceeds {request.client_max_size} bytes", 413)
        try:
            return parse_request(request.method, request.path, headers, request.rel_url.raw_query_string, body)
        except VolcError as exc:
            return exc
        except ValueError as exc:
            return VolcError(codes.INVALID_PARAMETER, f"the request cannot be read: {str(exc)[:100]}")

    async def describe(self, request: web.Request) -> RequestInfo | None:
        try:
            wire = await self._wire(request)
        except Exception:  # describe never raises
            return None
        if wire is None:
            return None
        if isinstance(wire, VolcError):
            return RequestInfo(dialect=self.name, operation=_known(request.query.get("Action")))
        return RequestInfo(dialect=self.name, operation=_known(wire.action), **self._numbers(wire))

    def operations(self) -> frozenset[str]:
        return frozenset(ACTIONS) | {"invalid"}

    def _numbers(self, wire: WireRequest) -> dict[str, str | None]:
        fields = _NUMBER_FIELDS.get(wire.action)
        if fields is not None:
            return {k: _national(wire.params.get(f)) if f else None for k, f in zip(("x", "a", "b"), fields)}
        sub_id = wire.params.get("SubId")
        if sub_id:
            for binding in self.ledger.bindings(status=None):
                if binding.binding_id == sub_id:
                    return {"x": binding.x, "a": binding.a, "b": binding.b}
        return {}

    # ---- serving ---------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        request_id = self._request_ids.next()
        wire = await self._wire(request)
        if wire is None:
            raise web.HTTPNotFound()
        if isinstance(wire, VolcError):
            return error_envelope(wire, request_id, request.query.get("Action", ""), request.query.get("Version", ""))
        try:
            result = self._serve(wire, request_id)
        except VolcError as exc:
            return error_envelope(exc, request_id, wire.action, wire.version)
        _tell_journal_x(request, result)
        return envelope(result, request_id, wire.action)

    async def authenticate(self, request: web.Request) -> web.Response | None:
        wire = await self._wire(request)
        if wire is None:
            return None
        try:
            if isinstance(wire, VolcError):
                raise wire
            self._auth.authenticate(wire)
        except VolcError as exc:
            return error_envelope(exc, self._request_ids.next())
        return None

    def _serve(self, wire: WireRequest, request_id: str) -> Any:
        if not wire.action:
            raise VolcError(codes.MISSING_PARAMETER, "The request is missing Action parameter.")
        if not wire.version:
            raise VolcError(codes.MISSING_PARAMETER, "The request is missing Version parameter.")
        if wire.version != API_VERSION or wire.action not in ACTIONS:
            raise VolcError(
                codes.INVALID_ACTION_OR_VERSION,
                f"Could not find operation {short_repr(wire.action)} for version {short_repr(wire.version)} "
                f"(pstnsim's vms serves {API_VERSION}: {', '.join(ACTIONS)})",
                404,
            )
        credentials = self._auth.authenticate(wire)
        params = check_params(wire.action, wire.params)
        ctx = ActionContext(self.ledger, self.config.pool.pool_key, credentials, request_id)
        try:
            return ACTIONS[wire.action](ctx, params)
        except LedgerError as exc:
            raise business_error(exc, wire.action) from None

    def fault_response(self, status: int, info: RequestInfo, retry_after: float | None = None) -> web.Response:
        """The gateway's envelope with the injected status (the SDK hands it back as a dict, no retry)."""
        response = error_envelope(fault_error(status), self._request_ids.next(), info.operation, API_VERSION)
        if retry_after is not None:
            response.headers["Retry-After"] = f"{retry_after:g}"
        return response

    # ---- pushes ----------------------------------------------------------

    def push_messages(self, event: LedgerEvent) -> list[PushMessage]:
        """A call on a vms binding: its status events and call record to the owning key's callback URL."""
        if event.kind != "call" or not any(acc.callback_url for acc in self.config.volcengine):
            return []
        call = CallRecord(**event.payload)
        if not call.binding_id:
            return []
        binding = next((b for b in self.ledger.bindings(x=call.x, status=None) if b.binding_id == call.binding_id), None)
        return call_pushes(call, binding, list(self.config.volcengine), event.at)


def _tell_journal_x(request: web.Request, result: Any) -> None:
    """A SelectNumberAndBind learns its X from the ledger; the journal reads request[INFO] last."""
    info: RequestInfo | None = request.get(INFO)
    if info is None or info.x is not None or not isinstance(result, dict) or not result.get("PhoneNoX"):
        return
    request[INFO] = dataclasses.replace(info, x=result["PhoneNoX"])


def _known(action: str | None) -> str:
    """The action as faults, journal and metrics name it: one vms serves, else "invalid" (a closed set)."""
    return action if action in ACTIONS else "invalid"


def _national(value: object) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return number(value, "number")
    except LedgerError:
        return None
