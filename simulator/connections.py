"""Connection hygiene for both of pstnsim's HTTP servers (provider and core): what a hostile client on the
same machine must not be able to do to them.

- a request head (request line and headers) must arrive within `header_timeout` seconds of its first
  byte (or of the connection opening): a slowloris client is answered 408 and cut off;
- a kept-alive connection idle for `keepalive_timeout` seconds is closed;
- at most `max_connections` connections are open at once. At the cap a new connection takes the place of
  the connection that has waited longest for a request head (idle sockets and half-sent heads first, then
  kept-alive clients between requests), so held idle sockets never lock real clients out; when every
  connection is busy serving, the newcomer gets a JSON 503 `TOO_MANY_CONNECTIONS` and is closed;
- an oversize request line or header block is answered JSON 414 `URI_TOO_LONG` / 431
  `HEADERS_TOO_LARGE` (any other unparsable head JSON 400 `BAD_REQUEST`) with one log line, no traceback;
- `accept()` failing for want of file descriptors is logged at most once per `ACCEPT_LOG_INTERVAL`
  seconds, with a count of the failures not logged. Python 3.11's accept loop keeps calling accept()
  after such a failure, logging each with a traceback and scheduling one more retry timer each time (the
  timers multiply: megabytes of log a second and a core burnt); `AcceptFailureLog` also ends that burst
  at its first failure, on the loop the server runs in.

aiohttp offers none of the first three, so `GuardedRunner` swaps in a request-handler subclass; the
aiohttp internals it relies on (RequestHandler's `_messages`, `_request_count`, `_request_in_progress`,
`handle_error`) are those of aiohttp 3.10-3.14.
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage, LineTooLong
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_server import Server

log = logging.getLogger("pstnsim.connections")

DEFAULT_MAX_CONNECTIONS = 1000
# Connections the kernel queues for accept(), and so the most asyncio accepts in one burst before a
# connection can be refused (aiohttp's default). The default cap leaves room for a burst under the limit.
LISTEN_BACKLOG = 128
ACCEPT_LOG_INTERVAL = 10.0  # seconds between two log lines about failing accept() calls
_TIMER_SLACK = 0.001  # a timer may wake this much before its time (the loop's clock resolution)
_ACCEPT_FAILURE = "socket.accept() out of system resource"


@dataclass(frozen=True)
class ConnectionLimits:
    """What a server allows a connection; `max_connections` None: DEFAULT_MAX_CONNECTIONS, lowered to half
    the process's open-file limit when that is smaller (the other half is left for files, outgoing calls
    and the accept() that has to happen before a connection can be refused)."""

    header_timeout: float = 10.0  # seconds from a head's first byte (or the connection's start) to its end
    keepalive_timeout: float = 75.0  # seconds a kept-alive connection may sit idle between requests
    max_connections: int | None = None
    max_line_size: int = 8190  # bytes of request line (-> 414) ...
    max_field_size: int = 8190  # ... and of one header line (-> 431)
    max_headers: int = 128  # header lines (-> 431)

    def cap(self) -> int:
        if self.max_connections is not None:
            return self.max_connections
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft == resource.RLIM_INFINITY:
            return DEFAULT_MAX_CONNECTIONS
        return max(8, min(DEFAULT_MAX_CONNECTIONS, soft // 2))

    def problems(self) -> list[str]:
        """What is wrong with these values (empty when they can be used), each naming its key."""
        found = []
        if not self.header_timeout > 0:
            found.append("header_timeout must be > 0")
        if not self.keepalive_timeout > 0:
            found.append("keepalive_timeout must be > 0")
        if self.max_connections is not None and self.max_connections < 1:
            found.append("max_connections must be >= 1")
        return found


def raw_json_response(status: int, reason: str, body: dict[str, Any], extra: str = "") -> bytes:
    """A complete HTTP/1.1 answer written straight to a transport (no request object exists yet)."""
    payload = json.dumps(body).encode()
    head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
            f"Connection: close\r\n{extra}\r\n")
    return head.encode() + payload


class GuardedHandler(RequestHandler):
    """aiohttp's request handler with a head deadline, a place under the connection cap, JSON parse errors."""

    limits: ConnectionLimits  # set on the class made per server (GuardedServer.__call__)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # One timer per connection, not one per request: it wakes at `_head_due` (or earlier, then re-arms
        # for what is left) and lapses when no head is awaited. Arming and cancelling a timer for every
        # request head cost more than the rest of this class together.
        self._head_deadline: asyncio.TimerHandle | None = None
        self._head_due: float | None = None  # loop time the head being awaited must have arrived by
        self._head_started = False  # bytes of the next head have arrived
        self._line_length = 0  # bytes of the current head's request line seen so far (414 vs 431)
        self._line_done = False
        self._waiting_since = 0.0  # loop time this connection began waiting for a head
        self._refused = False

    # ---- the connection cap --------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        manager = self._manager
        assert manager is not None
        if len(manager._connections) >= self.limits.cap() and not _evict_one_waiting(manager):
            self._refused = True
            _REFUSALS.warning(self._loop.time(), "refused connections: %d are open and all busy (max_connections)",
                              len(manager._connections))
            body = {"code": "TOO_MANY_CONNECTIONS",
                    "message": f"the server holds its maximum of {self.limits.cap()} connections; try again"}
            transport.write(raw_json_response(503, "Service Unavailable", body, "Retry-After: 1\r\n"))  # type: ignore[attr-defined]
            transport.close()
            return
        super().connection_made(transport)
        self._waiting_since = self._loop.time()
        self._arm_head_deadline()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._disarm_head_deadline()
        if self._refused:
            return
        super().connection_lost(exc)

    def waiting_for_head(self) -> bool:
        """The connection is idle or receiving a head: nothing parsed yet, or aiohttp's loop waits for the
        next request (its waiter; between two requests only that tells a handler is not about to start)."""
        if self._force_close or self._messages or self._request_in_progress:
            return False
        waiter = self._waiter
        return self._request_count == 0 or (waiter is not None and not waiter.done())

    # ---- the head deadline ---------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self.waiting_for_head() and data:
            if self._head_due is None:  # the first byte of a new head on a kept-alive connection
                self._waiting_since = self._loop.time()
                self._line_length, self._line_done = 0, False
                self._arm_head_deadline()
            self._head_started = True
            if not self._line_done:
                end = data.find(b"\n")
                self._line_length += len(data) if end < 0 else end
                self._line_done = end >= 0
        before = self._request_count
        super().data_received(data)
        if self._request_count > before:  # a head was parsed (or refused): its deadline is over
            self._head_due = None  # the timer, if set, lapses when it wakes
            self._head_started = False

    def _arm_head_deadline(self) -> None:
        """The head awaited from now on must arrive within header_timeout."""
        self._head_due = self._waiting_since + self.limits.header_timeout
        if self._head_deadline is None:
            self._head_deadline = self._loop.call_at(self._head_due, self._head_timer)

    def _disarm_head_deadline(self) -> None:
        self._head_due = None
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_timer(self) -> None:
        self._head_deadline = None
        due = self._head_due
        if due is None:
            return  # no head awaited: the timer lapses until the next one starts
        if self._loop.time() < due - _TIMER_SLACK:  # a later head's deadline: wake again then
            self._head_deadline = self._loop.call_at(due, self._head_timer)
            return
        self._head_due = None
        self._head_timed_out()

    def _head_timed_out(self) -> None:
        if not self.waiting_for_head() or self.transport is None:
            return
        log.debug("closed a connection from %s: no complete request head within %gs (header_timeout)",
                  _peer(self.transport), self.limits.header_timeout)
        self.drop(with_408=True)

    def drop(self, *, with_408: bool) -> None:
        """Close this idle connection; a half-sent head is told why (408) first."""
        if self.transport is not None and with_408:
            body = {"code": "REQUEST_TIMEOUT",
                    "message": f"the request head did not arrive within {self.limits.header_timeout:g} seconds"}
            self.transport.write(raw_json_response(408, "Request Timeout", body))
        self.force_close()

    # ---- heads that cannot be parsed -------------------------------------------

    def handle_error(self, request: Any, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if status != 400 or not isinstance(exc, BadHttpMessage):
            return super().handle_error(request, status, exc, message)
        if isinstance(exc, LineTooLong) and self._line_length > self.max_line_size:
            status, code, text = 414, "URI_TOO_LONG", f"the request line is longer than {self.max_line_size} bytes"
        elif isinstance(exc, LineTooLong) or "too many headers" in str(exc.message).lower():
            status, code, text = 431, "HEADERS_TOO_LARGE", (
                f"a header line is longer than {self.max_field_size} bytes or there are more than "
                f"{self.max_headers} headers")
        else:
            code, text = "BAD_REQUEST", f"the request head cannot be parsed: {str(exc.message)[:80]}"
        log.warning("answered %d %s to %s", status, code, request.remote)  # one line, no traceback
        response = web.json_response({"code": code, "message": text}, status=status)
        response.force_close()
        return response


def _evict_one_waiting(manager: Server) -> bool:
    """Close the connection that has waited longest for a request head, one that never sent a whole request
    first (a kept-alive client between requests is the last to go); False if every one is busy serving."""
    waiting = [h for h in manager._connections if isinstance(h, GuardedHandler) and h.waiting_for_head()]
    if not waiting:
        return False
    oldest = min(waiting, key=lambda h: (h._request_count > 0, h._waiting_since))
    manager._connections.pop(oldest, None)  # its place is taken now, not when its close completes
    oldest.drop(with_408=oldest._head_started)
    return True


def _peer(transport: asyncio.BaseTransport) -> str:
    peer = transport.get_extra_info("peername")
    return f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) and len(peer) >= 2 else "?"


