"""What one running provider holds besides its ledger: fault rules, journal, metrics, and the signals
its background tasks wait on. One value per app, reached through the `PROVIDER` app key."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import web

from .config import ProviderConfig
from .dialects.base import Dialect
from .faults import FaultEngine
from .journal import Journal
from .ledger import Ledger
from .metrics import Metrics

if TYPE_CHECKING:
    from .push import Pusher


@dataclass
class ProviderState:
    config: ProviderConfig
    ledger: Ledger
    dialects: list[Dialect]
    faults: FaultEngine
    journal: Journal
    metrics: Metrics
    pusher: "Pusher | None" = None
    # Set when the server shuts down: hanging and sleeping faults end so shutdown never waits on them.
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    # Set after every request that may have changed bindings: the expiry sweeper re-arms.
    bindings_changed: asyncio.Event = field(default_factory=asyncio.Event)
    # Vendor requests that may still change the ledger (held by latency, or applying): a harness waits for none.
    in_flight: int = 0

    def elapsed(self) -> float:
        """Seconds since the provider started, on its own clock (fault windows are written in these)."""
        return self.ledger.clock.now() - self.ledger.clock.epoch

    async def pause(self, seconds: float | None) -> None:
        """Wait on the loop clock for `seconds` (None: until shutdown); shutdown cuts every pause short."""
        if seconds is None:
            await self.stopping.wait()
            return
        if seconds <= 0 or self.stopping.is_set():
            return
        try:
            await asyncio.wait_for(self.stopping.wait(), seconds)
        except TimeoutError:
            pass

    def reset(self, *, keep_rules: bool = True) -> None:
        """Back to the seeded start: ledger, fault counters, journal, metrics, push statistics."""
        self.ledger.reset()
        if keep_rules:
            self.faults.reset_counters()
        else:
            self.faults.clear()
        self.journal.clear()
        self.metrics.reset()
        if self.pusher is not None:
            self.pusher.reset()
        self.bindings_changed.set()


PROVIDER = web.AppKey("provider", ProviderState)
