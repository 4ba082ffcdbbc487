"""The provider's aiohttp application: one ledger, every dialect's routes, the shared vendor endpoint `/`,
the journal and fault middlewares, the admin API, outbound pushes and the expiry sweeper."""

from __future__ import annotations

import asyncio
import logging
from typing import AsyncIterator, Sequence

from aiohttp import web

from .admin import add_admin_routes, admin_allowed
from .clock import Clock
from .config import ProviderConfig
from .dialects.aliyun import AliyunDialect
from .dialects.base import Dialect
from .dialects.native import NativeDialect
from .dialects.tencent import TencentDialect
from .dialects.volcengine import VolcengineDialect
from .faults import FaultEngine, load_rules_file
from .journal import Journal
from .ledger import Ledger
from .metrics import Metrics
from .middleware import DIALECT, json_http_error, make_journal_middleware, make_middlewares
from .push import Pusher
from .state import PROVIDER, ProviderState
from .traces.replay_server import REPLAY, ReplaySession

LEDGER = web.AppKey("ledger", Ledger)
CONFIG = web.AppKey("config", ProviderConfig)
DIALECTS = web.AppKey("dialects", list)

# Each dialect module adds its class here.
DIALECT_CLASSES: list[type[Dialect]] = [NativeDialect, AliyunDialect, TencentDialect, VolcengineDialect]

log = logging.getLogger("pstnsim.provider")


def create_app(
    config: ProviderConfig | None = None,
    *,
    clock: Clock | None = None,
    dialects: Sequence[type[Dialect]] | None = None,
) -> web.Application:
    """`dialects` defaults to DIALECT_CLASSES (every registered dialect)."""
    config = config or ProviderConfig()
    ledger = Ledger(clock or Clock(epoch=config.epoch), config.pool)
    faults = FaultEngine(seed=config.seed)
    if config.faults_file is not None:
        faults.extend(load_rules_file(config.faults_file))  # a bad file fails the start, naming the rule
    served = [cls(ledger, config) for cls in (DIALECT_CLASSES if dialects is None else dialects)]
    state = ProviderState(
        config=config,
        ledger=ledger,
        dialects=served,
        faults=faults,
        journal=Journal(),
        metrics=Metrics({d.name: d.operations() for d in served}),  # label values: a closed set
        initial_rules=tuple(faults.rules),
    )
    state.pusher = Pusher(state)
    # --replay: the trace answers in place of the fault engine (a bad trace fails here, naming file and line).
    replay = ReplaySession.load(state, config) if config.replay_file is not None else None
    if replay is not None:
        middlewares = [json_errors, make_journal_middleware(state), replay.middleware]
    else:
        middlewares = make_middlewares(state)  # JSON errors, journal and faults in one layer
    app = web.Application(client_max_size=config.max_body_bytes, middlewares=middlewares)
    app[CONFIG] = config
    app[LEDGER] = ledger
    app[DIALECTS] = state.dialects
    app[PROVIDER] = state
    for dialect in state.dialects:
        dialect.add_routes(app)
    app.router.add_route("*", "/", _vendor_endpoint)
    if config.admin and admin_allowed(config.host, config.allow_public_admin):
        add_admin_routes(app)
    app.on_shutdown.append(_release_waiters)
    app.cleanup_ctx.append(_background_tasks)
    if replay is not None:
        app[REPLAY] = replay
        app.on_startup.append(replay.on_startup)  # after the clock is anchored (cleanup contexts start first)
    return app


async def _vendor_endpoint(request: web.Request) -> web.StreamResponse:
    """Aliyun and Tencent share `/`; the first dialect that recognises the request serves it."""
    described = request.get(DIALECT)  # the fault middleware already asked
    if described is not None:
        return await described.handle(request)
    for dialect in request.app[DIALECTS]:
        if await dialect.describe(request) is not None:
            return await dialect.handle(request)
    raise web.HTTPBadRequest(
        text='{"code": "UNKNOWN_DIALECT", "message": "no dialect recognises this request (no x-acs-action / X-TC-Action / Action)"}',
        content_type="application/json",
    )


@web.middleware
async def json_errors(request: web.Request, handler) -> web.StreamResponse:
    """Errors aiohttp raises as plain text (404, 405, 413...) become `{"code", "message"}` JSON."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        return json_http_error(request, exc, request.app[CONFIG].max_body_bytes)


async def _release_waiters(app: web.Application) -> None:
    """Before aiohttp waits for in-flight handlers: end injected hangs and sleeps."""
    app[PROVIDER].stopping.set()


async def _background_tasks(app: web.Application) -> AsyncIterator[None]:
    """Start-up and clean-up as one pair: pusher, expiry sweeper, trace file."""
    state = app[PROVIDER]
    state.ledger.clock.now()  # anchor the provider clock at start (fault windows count from here)
    state.stopping.clear()
    trace = None
    if state.config.trace_file:
        from .traces.recording import ProviderTraceWriter

        trace = ProviderTraceWriter(state.config.trace_file, state.ledger.clock.now(),
                                    tuple(d.name for d in state.dialects), {"seed": state.config.seed})
    if trace is not None:
        state.journal.subscribe(trace)
    assert state.pusher is not None
    await state.pusher.start()
    sweeper = asyncio.get_running_loop().create_task(expiry_sweeper(state), name="pstnsim-expiry-sweeper")
    yield
    state.stopping.set()
    sweeper.cancel()
    await asyncio.gather(sweeper, return_exceptions=True)
    await state.pusher.stop()
    if trace is not None:
        trace.close()


async def expiry_sweeper(state: ProviderState) -> None:
    """Wake at the next expiry (re-armed whenever a request may have changed bindings) and expire what is due,
    so expiry notices go out on time even with no traffic."""
    clock = state.ledger.clock
    # Checked as well as cancelled: Python 3.11's wait_for can swallow a cancellation racing with its wake-up.
    while not state.stopping.is_set():
        state.bindings_changed.clear()
        state.ledger.expire_due()
        due = state.ledger.next_expiry()
        delay = None if due is None else max(0.0, due - clock.now())
        try:
            await asyncio.wait_for(state.bindings_changed.wait(), delay)
        except TimeoutError:
            pass
