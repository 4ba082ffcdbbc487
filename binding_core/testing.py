"""pytest plugin (entry point `pstnsim_core`): the bundled binding core in-process, against a provider.

    async def test_bind(pstnsim_provider, pstnsim_core_factory):
        core = await pstnsim_core_factory(pstnsim_provider.url)
        async with aiohttp.ClientSession() as s:
            await s.post(f"{core.url}/v1/numbers/{x}/xb", json={"b": "13800000000"})

`pstnsim_core` is a core against the `pstnsim_provider` fixture's provider, with
a database in the test's tmp_path. Start servers inside the test body when the
test runs under looptime (a fixture-started server anchors in real time).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable

import pytest_asyncio

from .app import Core
from .config import CoreConfig

CoreFactory = Callable[..., Awaitable[Core]]


@pytest_asyncio.fixture
async def pstnsim_core_factory(tmp_path: Path) -> AsyncIterator[CoreFactory]:
    """`await factory(provider_url, config=None, db_path=None, **core_kwargs)`; every core stops at teardown."""
    started: list[Core] = []

    async def start(provider_url: str, config: CoreConfig | None = None, db_path: str | Path | None = None,
                    **kwargs: Any) -> Core:
        config = config or CoreConfig()
        kwargs.setdefault("rng", random.Random(f"pstnsim_core:{config.seed}:{len(started)}"))
        core = Core(config, provider_url=provider_url, db_path=db_path or tmp_path / f"core{len(started)}.db", **kwargs)
        await core.start()
        started.append(core)
        return core

    try:
        yield start
    finally:
        for core in reversed(started):
            await core.stop()


@pytest_asyncio.fixture
async def pstnsim_core(pstnsim_core_factory: CoreFactory, pstnsim_provider: Any) -> Core:
    """A started core on 127.0.0.1 (ephemeral port) bound to the `pstnsim_provider` fixture's provider."""
    return await pstnsim_core_factory(pstnsim_provider.url)