class RateLimitedLog:
    """One log line per `interval` seconds at most; the lines held back are counted in the next one."""

    def __init__(self, interval: float = ACCEPT_LOG_INTERVAL) -> None:
        self.interval = interval
        self.suppressed = 0
        self.last: float | None = None

    def warning(self, now: float, message: str, *args: Any) -> None:
        self._emit(logging.WARNING, now, message, args)

    def error(self, now: float, message: str, *args: Any) -> None:
        self._emit(logging.ERROR, now, message, args)

    def _emit(self, level: int, now: float, message: str, args: tuple[Any, ...]) -> None:
        if self.last is not None and now - self.last < self.interval:
            self.suppressed += 1
            return
        more = f" ({self.suppressed} more since the last line)" if self.suppressed else ""
        log.log(level, message + more, *args)
        self.last, self.suppressed = now, 0


_REFUSALS = RateLimitedLog()


class GuardedRunner(web.AppRunner):
    """An AppRunner whose connections follow `limits`; also rate-limits accept() failure logs while set up."""

    def __init__(self, app: web.Application, limits: ConnectionLimits, **kwargs: Any) -> None:
        kwargs.setdefault("access_log", None)
        super().__init__(app, keepalive_timeout=limits.keepalive_timeout, max_line_size=limits.max_line_size,
                         max_field_size=limits.max_field_size, max_headers=limits.max_headers, **kwargs)
        self.limits = limits
        self._accept_log: AcceptFailureLog | None = None

    async def _make_server(self) -> Server:
        server = await super()._make_server()
        handler_class = type("GuardedHandler", (GuardedHandler,), {"limits": self.limits})
        server.__class__ = type("GuardedServer", (_GuardedServer,), {"handler_class": handler_class})
        return server

    async def setup(self) -> None:
        await super().setup()
        self._accept_log = AcceptFailureLog.install(asyncio.get_running_loop())

    async def cleanup(self) -> None:
        try:
            await super().cleanup()
        finally:
            if self._accept_log is not None:
                self._accept_log.uninstall()
                self._accept_log = None


