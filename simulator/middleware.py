"""The request path's two cross-cutting steps, applied to every dialect alike:

journal (outermost: records the exchange, feeds metrics) -> faults (asks the
dialects who the request is for, consults the engine, applies the decision)
-> the dialect's handler. Requests no dialect describes (admin, metrics,
openapi) pass straight through: no faults, no journal entry.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import socket
import struct
from typing import Awaitable, Callable

from aiohttp import web

from .dialects.base import Dialect, RequestInfo, kept
from .faults import Decision
from .faults.rules import Action
from .journal import Exchange, RawBody, RawHeaders, RawQuery
from .state import ProviderState

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Keys this module keeps on the request.
INFO = "info"  # RequestInfo
DIALECT = "dialect"  # the Dialect that described the request
DECISION = "fault"  # the fault Decision applied, if any
SENT_BODY = "sent_body"  # what a truncated / malformed reply really carried
NO_REPLY = "no_reply"  # the connection was reset or closed: the client got no status at all
HIDDEN = "hidden_response"  # what the handler answered before a fault lost or mangled it
FAULT_LABEL = "fault_label"  # what the journal's `fault` says when the fault engine did not decide (a replay)
_REPLAYED_SEQ = re.compile(r"replay:seq=\d+")


def make_middlewares(state: ProviderState) -> list:
    """The whole cross-cutting path as one middleware, bound to one provider's state: JSON errors, then the
    journal, then faults (the steps of `make_journal_middleware` and `make_fault_middleware` in that order),
    so a request pays for one coroutine layer, not three, and reads the clock once on the way in."""
    return [make_request_middleware(state)]


def make_request_middleware(state: ProviderState) -> Callable:
    dialects, faults, clock, config = state.dialects, state.faults, state.ledger.clock, state.config
    loop_time = _loop_time

    @web.middleware
    async def provider_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            described = await _describe(dialects, request)
            if described is None:
                length = request.content_length  # a dialect's own request too large is refused in its envelope
                if length is not None and length > config.max_body_bytes:
                    raise web.HTTPRequestEntityTooLarge(max_size=config.max_body_bytes, actual_size=length)
                return await handler(request)
            started = loop_time()
            at = clock.now()
            dialect, info = described
            request[INFO] = info
            request[DIALECT] = dialect
            response: web.StreamResponse | None = None
            status: int | None = None
            pending = _Pending(state)
            try:
                decision = faults.decide(info, request.path, at - clock.epoch) if faults.rules else None
                if decision is None:
                    response = await handler(request)
                else:
                    request[DECISION] = decision
                    response = await _apply(state, decision, dialect, info, request, handler, pending)
                status = response.status
                return response
            except web.HTTPException as exc:
                status = exc.status
                raise
            finally:
                pending.close()
                if request.method not in ("GET", "HEAD"):
                    state.bindings_changed.set()  # the expiry sweeper re-arms
                _record(state, request, request[INFO], at, loop_time() - started, response, status)
        except web.HTTPException as exc:
            return json_http_error(request, exc, config.max_body_bytes)

    return provider_middleware


# Codes for errors aiohttp raises itself (unknown path, wrong method, oversize body) before a dialect sees them.
HTTP_ERROR_CODES = {
    400: "BAD_REQUEST",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
}


def json_http_error(request: web.Request, exc: web.HTTPException, max_body_bytes: int) -> web.StreamResponse:
    """An error aiohttp raises as plain text (404, 405, 413...) as `{"code", "message"}` JSON; anything else
    (a redirect, an error already in JSON) is raised on as it was."""
    if exc.status < 400 or exc.content_type == "application/json":
        raise exc
    code = HTTP_ERROR_CODES.get(exc.status, f"HTTP_{exc.status}")
    message = {
        404: f"no route for {request.method} {request.path}",
        405: f"{request.method} is not allowed on {request.path}",
        413: f"request body larger than {max_body_bytes} bytes",
    }.get(exc.status, exc.reason)
    headers = {k: v for k, v in exc.headers.items() if k.lower() in ("allow", "retry-after")}
    return web.Response(status=exc.status, text=json.dumps({"code": code, "message": message}),
                        content_type="application/json", headers=headers)


def make_journal_middleware(state: ProviderState) -> Callable:
    """Records every exchange a dialect described (a replay puts its own middleware after this one)."""

    loop_time = _loop_time

    @web.middleware
    async def journal_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = loop_time()
        at = state.ledger.clock.now()
        response: web.StreamResponse | None = None
        status: int | None = None
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            info: RequestInfo | None = request.get(INFO)
            if info is not None:
                if request.method not in ("GET", "HEAD"):
                    state.bindings_changed.set()  # the expiry sweeper re-arms
                _record(state, request, info, at, loop_time() - started, response, status)

    return journal_middleware


def make_fault_middleware(state: ProviderState) -> Callable:
    """Describes the request, consults the fault engine, applies its decision."""

    @web.middleware
    async def fault_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        described = await _describe(state.dialects, request)
        if described is None:
            length = request.content_length  # a dialect's own request too large is refused in its envelope
            if length is not None and length > state.config.max_body_bytes:
                raise web.HTTPRequestEntityTooLarge(max_size=state.config.max_body_bytes, actual_size=length)
            return await handler(request)
        dialect, info = described
        request[INFO] = info
        request[DIALECT] = dialect
        pending = _Pending(state)
        try:
            decision = state.faults.decide(info, request.path, state.elapsed())
            if decision is None:
                return await handler(request)
            request[DECISION] = decision
            return await _apply(state, decision, dialect, info, request, handler, pending)
        finally:
            pending.close()

    return fault_middleware


class _Pending:
    """Counts a request in `state.in_flight` while it may still change the ledger: until it was applied, or
    can no longer be (a hang that never applies, a reply lost after applying, are not counted)."""

    def __init__(self, state: ProviderState) -> None:
        self.state = state
        state.in_flight += 1
        self.open = True

    def close(self) -> None:
        if self.open:
            self.open = False
            self.state.in_flight -= 1


async def _describe(dialects: list[Dialect], request: web.Request) -> tuple[Dialect, RequestInfo] | None:
    for dialect in dialects:
        info = await dialect.describe(request)
        if info is not None:
            return dialect, info
    return None


async def _apply(
    state: ProviderState,
    decision: Decision,
    dialect: Dialect,
    info: RequestInfo,
    request: web.Request,
    handler: Handler,
    pending: _Pending,
) -> web.StreamResponse:
    if decision.delay > state.config.request_deadline:
        # The gateway gives up first: the client gets 504 at the deadline and the request is never applied.
        request[DECISION] = dataclasses.replace(decision, past_deadline=True)
        pending.close()
        await state.pause(state.config.request_deadline)
        return dialect.fault_response(504, info)
    if decision.delay > 0:
        await state.pause(decision.delay)
    action = decision.action
    if action is None:
        return await handler(request)
    kind = action.kind
    if kind == "status":
        return dialect.fault_response(action.get("status"), info, action.get("retry_after"))
    if kind == "timeout":
        pending.close()  # it hangs, but it is never applied
        await state.pause(action.get("seconds"))
        return dialect.fault_response(504, info)
    if kind == "reset":
        return _reset(request)
    if kind == "empty_reply":
        return _empty_reply(request)
    if kind == "delayed_visibility":
        with state.ledger.delayed_visibility(action.get("seconds")):
            return await handler(request)
    # The rest serve the request first: the ledger applies the change, then the reply is lost or mangled.
    response = await handler(request)
    pending.close()  # applied: what follows only loses or mangles the reply
    request[HIDDEN] = response
    if kind == "ghost_success":
        return await _lose_reply(state, action, dialect, info, request)
    body = response.body if isinstance(response, web.Response) else None
    if not isinstance(body, (bytes, bytearray)) or not body:
        return _reset(request)  # nothing to cut: the reply is lost altogether
    if kind == "truncated_body":
        return await _truncated(request, response, bytes(body))
    if kind == "malformed_body":
        return _malformed(request, response, bytes(body))
    if kind == "wrong_shape_body":
        return _wrong_shape(request, response, bytes(body))
    raise AssertionError(f"unhandled fault kind {kind}")  # rules.py admits no other kind


async def _lose_reply(
    state: ProviderState, action: Action, dialect: Dialect, info: RequestInfo, request: web.Request
) -> web.StreamResponse:
    then = action.get("then")
    if then == "reset":
        return _reset(request)
    if then == "timeout":
        await state.pause(action.get("seconds"))
        return dialect.fault_response(504, info)
    return dialect.fault_response(action.get("status"), info, action.get("retry_after"))


def _reset(request: web.Request) -> web.Response:
    """Close with a TCP RST (SO_LINGER 0): the client sees 'connection reset by peer'."""
    request[NO_REPLY] = True
    transport = request.transport
    if transport is not None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
        transport.abort()
    return web.Response(status=599)  # never reaches the wire; the journal records no status


def _empty_reply(request: web.Request) -> web.Response:
    """Close cleanly after reading the request, without a byte: the client sees the server disconnect."""
    request[NO_REPLY] = True
    if request.transport is not None:
        request.transport.close()
    return web.Response(status=599)


async def _truncated(request: web.Request, response: web.Response, body: bytes) -> web.StreamResponse:
    """Announce the full Content-Length, send half the body, close: an incomplete payload."""
    cut = web.StreamResponse(status=response.status, headers=response.headers)
    cut.content_length = len(body)
    await cut.prepare(request)
    sent = body[: len(body) // 2]
    await cut.write(sent)
    request[SENT_BODY] = sent
    if request.transport is not None:
        request.transport.close()
    return cut


def _wrong_shape(request: web.Request, response: web.Response, body: bytes) -> web.Response:
    """A complete reply that parses but has the wrong shape: the answer's JSON inside an array, where the client
    expects an object (a proxy or a new API version that wraps its answers)."""
    wrapped = b"[" + body + b"]"
    request[SENT_BODY] = wrapped
    return web.Response(status=response.status, body=wrapped, content_type=response.content_type)


def _malformed(request: web.Request, response: web.Response, body: bytes) -> web.Response:
    """A complete reply whose body does not parse: the first half of the JSON, then HTML junk."""
    junk = body[: len(body) // 2] + b"<html><body>502 Bad Gateway</body></html>"
    request[SENT_BODY] = junk
    return web.Response(status=response.status, body=junk, content_type=response.content_type)


def _record(
    state: ProviderState,
    request: web.Request,
    info: RequestInfo,
    at: float,
    latency: float,
    response: web.StreamResponse | None,
    status: int | None,
) -> None:
    decision: Decision | None = kept(request, DECISION)
    fault = kept(request, FAULT_LABEL) or (decision.label if decision is not None else None)
    if kept(request, NO_REPLY):
        status, response = None, None
    # A replay's label names the trace line it answered with: metrics count it as "replay" (bounded labels).
    metrics_fault = _REPLAYED_SEQ.sub("replay", fault) if fault else None
    state.metrics.observe_request(info.dialect, info.operation, status, metrics_fault, latency)
    request_ct = request.headers.get("Content-Type", "")
    raw_request = request._read_bytes or b""  # the body a dialect or handler already read; never read it here
    sent = kept(request, SENT_BODY)
    if sent is not None:
        response_body = sent.decode("utf-8", errors="replace")
    elif isinstance(response, web.Response) and isinstance(response.body, (bytes, bytearray)):
        response_body = RawBody(bytes(response.body), response.content_type)
    else:
        response_body = None
    hidden = kept(request, HIDDEN)
    provider_response = None
    if isinstance(hidden, web.Response) and hidden is not response:
        hidden_body = hidden.body if isinstance(hidden.body, (bytes, bytearray)) else b""
        provider_response = {"status": hidden.status, "headers": RawHeaders(hidden.headers),
                             "body": RawBody(bytes(hidden_body), hidden.content_type) if hidden_body else None}
    state.journal.record(
        Exchange(
            seq=state.journal.next_seq(),
            at=at,
            dialect=info.dialect,
            operation=info.operation,
            x=info.x,
            a=info.a,
            b=info.b,
            method=request.method,
            path=request.path,
            query=RawQuery(request.query_string),
            request_headers=RawHeaders(request.headers),
            request_body=RawBody(raw_request, request_ct) if raw_request else None,
            status=status,
            response_headers=RawHeaders(response.headers) if response is not None else {},
            response_body=response_body,
            fault=fault,
            fault_rules=list(decision.rule_ids) if decision is not None else [],
            latency=latency,
            provider_response=provider_response,
        )
    )


def _loop_time() -> float:
    return asyncio.get_running_loop().time()


# For a middleware that answers in place of the fault engine (traces/replay_server.py).
describe_request = _describe
reset_connection = _reset
close_without_reply = _empty_reply

__all__ = ["make_middlewares", "make_request_middleware", "make_journal_middleware", "make_fault_middleware",
           "json_http_error", "describe_request",
           "reset_connection", "close_without_reply", "INFO", "DIALECT", "DECISION", "FAULT_LABEL"]
