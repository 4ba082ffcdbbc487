"""Shared fixtures for the simulator's tests.

`threaded_provider`: the vendor SDKs are synchronous (requests), so their tests run
the provider on its own event loop in a background thread (real time there) and
call it from the test thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import threading
from typing import Any, Awaitable, Callable, Iterator, TypeVar

import pytest

from simulator.clock import Clock
from simulator.config import ProviderConfig
from simulator.server import Provider

T = TypeVar("T")


class ThreadedProvider:
    """A started Provider living in its own thread and loop; touch its state only through `call` / `run`."""

    def __init__(self, config: ProviderConfig, clock: Clock | None = None) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="pstnsim-provider", daemon=True)
        self._thread.start()
        self.provider = Provider(config, clock=clock)
        self.run(self.provider.start())

    @property
    def endpoint(self) -> str:
        """`host:port`, what the vendor SDKs take as their endpoint (with protocol http)."""
        return f"127.0.0.1:{self.provider.port}"

    @property
    def url(self) -> str:
        return self.provider.url

    def run(self, coro: Awaitable[T], timeout: float = 10.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)  # type: ignore[arg-type]

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run `fn` on the provider's loop thread (ledger reads and writes, fault rules)."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def invoke() -> None:
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:  # handed to the caller
                future.set_exception(exc)

        self._loop.call_soon_threadsafe(invoke)
        return future.result(10.0)

    def stop(self) -> None:
        try:
            self.run(self.provider.stop())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10.0)
            self._loop.close()


@pytest.fixture
def threaded_provider() -> Iterator[Callable[..., ThreadedProvider]]:
    """A factory: `threaded_provider(seed=3, clock=...)` starts one; all stop at teardown."""
    started: list[ThreadedProvider] = []

    def start(config: ProviderConfig | None = None, *, clock: Clock | None = None, **overrides: Any) -> ThreadedProvider:
        config = dataclasses.replace(config or ProviderConfig(), **overrides)
        provider = ThreadedProvider(config, clock)
        started.append(provider)
        return provider

    yield start
    for provider in reversed(started):
        provider.stop()
