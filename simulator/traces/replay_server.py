"""Serving a trace as the provider (`pstnsim provider --replay FILE`): a middleware in place of the fault engine.

A request's path in replay: journal middleware -> replay middleware: the dialect describes the request,
`meaning_of` says what it means, the index gives the next unanswered exchange recorded with that meaning;
the vendor signature is checked with the provider's own credentials; after the recorded latency (divided
by the speed) the exchange's effect is applied to the ledger and its answer, or its failure, is sent. A
request the trace has no exchange (left) for is served by the dialect against the ledger, or refused
(`unrecorded="error"`). Everything waits on the loop clock (`state.pause`): virtual time works as is.

The journal says, in `fault`, which trace line answered (`replay:seq=N+...`, replay_index.replay_label) or
`UNRECORDED`; GET /_admin/replay shows the progress (`ReplaySession.progress`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from pathlib import Path
from typing import Any, Awaitable, Callable, Mapping

from aiohttp import web

from ..config import ProviderConfig
from ..dialects.base import Dialect, RequestInfo
from ..errors import LedgerError
from ..middleware import (
    DIALECT, FAULT_LABEL, HIDDEN, INFO, SENT_BODY, close_without_reply, describe_request, reset_connection,
)
from ..numbers import DEFAULT_POOL_KEY
from ..state import ProviderState
from .effects import (
    NOT_FOUND, OK, CreateBinding, DeleteBinding, Effect, UpdateBinding, bindings_shown, outcome,
)
from .format import DIALECTS, Exchange, read_trace
from .meaning import Meaning, meaning_of
from .replay_index import ReplayIndex, loose_key, plan_replay, recorded_order, replay_label

REPLAY = web.AppKey("replay", "ReplaySession")
UNRECORDED_MODES = ("ledger", "error")
UNRECORDED = "UNRECORDED"
REFUSED_LABEL = "replay:refused"
# Headers a recorded answer does not carry over: the server sets its own framing.
HOP_HEADERS = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive", "date", "server",
                         "content-encoding"})
# Lookups of bindings, which change nothing: checked against the ledger (is_binding_read, ReplaySession._read).
BINDING_READS = {
    "native": frozenset({"list_bindings", "get_binding"}),
    "aliyun": frozenset({"QuerySubscriptionDetail", "QuerySubsId"}),
    "volcengine": frozenset({"QuerySubscription", "QuerySubscriptionForList"}),
}
MAX_LISTED_UNRECORDED = 1000  # /_admin/replay lists at most this many unrecorded requests (all are counted)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
log = logging.getLogger("pstnsim.replay")


class ReplaySession:
    """One trace being served: its index and plan (built once), what was answered so far."""

    def __init__(self, state: ProviderState, exchanges: list[Exchange], started_at: float, path: Path) -> None:
        config = state.config
        if config.replay_unrecorded not in UNRECORDED_MODES:
            raise ValueError(f"replay_unrecorded must be one of {', '.join(UNRECORDED_MODES)}, "
                             f"not {config.replay_unrecorded!r}")
        if not config.replay_speed > 0:
            raise ValueError(f"replay_speed must be a number > 0, not {config.replay_speed!r}")
        self.state = state
        self.path = path
        self.speed = float(config.replay_speed)
        self.unrecorded_mode = config.replay_unrecorded
        ordered = recorded_order(exchanges)
        self.index = ReplayIndex(ordered)
        self.plan = plan_replay(ordered, started_at)
        self._reset_progress()
        state.ledger.on_reset(self.rewind)

    @classmethod
    def load(cls, state: ProviderState, config: ProviderConfig) -> "ReplaySession":
        """Read the trace once (TraceError names the file and line of anything it refuses)."""
        assert config.replay_file is not None
        trace = read_trace(config.replay_file)
        return cls(state, trace.exchanges, trace.header.started_at, Path(config.replay_file))

    # ---- life ----------------------------------------------------------------------

    async def on_startup(self, app: web.Application) -> None:
        self.preload()

    def preload(self) -> None:
        """The X numbers and the bindings the trace shows before its own exchanges make any."""
        ledger = self.state.ledger
        for x, (dialect, pool_key) in self.plan.numbers.items():
            try:
                ledger.own_number(x, pool_key or self.default_pool(dialect))
            except LedgerError:
                log.debug("replay: %s is not a number the ledger can hold", x)
        ledger.reserve_binding_ids(e.binding_id for e in self.plan.effects if isinstance(e, CreateBinding))
        now = ledger.clock.now()
        for binding in self.plan.preload:
            ledger.restore_binding(binding.binding_id, binding.mode, binding.x or "", a=binding.a, b=binding.b,
                                   pool_key=binding.pool_key or self.default_pool(""),
                                   expires_at=None if binding.expires_in is None else now + binding.expires_in,
                                   extra=dict(binding.extra))
        self.state.bindings_changed.set()

    def rewind(self) -> None:
        """After a provider reset: every exchange unanswered again, the ledger preloaded again."""
        self.index.rewind()
        self._reset_progress()
        self.preload()

    def _reset_progress(self) -> None:
        self.matched: list[int] = []
        self.unrecorded: list[dict[str, Any]] = []
        self.unrecorded_count = 0
        self.refused = 0

    def default_pool(self, dialect: str) -> str:
        """The pool a dialect's requests use in this provider when the trace names none."""
        config = self.state.config
        if dialect == "native":
            return DEFAULT_POOL_KEY
        if dialect == "aliyun" and config.aliyun:
            return config.aliyun[0].pool_key
        return config.pool.pool_key

    def progress(self) -> dict[str, Any]:
        """What GET /_admin/replay answers: which exchanges were answered, which requests the trace lacked."""
        by_position = self.index.exchanges
        return {
            "file": str(self.path),
            "exchanges": len(self.index),
            "unrecorded_mode": self.unrecorded_mode,
            "speed": self.speed,
            "matched": len(self.matched),
            "unrecorded": self.unrecorded_count,
            "refused": self.refused,
            "matched_seqs": list(self.matched),
            "unrecorded_requests": list(self.unrecorded),
            "never_asked": self.index.never_asked(),
            "preloaded_bindings": [b.binding_id for b in self.plan.preload],
            "inferred_effects": [by_position[p].seq for p in self.plan.inferred],
            "unknown_bindings": list(self.plan.unknown_bindings),
        }

    # ---- the request path ------------------------------------------------------------

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        config = self.state.config
        length = request.content_length
        if length is not None and length > config.max_body_bytes:
            raise web.HTTPRequestEntityTooLarge(max_size=config.max_body_bytes, actual_size=length)
        described = await describe_request(self.state.dialects, request)
        if described is None:
            return await handler(request)  # admin, metrics, openapi
        dialect, info = described
        request[INFO] = info
        request[DIALECT] = dialect
        meaning = await _meaning(request, info)
        position = self.index.take(meaning.key, loose_key(meaning.dialect, meaning.action, meaning.params))
        if position is None:
            return await self._unrecorded(request, handler, dialect, meaning)
        if is_binding_read(self.index.exchanges[position]):
            return await self._answer(request, position, handler)  # the dialect's handler checks the signature
        refusal = await dialect.authenticate(request)
        if refusal is not None:  # answered as the vendor's gateway would; the exchange stays for a good request
            self.index.give_back(position)
            self.refused += 1
            request[FAULT_LABEL] = REFUSED_LABEL
            return refusal
        return await self._answer(request, position, handler)

    async def _unrecorded(self, request: web.Request, handler: Handler, dialect: Dialect,
                          meaning: Meaning) -> web.StreamResponse:
        self.unrecorded_count += 1
        if len(self.unrecorded) < MAX_LISTED_UNRECORDED:
            self.unrecorded.append({"dialect": meaning.dialect, "action": meaning.action, "params": meaning.params})
        request[FAULT_LABEL] = UNRECORDED
        if self.unrecorded_mode == "ledger":
            return await handler(request)  # the dialect authenticates and serves it from the ledger
        refusal = await dialect.authenticate(request)
        if refusal is not None:
            return refusal
        return self._unrecorded_error(meaning)

    async def _answer(self, request: web.Request, position: int, handler: Handler) -> web.StreamResponse:
        exchange = self.index.exchanges[position]
        effect = self.plan.effects[position]
        self.matched.append(exchange.seq)
        failure = exchange.failure
        hold = exchange.latency if failure is None or failure.after is None else failure.after
        hold /= self.speed
        if is_binding_read(exchange):
            await self.state.pause(hold)
            return await self._read(request, exchange, handler)
        if failure is not None and failure.kind == "timeout":
            hold = min(hold, self.state.config.request_deadline)  # the gateway never holds a request longer
        if effect is not None:
            self.state.in_flight += 1  # held, and will still change the ledger: a harness waits for it
        try:
            await self.state.pause(hold)
            applied = effect is not None and self._apply(effect, exchange.dialect)
        finally:
            if effect is not None:
                self.state.in_flight -= 1
        request[FAULT_LABEL] = replay_label(exchange, applied)
        info = request[INFO]
        if applied and isinstance(effect, CreateBinding) and info.x is None:  # the journal learns the X it got
            request[INFO] = dataclasses.replace(info, x=self.state.ledger.binding(effect.binding_id).x)
        if exchange.provider_response:
            request[HIDDEN] = recorded_response(exchange.provider_response)
        if failure is not None:
            return await self._fail(request, exchange)
        assert exchange.response is not None  # the format admits no exchange without either
        return recorded_response(exchange.response)

    async def _read(self, request: web.Request, exchange: Exchange, handler: Handler) -> web.StreamResponse:
        """A lookup of bindings: the recorded answer while the ledger still shows what it showed, else the
        ledger's. The trace decides when the provider was slow or failing; the ledger, kept in step with the
        recorded effects, decides what it held: a service that looks later than recorded (a fix that waits
        before it trusts a lookup) sees the binding that landed meanwhile, not a stale recorded answer."""
        live = await handler(request)  # the dialect checks the signature and reads the ledger, changing nothing
        body = live.body if isinstance(live, web.Response) and isinstance(live.body, (bytes, bytearray)) else b""
        try:
            live_body: Any = json.loads(body) if body else None
        except ValueError:
            live_body = None
        now = dataclasses.replace(exchange, response={"status": live.status, "body": live_body}, failure=None)
        said, says = outcome(exchange), outcome(now)
        if said == says and _shown(exchange) == _shown(now):
            request[FAULT_LABEL] = replay_label(exchange, False)
            return recorded_response(exchange.response or {})
        request[FAULT_LABEL] = f"replay:seq={exchange.seq}+ledger"
        return live

    async def _fail(self, request: web.Request, exchange: Exchange) -> web.StreamResponse:
        """The failure the client saw, as the fault engine makes it (middleware.py)."""
        kind = exchange.failure.kind if exchange.failure is not None else ""
        if kind == "reset":
            return reset_connection(request)
        if kind in ("timeout", "empty_reply") or exchange.response is None:
            return close_without_reply(request)  # a timeout: the client gave up already, or does now
        if kind == "truncated_body":
            return await _truncated(request, exchange)
        answer = recorded_response(exchange.response)  # malformed_body: the recorded body is what was sent
        request[SENT_BODY] = bytes(answer.body or b"")  # type: ignore[arg-type]
        return answer

    # ---- the ledger -------------------------------------------------------------------

    def _apply(self, effect: Effect, dialect: str) -> bool:
        """Apply what the recorded exchange did; False when the ledger cannot (the binding is not there)."""
        ledger = self.state.ledger
        now = ledger.clock.now()
        try:
            if isinstance(effect, CreateBinding):
                x, b = effect.x, effect.b
                if effect.numbers_of is not None:
                    work = ledger.binding(effect.numbers_of)
                    x, b = work.x, work.b
                if not x:
                    return False
                expires_at = None if effect.expires_in is None else now + effect.expires_in
                existing = ledger.restore_binding(effect.binding_id, effect.mode, x, a=effect.a, b=b,
                                                  pool_key=effect.pool_key or self.default_pool(dialect),
                                                  expires_at=expires_at, extra=dict(effect.extra))
                if effect.extra and existing.extra != effect.extra:  # a repeat that reused it (one more reference)
                    ledger.update_binding(existing.binding_id, extra=_merged(existing.extra, effect.extra))
            elif isinstance(effect, DeleteBinding):
                ledger.delete_binding(effect.binding_id)
            elif isinstance(effect, UpdateBinding):
                binding = ledger.binding(effect.binding_id)
                ledger.update_binding(effect.binding_id, a=effect.a, b=effect.b,
                                      expires_at=None if effect.expires_in is None else now + effect.expires_in,
                                      extra=_merged(binding.extra, effect.extra) if effect.extra else None)
        except LedgerError as exc:
            log.debug("replay: %s not applied: %s", effect, exc)
            return False
        self.state.bindings_changed.set()
        return True

    # ---- refusing an unrecorded request ---------------------------------------------------

    def _unrecorded_error(self, meaning: Meaning) -> web.Response:
        params = json.dumps(meaning.params, sort_keys=True, ensure_ascii=False)
        message = (f"{meaning.action} with {params} is not in the replayed trace {self.path.name} "
                   f"(or every exchange recorded for it was answered already)")
        request_id = self._request_id()
        if meaning.dialect == "aliyun":
            body: dict[str, Any] = {"RequestId": request_id, "HostId": "dyplsapi.aliyuncs.com",
                                    "Code": "Replay.Unrecorded", "Message": message}
            return _json(body, 400, "application/json;charset=utf-8")
        if meaning.dialect == "tencent":
            body = {"Response": {"Error": {"Code": "FailedOperation.Unrecorded", "Message": message},
                                 "RequestId": request_id}}
            return _json(body, 200, "application/json")  # Tencent's gateway errors are HTTP 200
        if meaning.dialect == "volcengine":
            body = {"ResponseMetadata": {"RequestId": request_id, "Action": meaning.action, "Version": "2022-01-01",
                                         "Service": "vms", "Region": "cn-north-1",
                                         "Error": {"Code": "Replay.Unrecorded", "Message": message}}}
            return _json(body, 400, "application/json")
        body = {"code": UNRECORDED, "message": message, "action": meaning.action, "params": meaning.params}
        return _json(body, 400, "application/json")

    def _request_id(self) -> str:
        h = hashlib.sha256(f"replay:{self.state.config.seed}:{self.unrecorded_count}".encode()).hexdigest().upper()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def is_binding_read(exchange: Exchange) -> bool:
    """A lookup of bindings the recording shows answered normally (found or not found; no failure, no injected
    fault but latency): checked against the ledger (`_read`). Failed, throttled or faulted reads replay as
    recorded."""
    if exchange.action not in BINDING_READS.get(exchange.dialect, ()):
        return False
    if exchange.failure is not None or exchange.fault not in (None, "latency"):
        return False
    return outcome(exchange) in (OK, NOT_FOUND)


