"""The Tencent NPP dialect on the shared `/` endpoint: recognise, authenticate, dispatch, wrap.

A request's path: `describe` (who and what, for faults and the journal) ->
`handle`: version and action known -> signature, key, timestamp, nonce ->
parameters -> the action's handler (ledger) -> envelope. Every refusal is an
HTTP 200 the SDK understands (`Error` for the gateway, `ErrorCode` for NPP).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ...config import ProviderConfig
from ...errors import LedgerError, short_repr
from ...ledger import CallRecord, Ledger, LedgerEvent
from ..base import UNSET, Dialect, PushMessage, RequestInfo, kept, read_body
from . import errors as codes
from .actions import ACTIONS, ActionContext
from .auth import Authenticator
from .errors import BusinessError, GatewayError, business_error, fault_error
from .push import call_pushes
from .wire import API_VERSION, RequestIds, WireRequest, check_params, envelope, error_envelope, is_tencent, number, parse_request

_WIRE = "pstnsim.tencent.wire"  # per-request cache: describe and handle read the body once


class TencentDialect(Dialect):
    name = "tencent"

    def __init__(self, ledger: Ledger, config: ProviderConfig) -> None:
        super().__init__(ledger, config)
        self._auth = Authenticator(config.tencent, ledger.clock.now)
        self._request_ids = RequestIds(config.seed)

    # ---- recognising -----------------------------------------------------

    async def _wire(self, request: web.Request) -> WireRequest | GatewayError | None:
        """The parsed request, a GatewayError if it is Tencent's but unreadable, or None if it is not Tencent's."""
        found = kept(request, _WIRE, UNSET)
        if found is not UNSET:
            return found
        request[_WIRE] = result = await self._read(request)
        return result

    async def _read(self, request: web.Request) -> WireRequest | GatewayError | None:
        if request.path != "/":
            return None
        headers = {k.lower(): v for k, v in request.headers.items()}
        query = dict(request.query)
        form_post = request.method == "POST" and request.content_type == "application/x-www-form-urlencoded"
        if not is_tencent(headers, query) and not form_post:
            return None
        try:
            body = await read_body(request)
        except Exception as exc:  # a broken upload: still Tencent's to answer if it says so
            return GatewayError(codes.INVALID_PARAMETER, f"the request body could not be read: {exc}") if is_tencent(headers, query) else None
        if body is None:
            if not is_tencent(headers, query):
                return None
            return GatewayError(codes.REQUEST_SIZE_LIMIT, f"the request body exceeds {request.client_max_size} bytes")
        try:
            wire = parse_request(request.method, headers, request.rel_url.raw_query_string, body)
        except GatewayError as exc:
            return exc
        except (ValueError, RecursionError) as exc:  # anything else malformed: still answered in the envelope
            if not is_tencent(headers, query):
                return None
            return GatewayError(codes.INVALID_PARAMETER, f"the request cannot be read: {str(exc)[:100]}")
        if wire.scheme == "legacy" and not is_tencent(headers, {"Action": wire.action, "Version": wire.version}):
            return None
        return wire

    async def describe(self, request: web.Request) -> RequestInfo | None:
        try:
            wire = await self._wire(request)
        except Exception:  # describe never raises: an unreadable request is simply not described
            return None
        if wire is None:
            return None
        if isinstance(wire, GatewayError):
            return RequestInfo(dialect=self.name, operation=_known(request.headers.get("X-TC-Action")))
        return RequestInfo(dialect=self.name, operation=_known(wire.action), **self._numbers(wire))

    def operations(self) -> frozenset[str]:
        return frozenset(ACTIONS) | {"invalid"}

    def _numbers(self, wire: WireRequest) -> dict[str, str | None]:
        params = wire.params
        if wire.action == "GetVirtualNum":
            return {
                "x": _national(params.get("AssignVirtualNum")),
                "a": _national(params.get("Src")),
                "b": _national(params.get("Dst")),
            }
        if wire.action == "DelVirtualNum" and isinstance(params.get("BindId"), str):
            try:  # active or expired (a released binding is not described, as it is not listed)
                binding = self.ledger.binding(params["BindId"])
            except LedgerError:
                return {}
            return {"x": binding.x, "a": binding.a, "b": binding.b}
        if wire.action == "Get400Cdr":
            return {"a": _national(params.get("Src"))}
        return {}

    # ---- serving ---------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        request_id = self._request_ids.next()
        wire = await self._wire(request)
        if wire is None:
            raise web.HTTPNotFound()
        try:
            if isinstance(wire, GatewayError):
                raise wire
            return envelope(self._serve(wire, request_id), request_id)
        except GatewayError as exc:
            return error_envelope(exc.code, exc.message, request_id)
        except BusinessError as exc:
            return envelope({"ErrorCode": exc.error_code, "Msg": exc.msg}, request_id)

    async def authenticate(self, request: web.Request) -> web.Response | None:
        wire = await self._wire(request)
        if wire is None:
            return None
        try:
            if isinstance(wire, GatewayError):
                raise wire
            self._auth.authenticate(wire)
        except GatewayError as exc:
            return error_envelope(exc.code, exc.message, self._request_ids.next())
        return None

    def _serve(self, wire: WireRequest, request_id: str) -> dict[str, Any]:
        if not wire.action:
            raise GatewayError(codes.MISSING_PARAMETER, "the action is missing (X-TC-Action header or Action parameter)")
        if not wire.version:
            raise GatewayError(codes.MISSING_PARAMETER, "the version is missing (X-TC-Version header or Version parameter)")
        if wire.version != API_VERSION:
            raise GatewayError(codes.NO_SUCH_VERSION, f"npp has no API version {short_repr(wire.version)}; use {API_VERSION}")
        handler = ACTIONS.get(wire.action)
        if handler is None:
            raise GatewayError(
                codes.INVALID_ACTION,
                f"the action {short_repr(wire.action)} is not supported by pstnsim's npp; supported: {', '.join(ACTIONS)}",
            )
        credentials = self._auth.authenticate(wire)
        params = check_params(wire.action, wire.params)
        ctx = ActionContext(self.ledger, self.config.pool.pool_key, credentials, request_id)
        try:
            return handler(ctx, params)
        except LedgerError as exc:
            raise business_error(exc, wire.action) from None

    def fault_response(self, status: int, info: RequestInfo, retry_after: float | None = None) -> web.Response:
        """Throttling is HTTP 200 + `RequestLimitExceeded` (what Tencent sends; the SDK raises it by code).

        A 5xx keeps its status: the SDK raises `ServerNetworkError` carrying the body, as it
        does for a real gateway or load-balancer failure.
        """
        error = fault_error(status)
        response = error_envelope(error.code, error.message, self._request_ids.next(), status=200 if status == 429 else status)
        if retry_after is not None:
            response.headers["Retry-After"] = f"{retry_after:g}"
        return response

    # ---- pushes ----------------------------------------------------------

    def push_messages(self, event: LedgerEvent) -> list[PushMessage]:
        if event.kind != "call":
            return []
        call = CallRecord(**event.payload)
        if not call.binding_id:
            return []
        binding = next((b for b in self.ledger.bindings(x=call.x, status=None) if b.binding_id == call.binding_id), None)
        return call_pushes(call, binding)


def _known(action: str | None) -> str:
    """The action as faults, journal and metrics name it: one NPP serves, else "invalid" (a closed set)."""
    return action if action in ACTIONS else "invalid"


def _national(value: object) -> str | None:
    """The national form of a wire number for fault matching, or None when absent or malformed."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return number(value, "number")
    except LedgerError:
        return None
