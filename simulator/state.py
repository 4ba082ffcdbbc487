"""What one running provider holds besides its ledger: fault rules, journal, metrics, and the signals
its background tasks wait on. One value per app, reached through the `PROVIDER` app key."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from aiohttp import web

from .config import ProviderConfig
from .dialects.base import Dialect
from .faults import FaultEngine, FaultRule
from .journal import Journal
from .ledger import Ledger
from .metrics import Metrics

if TYPE_CHECKING:
    from .push import Pusher

# What a reset does to the fault rules: back to the table the provider started with, keep the current one, none.
RulesOnReset = Literal["initial", "keep", "clear"]
RULES_ON_RESET: tuple[str, ...] = ("initial", "keep", "clear")


@dataclass
class ProviderState:
    config: ProviderConfig
    ledger: Ledger
    dialects: list[Dialect]
    faults: FaultEngine
    journal: Journal
    metrics: Metrics
    pusher: "Pusher | None" = None
    # The rule table the provider started with (its --faults file): what a reset restores.
    initial_rules: tuple[FaultRule, ...] = ()
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

    def reset(self, *, rules: RulesOnReset = "initial", keep_rules: bool | None = None) -> None:
        """Back to how the provider started: ledger, journal, metrics, push statistics, and the fault rules
        (`rules`: "initial" the start's table, re-armed, rules added since removed; "keep" the current table,
        re-armed; "clear" none). `keep_rules` is the older spelling: True is "keep", False "clear"."""
        if keep_rules is not None:
            rules = "keep" if keep_rules else "clear"
        if rules not in RULES_ON_RESET:
            raise ValueError(f"rules must be one of {', '.join(RULES_ON_RESET)}, not {rules!r}")
        self.ledger.reset()
        if rules == "keep":
            self.faults.reset_counters()
        else:
            self.faults.clear()
            if rules == "initial":
                self.faults.extend(self.initial_rules)
        self.journal.clear()
        self.metrics.reset()
        if self.pusher is not None:
            self.pusher.reset()
        self.bindings_changed.set()


PROVIDER = web.AppKey("provider", ProviderState)