class _GuardedServer(Server):
    handler_class: type[GuardedHandler]

    def __call__(self) -> RequestHandler:
        return self.handler_class(self, loop=self._loop, **self._kwargs)


class AcceptFailureLog:
    """A loop exception handler that turns asyncio's per-failure accept() tracebacks into one line per
    ACCEPT_LOG_INTERVAL; everything else goes to the handler that was there before. Shared by every
    server on one loop (installed once, removed with the last)."""

    _installed: dict[asyncio.AbstractEventLoop, "AcceptFailureLog"] = {}

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.previous = loop.get_exception_handler()
        self.users = 0
        self.lines = RateLimitedLog()
        self.original_accept = getattr(loop, "_accept_connection", None)

    @classmethod
    def install(cls, loop: asyncio.AbstractEventLoop) -> "AcceptFailureLog":
        current = cls._installed.get(loop)
        if current is None:
            current = cls._installed[loop] = cls(loop)
            loop.set_exception_handler(current)
            if current.original_accept is not None:  # selector loops: end an accept burst at its first failure
                loop._accept_connection = current._accept_burst  # type: ignore[attr-defined]
        current.users += 1
        return current

    def uninstall(self) -> None:
        self.users -= 1
        if self.users > 0:
            return
        self._installed.pop(self.loop, None)
        if self.loop.get_exception_handler() is self:
            self.loop.set_exception_handler(self.previous)
        if self.original_accept is not None and getattr(self.loop, "_accept_connection", None) == self._accept_burst:
            del self.loop._accept_connection  # type: ignore[attr-defined]  # back to the class's method

    def _accept_burst(self, protocol_factory: Any, sock: Any, *args: Any, **kwargs: Any) -> None:
        assert self.original_accept is not None
        self.original_accept(protocol_factory, _StopAtFailure.around(sock), *args, **kwargs)

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if "_start_serving" in repr(context.get("handle")):  # a retry timer left for a server since closed
            return
        if not str(context.get("message", "")).startswith(_ACCEPT_FAILURE):
            if self.previous is not None:
                self.previous(loop, context)
            else:
                loop.default_exception_handler(context)
            return
        self.lines.error(loop.time(), "cannot accept connections: %s; new connections wait (see max_connections "
                         "and the open-file limit)", context.get("exception"))


class _StopAtFailure:
    """The listening socket as asyncio's accept loop sees it: after one accept() failed for want of
    resources, the next accept() in the same burst says "nothing to accept", which ends the burst (asyncio
    has already logged the failure once and scheduled one retry)."""

    def __init__(self, sock: Any) -> None:
        self.sock = sock
        self.failed = False

    @classmethod
    def around(cls, sock: Any) -> "_StopAtFailure":
        return cls(sock.sock if isinstance(sock, cls) else sock)

    def accept(self) -> Any:
        if self.failed:
            raise BlockingIOError("the accept burst ended at a failure")
        try:
            return self.sock.accept()
        except OSError as exc:
            if not isinstance(exc, (BlockingIOError, InterruptedError, ConnectionAbortedError)):
                self.failed = True
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sock, name)
