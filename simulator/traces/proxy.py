"""`pstnsim record`'s recording reverse proxy: forwards each request to the upstream provider and writes
what happened to a trace, the timeouts, resets, cut bodies and 5xx included, with the latency measured.

A request's path: refuse what is not the dialect's -> verify the caller's signature with the LOCAL
credentials (a bad one is answered with the vendor's own refusal, recorded, never forwarded) -> re-sign
for the upstream with the UPSTREAM credentials (`resign`) -> forward -> answer the client as the upstream
answered it (or fail the same way: reset, empty reply, cut body; a timeout becomes 504) -> one trace line
(`proxy_trace`). Numbers are pseudonymised in the trace only; what the client and upstream exchange is
unchanged. Like `simulator.server.Provider`, it runs in the caller's event loop: tests start it in-process.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from ..clock import Clock
from ..config import ProviderConfig
from ..dialects.aliyun import AliyunDialect
from ..dialects.base import Dialect
from ..dialects.tencent import TencentDialect
from ..dialects.tencent.errors import INTERNAL_ERROR
from ..dialects.tencent.wire import error_envelope
from ..ledger import Ledger
from ..middleware import close_without_reply, reset_connection
from ..numbers import PoolSpec
from .format import Failure
from .proxy_trace import Forwarded, ProxyTrace
from .resign import ResignError, resign
from .upstream_credentials import UpstreamCredentials

log = logging.getLogger("pstnsim.record")

DIALECTS = ("native", "aliyun", "tencent")
VENDOR_DIALECTS = {"aliyun": AliyunDialect, "tencent": TencentDialect}
# Never forwarded: the upstream pstnsim's admin API stays reachable on its own (loopback-only) port, not here.
ADMIN_PREFIXES = ("/_admin", "/metrics")
# Upstream answer headers the proxy does not pass on: hop-by-hop, and those aiohttp sets for the body it sends.
DROPPED_ANSWER_HEADERS = frozenset({"connection", "keep-alive", "proxy-authenticate", "te", "trailer",
                                    "transfer-encoding", "upgrade", "content-length", "content-encoding"})
MAX_BODY_BYTES = 1024 * 1024
RECORDED = "pstnsim.record.recorded"  # request key: this request's trace line is written


class UpstreamURLError(ValueError):
    """An --upstream that cannot be recorded through."""


def upstream_base(url: str) -> URL:
    """`http(s)://host[:port]`, nothing else: vendor signatures cover `/`, and credentials go in the TOML file."""
    parsed = URL(url)
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise UpstreamURLError(f"--upstream {url!r} must be an http:// or https:// URL with a host")
    if parsed.user or parsed.password:
        raise UpstreamURLError("--upstream must not carry credentials (user:password@); "
                               "put the upstream's key in --upstream-credentials FILE")
    if parsed.path not in ("", "/") or parsed.query_string or parsed.fragment:
        raise UpstreamURLError(f"--upstream {url!r}: give only scheme, host and port (the proxy forwards each "
                               "request's own path and query)")
    return parsed.with_path("")


def host_header(base: URL) -> str:
    """What the upstream sees as Host (and what a vendor signature must cover): the port only when not default."""
    host = f"[{base.host}]" if base.host and ":" in base.host else str(base.host)
    return host if base.is_default_port() else f"{host}:{base.port}"


class RecordingProxy:
    """Owns one aiohttp app, its runner, a client session to the upstream and the trace file."""

    def __init__(self, *, upstream: str, dialect: str, out: str | Path, host: str = "127.0.0.1", port: int = 0,
                 upstream_credentials: UpstreamCredentials | None = None, local: ProviderConfig | None = None,
                 keep_numbers: bool = False, upstream_timeout: float = 30.0, clock: Clock | None = None) -> None:
        if dialect not in DIALECTS:
            raise ValueError(f"unknown dialect {dialect!r} (expected {', '.join(DIALECTS)})")
        if dialect != "native" and upstream_credentials is None:
            raise ValueError(f"recording the {dialect} dialect needs the upstream's credentials")
        self.dialect = dialect
        self.upstream = upstream_base(upstream)
        self.upstream_host = host_header(self.upstream)
        self.out = Path(out)
        self.host, self._port = host, port
        self.upstream_timeout = upstream_timeout
        self.keep_numbers = keep_numbers
        self._credentials = upstream_credentials
        self._local = local or ProviderConfig()
        self.clock = clock or Clock()
        self._checker = self._local_dialect()
        self._hidden = _hidden_values(upstream_credentials, self._local)
        self.port: int | None = None
        self.trace: ProxyTrace | None = None
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._seq = 0
        self._stopping = False

    def _local_dialect(self) -> Dialect | None:
        """A vendor dialect with the local credentials, over a throwaway empty ledger: only its checks are used."""
        cls = VENDOR_DIALECTS.get(self.dialect)
        if cls is None:
            return None
        return cls(Ledger(self.clock, PoolSpec(cities=("Beijing",), per_city=0, stock_per_city=0)), self._local)

    # ---- lifecycle ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("the proxy is not started")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def count(self) -> int:
        """Exchanges recorded so far."""
        return 0 if self.trace is None else self.trace.count

    async def start(self) -> "RecordingProxy":
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        # handler_cancellation: a client that hangs up cancels its handler, so the trace says when it gave up.
        runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=2.0,
                               handler_cancellation=True)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self._port, reuse_address=True)
        try:
            await site.start()
            # No await between here and the return: no request is served before the trace is open.
            self.clock.now()  # anchor the clock: offsets count from here
            self.trace = ProxyTrace(self.out, dialect=self.dialect, started_at=self.clock.now(),
                                    pseudonymise=not self.keep_numbers, hidden=self._hidden,
                                    meta={"upstream": str(self.upstream), "dialect": self.dialect,
                                          "upstream_timeout": self.upstream_timeout})
        except BaseException:
            await runner.cleanup()
            raise
        # One upstream connection per request: a pooled keep-alive connection the upstream closed meanwhile
        # would fail as an "empty reply" the upstream never gave.
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True),
                                              timeout=aiohttp.ClientTimeout(total=None), auto_decompress=True)
        self._runner = runner
        server = site._server
        assert server is not None and server.sockets
        self.port = server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        self._stopping = True
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()
        if self.trace is not None:
            self.trace.close()

    async def __aenter__(self) -> "RecordingProxy":
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # ---- one request ----------------------------------------------------------------------------

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        if request.path.startswith(ADMIN_PREFIXES):
            return _refusal(404, "NOT_FORWARDED", f"pstnsim record does not forward {request.path}: call the "
                                                  "upstream's admin API directly")
        if self._checker is not None and await self._checker.describe(request) is None:
            return _refusal(400, "UNKNOWN_DIALECT", f"not a {self.dialect} request (pstnsim record --dialect "
                                                    f"{self.dialect}); nothing was forwarded")
        loop = asyncio.get_running_loop()
        started, at = loop.time(), self.clock.now()
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _refusal(413, "PAYLOAD_TOO_LARGE", f"a request body over {MAX_BODY_BYTES} bytes is not forwarded")
        self._seq += 1
        seen = dict(seq=self._seq, at=at, method=request.method, path=request.path,
                    query=request.rel_url.raw_query_string, headers=dict(request.headers), body=body)
        if self._checker is not None:
            refused = await self._checker.authenticate(request)
            if refused is not None:  # the vendor's own refusal; nothing reaches the upstream
                self._record(Forwarded(**seen, status=refused.status, response_headers=dict(refused.headers),
                                       response_body=_body_of(refused), latency=loop.time() - started,
                                       answered_by="proxy"), request)
                return refused
        try:
            query, headers, sent = resign(self.dialect, request.method, request.path, seen["query"], request.headers,
                                          body, credentials=self._credentials, host=self.upstream_host,
                                          now=self.clock.now())
        except ResignError as exc:
            return _refusal(400, "CANNOT_RESIGN", f"pstnsim record cannot re-sign this request: {exc}")
        headers = {k: v for k, v in headers.items() if k.lower() != "accept-encoding"}
        headers["Accept-Encoding"] = "identity"
        try:
            return await self._exchange(request, seen, started, query, headers, sent)
        except asyncio.CancelledError:
            if request.get(RECORDED):
                raise
            waited = loop.time() - started
            detail = ("the recorder stopped before the upstream answered" if self._stopping else
                      f"the client closed the connection after {waited:.3f} s, before the upstream answered")
            self._record(Forwarded(**seen, failure=Failure("timeout", after=round(waited, 6), detail=detail),
                                   latency=waited), request)
            raise

    async def _exchange(self, request: web.Request, seen: dict[str, Any], started: float, query: str,
                        headers: dict[str, str], body: bytes) -> web.StreamResponse:
        loop = asyncio.get_running_loop()
        assert self._session is not None
        target = URL(f"{self.upstream}{request.path}" + (f"?{query}" if query else ""), encoded=True)
        status: int | None = None
        answer_headers: CIMultiDict[str] = CIMultiDict()
        received = bytearray()
        announced: int | None = None
        try:
            async with asyncio.timeout(self.upstream_timeout):
                async with self._session.request(request.method, target, headers=headers, data=body or None,
                                                 allow_redirects=False,
                                                 skip_auto_headers=("Content-Type", "User-Agent")) as answer:
                    status, answer_headers, announced = answer.status, CIMultiDict(answer.headers), answer.content_length
                    async for chunk in answer.content.iter_any():
                        received.extend(chunk)
        except TimeoutError:
            latency = loop.time() - started
            self._record(Forwarded(**seen, failure=Failure("timeout", after=round(latency, 6),
                                                           detail=f"no answer within --upstream-timeout "
                                                                  f"{self.upstream_timeout:g} s"),
                                   latency=latency), request)
            return self._timeout_answer(seen["seq"])
        except aiohttp.ClientError as exc:
            latency = loop.time() - started
            if status is not None:  # a status, part of the body, then the connection closed
                self._record(Forwarded(**seen, status=status, response_headers=answer_headers,
                                       response_body=bytes(received), latency=latency,
                                       failure=Failure("truncated_body", after=round(latency, 6), detail=_why(exc))),
                             request)
                return await _cut_short(request, status, answer_headers, bytes(received), announced)
            kind = "empty_reply" if isinstance(exc, aiohttp.ServerDisconnectedError) else "reset"
            self._record(Forwarded(**seen, latency=latency,
                                   failure=Failure(kind, after=round(latency, 6), detail=_why(exc))), request)
            return _hang_up(request, reset=kind == "reset")
        latency = loop.time() - started
        failure = None
        if _looks_json(answer_headers) and received and not _parses(bytes(received)):
            failure = Failure("malformed_body", after=round(latency, 6), detail="the answer's body is not valid JSON")
        self._record(Forwarded(**seen, status=status, response_headers=answer_headers, response_body=bytes(received),
                               latency=latency, failure=failure), request)
        return web.Response(status=status or 502, body=bytes(received), headers=_passed_on(answer_headers))

    def _record(self, forwarded: Forwarded, request: web.Request) -> None:
        """One trace line per request, however it ended (a hang-up after the answer is not a second one)."""
        request[RECORDED] = True
        assert self.trace is not None
        line = self.trace.record(forwarded)
        outcome = line.failure.kind if line.failure else line.status
        log.info("#%d %s %s -> %s in %.3f s", line.seq, line.dialect, line.action, outcome, line.latency)

    def _timeout_answer(self, seq: int) -> web.Response:
        """What the client gets when the upstream kept silent: a 504 in the dialect's gateway shape."""
        message = f"the upstream did not answer within {self.upstream_timeout:g} s (pstnsim record)"
        request_id = _request_id(seq)
        if self.dialect == "aliyun":
            body = {"RequestId": request_id, "Code": "ServiceTimeout", "Message": message}
            return web.json_response(body, status=504)
        if self.dialect == "tencent":
            return error_envelope(INTERNAL_ERROR, message, request_id, status=504)
        return web.json_response({"code": "UPSTREAM_TIMEOUT", "message": message}, status=504)


