"""Fixtures for the core's tests: a provider (the real simulator) and a core, both in the test's loop.

Both are started inside the test body (through the `world` factory): looptime
switches the loop to virtual time only when the test starts, and a server
started earlier would anchor its clock in real time.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable

import aiohttp
import pytest_asyncio

from binding_core.app import Core
from binding_core.clock import LoopClock
from binding_core.config import CoreConfig, RetrySettings, WorkerSettings
from binding_core.transitions import check_history
from simulator.clock import FIXED_EPOCH
from simulator.server import Provider
from simulator.testing import provider_config

# Small retry numbers so exhaustion happens in a few virtual seconds.
FAST_RETRY = RetrySettings(max_attempts=4, base_delay=0.5, max_delay=4.0, alert_threshold=3)


def core_config(**changes: Any) -> CoreConfig:
    config = CoreConfig(retry=FAST_RETRY, worker=WorkerSettings(poll_interval=5.0), seed=1)
    return config.replace(**changes) if changes else config


@dataclass
class World:
    provider: Provider
    core: Core
    http: aiohttp.ClientSession
    db_path: Path

    def numbers(self, count: int) -> list[str]:
        """Virtual numbers from the provider's seeded pool."""
        return [n.x for n in self.provider.ledger.numbers()][:count]

    async def call(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        async with self.http.request(method, self.core.url + path, **kwargs) as response:
            body = await response.json(content_type=None) if response.content_length != 0 else None
            return response.status, body

    async def view(self, x: str) -> dict[str, Any]:
        status, body = await self.call("GET", f"/v1/numbers/{x}")
        assert status == 200, body
        return body

    async def settle(self, timeout: float = 3600.0) -> None:
        assert await self.core.wait_settled(timeout), "the queue did not drain"

    async def journal(self) -> list[dict[str, Any]]:
        """The provider's exchanges, oldest first, as its admin API shows them."""
        async with self.http.get(f"{self.provider.url}/_admin/journal", params={"limit": "1000"}) as response:
            assert response.status == 200
            return (await response.json())["entries"]

    def provider_bindings(self, x: str | None = None) -> list[Any]:
        return self.provider.ledger.bindings(x=x)

    def provider_actions(self, dialect: str) -> list[str]:
        """The operations the provider served in `dialect`, oldest first (from its journal)."""
        return [e.operation for e in self.provider.journal.entries() if e.dialect == dialect]

    async def place_call(self, caller: str, x: str) -> dict[str, Any]:
        """Dial X through the simulator; the call record says whom it reached."""
        async with self.http.post(f"{self.provider.url}/v1/calls", json={"caller": caller, "x": x}) as response:
            assert response.status == 201
            return await response.json()

    def assert_agrees(self, x: str) -> list[Any]:
        """Core and provider agree on X (invariants 1-4: no OPERATION, no orphan, no duplicate) and the
        history is legal (invariant 6). Returns the provider's bindings on X for further checks."""
        view = self.core.store.view(x)
        held = self.provider_bindings(x)
        for mode, key in (("XB", "xb"), ("AXB", "axb")):
            mine = [b for b in held if b.mode == mode]
            assert view[key]["status"] != "OPERATION"
            if view[key]["status"] == "BIND":
                assert [b.binding_id for b in mine] == [view[key]["binding_id"]]
                assert mine[0].b == view[key]["b"]
            else:
                assert mine == [], f"orphan {mode} binding at the provider: {mine}"
        assert check_history(self.core.store.transitions()) == []
        return held

    async def restart_core(self, *, crash: bool) -> Core:
        """Stop the core (gracefully or like a crash) and start a new one on the same database."""
        if crash:
            await self.core.abort()
        else:
            await self.core.stop()
        self.core = await Core(
            self.core.config, db_path=self.db_path, clock=LoopClock(epoch=FIXED_EPOCH),  # a new clock, as a new process
            rng=random.Random(f"restart:{self.core.port}"),
        ).start()
        return self.core


WorldFactory = Callable[..., Awaitable[World]]


async def until(predicate: Callable[[], bool], timeout: float = 60.0, step: float = 0.01) -> None:
    """Poll `predicate` on the loop's clock until it holds; fail after `timeout` (virtual) seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition not reached before the deadline"
        await asyncio.sleep(step)


@pytest_asyncio.fixture
async def world(tmp_path: Path) -> AsyncIterator[WorldFactory]:
    """`w = await world(config=None, **provider_overrides)`: a provider and a core wired together."""
    started: list[World] = []

    async def start(config: CoreConfig | None = None, *, seed: int = 0, **provider_overrides: Any) -> World:
        provider = Provider(provider_config(seed, **provider_overrides))
        await provider.start()
        config = (config or core_config())
        db_path = tmp_path / f"core{len(started)}.db"
        core = Core(
            config, provider_url=provider.url, db_path=db_path,
            clock=LoopClock(epoch=FIXED_EPOCH), rng=random.Random(f"core-test:{seed}"),
        )
        await core.start()
        w = World(provider, core, aiohttp.ClientSession(), db_path)
        started.append(w)
        return w

    yield start
    for w in reversed(started):
        await w.http.close()
        await w.core.stop()
        await w.provider.stop()
