"""`Provider`: the provider running in-process, on loopback, in the caller's event loop.

    async with Provider(ProviderConfig(seed=7)) as provider:
        async with session.post(f"{provider.url}/v1/bindings", json=...) as r: ...
        provider.ledger.bindings()

Everything runs in the current loop, so a looptime test drives provider, core
and client together in virtual time.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

from aiohttp import web

from .app import create_app
from .clock import Clock
from .config import ProviderConfig
from .connections import LISTEN_BACKLOG, GuardedRunner
from .dialects.base import Dialect
from .faults import FaultEngine
from .journal import Journal
from .ledger import Ledger
from .push import Pusher
from .state import PROVIDER, ProviderState, RulesOnReset


class Provider:
    """Owns one app and its runner; `port=0` (the default) takes an ephemeral port."""

    def __init__(self, config: ProviderConfig | None = None, *, port: int | None = 0, clock: Clock | None = None,
                 dialects: Sequence[type[Dialect]] | None = None, **overrides: Any) -> None:
        config = config or ProviderConfig()
        if overrides:
            config = dataclasses.replace(config, **overrides)
        self.config = config
        self._port = config.port if port is None else port
        self.app: web.Application = create_app(config, clock=clock, dialects=dialects)
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    # ---- what tests reach for -------------------------------------------

    @property
    def state(self) -> ProviderState:
        return self.app[PROVIDER]

    @property
    def ledger(self) -> Ledger:
        return self.state.ledger

    @property
    def faults(self) -> FaultEngine:
        return self.state.faults

    @property
    def journal(self) -> Journal:
        return self.state.journal

    @property
    def pusher(self) -> Pusher:
        assert self.state.pusher is not None
        return self.state.pusher

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("the provider is not started")
        host = self.config.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    @property
    def admin_url(self) -> str:
        return f"{self.url}/_admin"

    def reset(self, *, rules: RulesOnReset = "initial", keep_rules: bool | None = None) -> None:
        """Back to how it started, fault rules included (see ProviderState.reset)."""
        self.state.reset(rules=rules, keep_rules=keep_rules)

    # ---- lifecycle -------------------------------------------------------

    async def start(self) -> "Provider":
        # Header and keep-alive timeouts, a connection cap, JSON 414/431 (simulator/connections.py).
        runner = GuardedRunner(self.app, self.config.connection_limits(), handle_signals=False, shutdown_timeout=5.0)
        await runner.setup()
        site = web.TCPSite(runner, self.config.host, self._port, reuse_address=True, backlog=LISTEN_BACKLOG)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        server = site._server
        assert server is not None and server.sockets
        self.port = server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> "Provider":
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


ProviderServer = Provider