# ---- answers the proxy makes itself ----------------------------------------------------------------------


def _refusal(status: int, code: str, message: str) -> web.Response:
    log.warning("refused: %s", message)
    return web.json_response({"code": code, "message": message}, status=status)


def _hang_up(request: web.Request, *, reset: bool) -> web.Response:
    """Fail the client's connection the way the upstream failed ours: a TCP RST, or a close without a byte."""
    return reset_connection(request) if reset else close_without_reply(request)


async def _cut_short(request: web.Request, status: int, headers: CIMultiDict[str], received: bytes,
                     announced: int | None) -> web.StreamResponse:
    """The status and the part of the body that came, announced at its full length, then the connection closes."""
    cut = web.StreamResponse(status=status, headers=_passed_on(headers))
    cut.content_length = max(announced or 0, len(received) + 1)
    await cut.prepare(request)
    await cut.write(received)
    if request.transport is not None:
        request.transport.close()
    return cut


def _passed_on(headers: CIMultiDict[str]) -> CIMultiDict[str]:
    """The upstream's answer headers the client gets: every one (repeated ones too) but hop-by-hop and framing."""
    return CIMultiDict((k, v) for k, v in headers.items() if k.lower() not in DROPPED_ANSWER_HEADERS)


def _hidden_values(upstream: UpstreamCredentials | None, local: ProviderConfig) -> list[str]:
    """Strings that never reach the trace: the upstream's key id and secret, and the local secrets."""
    hidden = list(upstream.secrets) if upstream is not None else []
    hidden += [c.access_key_secret for c in local.aliyun] + [c.secret_key for c in local.tencent]
    return hidden


def _body_of(response: web.Response) -> bytes:
    body = response.body
    return bytes(body) if isinstance(body, (bytes, bytearray)) else b""


def _looks_json(headers: CIMultiDict[str]) -> bool:
    return any(k.lower() == "content-type" and "json" in v.lower() for k, v in headers.items())


def _parses(body: bytes) -> bool:
    try:
        json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return False
    return True


def _why(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:200]


def _request_id(seq: int) -> str:
    h = hashlib.sha256(f"pstnsim-record:{seq}".encode()).hexdigest().upper()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"
