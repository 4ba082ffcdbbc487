"""pytest plugin (entry point `pstnsim`): in-process providers for the harness and for users' own tests.

    async def test_bind(pstnsim_provider):
        async with aiohttp.ClientSession() as s:
            await s.post(f"{pstnsim_provider.url}/v1/bindings", json={"mode": "XB", "b": "13800000000"})

    async def test_custom(pstnsim_provider_factory):
        provider = await pstnsim_provider_factory(faults_file="faults.toml", webhook_url=...)

The seed comes from `--pstnsim-seed` (default 0) and is printed in the header;
the clock starts at a fixed epoch so runs replay exactly.

The fixtures are async and run under pytest-asyncio (a dependency of pstnsim). It needs no configuration:
an `async def` test that uses a pstnsim fixture is marked `asyncio` here, so it runs in pytest-asyncio's
default strict mode as in auto mode.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
from typing import Any, AsyncIterator, Awaitable, Callable, Generator, Sequence

import pytest
import pytest_asyncio
from aiohttp import web

from .clock import FIXED_EPOCH
from .config import ProviderConfig
from .dialects.base import Dialect
from .server import Provider

ProviderFactory = Callable[..., Awaitable[Provider]]

# The async fixtures of both pstnsim plugins: an async test using any of them runs under pytest-asyncio.
ASYNC_FIXTURES = frozenset({"pstnsim_provider", "pstnsim_provider_factory", "pstnsim_core", "pstnsim_core_factory"})


@pytest.hookimpl(hookwrapper=True, trylast=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object) -> Generator[None, Any, None]:
    """Mark `asyncio` each async test that uses a pstnsim fixture, so it runs without `asyncio_mode = auto`.

    trylast: this wrapper sits inside pytest-asyncio's, which turns marked coroutine tests into asyncio items
    when the items come back out through it."""
    outcome = yield
    result = outcome.get_result()
    for item in result if isinstance(result, list) else [result]:
        if (isinstance(item, pytest.Function) and inspect.iscoroutinefunction(item.obj)
                and ASYNC_FIXTURES.intersection(item.fixturenames) and item.get_closest_marker("asyncio") is None):
            item.add_marker(pytest.mark.asyncio)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("pstnsim")
    group.addoption("--pstnsim-seed", type=int, default=0, dest="pstnsim_seed",
                    help="seed of the in-process provider (pool, faults); default 0")


def pytest_report_header(config: pytest.Config) -> str:
    return f"pstnsim: provider seed {config.getoption('pstnsim_seed')} (--pstnsim-seed)"


@pytest.fixture
def pstnsim_seed(request: pytest.FixtureRequest) -> int:
    return int(request.config.getoption("pstnsim_seed"))


@contextlib.asynccontextmanager
async def loopback_server(app: web.Application) -> AsyncIterator[str]:
    """Serve `app` on 127.0.0.1 at an ephemeral port for the block; yields its base URL (no trailing /).
    For the receivers a test points pushes, reports or alerts at."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


def provider_config(seed: int, **overrides: Any) -> ProviderConfig:
    """The fixtures' config: the given seed for faults and the pool, a fixed epoch, then `overrides`."""
    base = ProviderConfig(seed=seed, epoch=FIXED_EPOCH)
    base = dataclasses.replace(base, pool=dataclasses.replace(base.pool, seed=seed))
    return dataclasses.replace(base, **overrides)


@pytest_asyncio.fixture
async def pstnsim_provider_factory(pstnsim_seed: int) -> AsyncIterator[ProviderFactory]:
    """An async factory: `await factory(config=None, dialects=None, **config_overrides)` starts a provider
    (default dialects: all registered); every provider it started stops at teardown."""
    started: list[Provider] = []

    async def start(config: ProviderConfig | None = None, *, dialects: Sequence[type[Dialect]] | None = None,
                    **overrides: Any) -> Provider:
        if config is not None and overrides:
            config = dataclasses.replace(config, **overrides)
        if config is None:
            config = provider_config(overrides.pop("seed", pstnsim_seed), **overrides)
        provider = Provider(config, dialects=dialects)
        await provider.start()
        started.append(provider)
        return provider

    try:
        yield start
    finally:
        for provider in reversed(started):
            await provider.stop()


@pytest_asyncio.fixture
async def pstnsim_provider(pstnsim_provider_factory: ProviderFactory) -> Provider:
    """A started provider on 127.0.0.1 with an ephemeral port and the `--pstnsim-seed` seed."""
    return await pstnsim_provider_factory()