async def _meaning(request: web.Request, info: RequestInfo) -> Meaning:
    """What the request means; a dialect traces do not know (a test's own) means its operation, no parameters."""
    if info.dialect not in DIALECTS:
        return Meaning(info.dialect, info.operation, {})
    body = await request.read()
    return meaning_of(info.dialect, request.method, request.path, request.query_string, request.headers, body)


def _shown(exchange: Exchange) -> set[tuple[str | None, ...]]:
    return {(b.binding_id, b.x, b.a, b.b) for b in bindings_shown(exchange)}


def recorded_response(answer: Mapping[str, Any]) -> web.Response:
    """A recorded answer as it was: status, the headers that matter (content type, retry-after...), body."""
    body = answer.get("body")
    headers = {str(k): str(v) for k, v in (answer.get("headers") or {}).items() if str(k).lower() not in HOP_HEADERS}
    if isinstance(body, (dict, list)):
        raw = json.dumps(body, ensure_ascii=False).encode("utf-8")
        if not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = "application/json"
    elif body is None:
        raw = b""
    else:
        raw = str(body).encode("utf-8")
    return web.Response(status=int(answer.get("status") or 200), body=raw, headers=headers)


async def _truncated(request: web.Request, exchange: Exchange) -> web.StreamResponse:
    """The recorded part of the body under the full body's Content-Length, then the connection closes."""
    assert exchange.response is not None
    recorded = recorded_response(exchange.response)
    sent = bytes(recorded.body or b"")  # type: ignore[arg-type]
    full = recorded_response(exchange.provider_response).body if exchange.provider_response else None
    announced = max(len(full) if isinstance(full, (bytes, bytearray)) else 0, 2 * len(sent) + 1)
    headers = {k: v for k, v in recorded.headers.items() if k.lower() not in HOP_HEADERS}
    cut = web.StreamResponse(status=recorded.status, headers=headers)
    cut.content_length = announced
    await cut.prepare(request)
    await cut.write(sent)
    request[SENT_BODY] = sent
    if request.transport is not None:
        request.transport.close()
    return cut


def _merged(current: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """`extra` laid over `current`, one level deep (Tencent keeps its fields under "tencent")."""
    merged = dict(current)
    for key, value in extra.items():
        old = merged.get(key)
        merged[key] = {**old, **value} if isinstance(old, dict) and isinstance(value, dict) else value
    return merged


def _json(body: Any, status: int, content_type: str) -> web.Response:
    return web.Response(status=status, body=json.dumps(body, ensure_ascii=False).encode("utf-8"),
                        headers={"Content-Type": content_type})


__all__ = ["REPLAY", "ReplaySession", "recorded_response", "UNRECORDED"]
