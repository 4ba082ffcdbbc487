"""Outbound pushes as a webhook receiver sees them: delivery, retries, push faults, and the expiry sweeper."""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator

import pytest
import pytest_asyncio
from aiohttp import web

from simulator.testing import loopback_server

from .conftest import add_rule, numbers

pytestmark = pytest.mark.looptime


class Receiver:
    """A webhook endpoint in the test's loop: records what arrives, fails the first `failures` requests."""

    def __init__(self) -> None:
        self.received: list[tuple[str, Any, float]] = []
        self.failures = 0
        self._arrived = asyncio.Condition()
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        if self.failures > 0:
            self.failures -= 1
            return web.Response(status=500)
        self.received.append((request.path, await request.json(), asyncio.get_running_loop().time()))
        async with self._arrived:
            self._arrived.notify_all()
        return web.Response(status=204)

    async def wait_for(self, count: int, within: float = 600.0) -> list[tuple[str, Any, float]]:
        async def enough() -> None:
            async with self._arrived:
                await self._arrived.wait_for(lambda: len(self.received) >= count)

        await asyncio.wait_for(enough(), within)
        return self.received

    def at(self, path: str) -> list[tuple[str, Any, float]]:
        return [r for r in self.received if r[0] == path]


@pytest_asyncio.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    app = web.Application()
    app.router.add_post("/{tail:.*}", found.handle)
    async with loopback_server(app) as url:
        found.url = f"{url}/hook"
        yield found


async def call(session, provider, x: str, caller: str = "13900000001") -> None:
    async with session.post(f"{provider.url}/toy/call", json={"caller": caller, "x": x}) as response:
        assert response.status == 200


async def test_a_call_is_pushed_by_its_dialect_and_to_the_native_webhook(toy, session, receiver):
    provider = await toy(webhook_url=receiver.url)
    [x] = numbers(provider, 1)
    await call(session, provider, x)
    await receiver.wait_for(2)
    [(_, toy_body, _)] = receiver.at("/hook/toy")
    [(_, native_body, _)] = receiver.at("/hook")
    assert toy_body == {"call": "call_00000001"}
    assert native_body["event"] == "call" and native_body["data"]["x"] == x
    await provider.pusher.drain()
    assert provider.pusher.counts["delivered"] == 2


async def test_a_failed_push_is_retried_with_backoff_on_the_loop_clock(toy, session, receiver):
    provider = await toy(webhook_url=receiver.url)
    [x] = numbers(provider, 1)
    await add_rule(session, provider, {"match": {"dialect": "toy"}, "action": {"kind": "drop"}})  # one target only
    receiver.failures = 2
    started = asyncio.get_running_loop().time()
    await call(session, provider, x)
    [(_, body, arrived)] = await receiver.wait_for(1)
    assert body["event"] == "call"
    assert arrived - started == pytest.approx(0.5 + 1.0, abs=0.05)  # backoff 0.5 s, then 1 s
    await provider.pusher.drain()
    [delivery] = [d for d in provider.pusher.deliveries() if d.result == "delivered"]
    assert delivery.attempts == 3 and provider.pusher.counts["retried"] == 2


async def test_a_push_that_never_succeeds_is_counted_as_failed(toy, session, receiver):
    provider = await toy(webhook_url=receiver.url)
    [x] = numbers(provider, 1)
    await add_rule(session, provider, {"match": {"dialect": "toy"}, "action": {"kind": "drop"}})
    receiver.failures = 1000
    await call(session, provider, x)
    await provider.pusher.drain()
    assert receiver.received == []
    assert provider.pusher.counts["failed"] == 1
    async with session.get(f"{provider.admin_url}/push") as response:
        status = await response.json()
    assert status["failed"] == 1
    assert [d["attempts"] for d in status["deliveries"] if d["result"] == "failed"] == [provider.pusher.max_attempts]


async def test_drop(toy, session, receiver):
    provider = await toy(webhook_url=receiver.url)
    [x] = numbers(provider, 1)
    await add_rule(session, provider, {"match": {"dialect": "toy", "operation": "push:call"},
                                       "action": {"kind": "drop"}})
    await call(session, provider, x)
    await provider.pusher.drain()
    assert [path for path, _, _ in receiver.received] == ["/hook"]
    assert provider.pusher.counts["dropped"] == 1
    outbound = [e for e in provider.journal.entries() if e.direction == "outbound"]
    assert sorted((e.dialect, e.operation, e.fault, e.status) for e in outbound) == [
        ("native", "push:call", None, 204), ("toy", "push:call", "drop", None)]


async def test_duplicate(toy, session, receiver):
    provider = await toy(webhook_url=receiver.url)
    [x] = numbers(provider, 1)
    await add_rule(session, provider, {"match": {"operation": "push:call", "dialect": "toy"},
                                       "action": {"kind": "duplicate", "copies": 3}})
    await call(session, provider, x)
    await provider.pusher.drain()
    assert [body for _, body, _ in receiver.at("/hook/toy")] == [{"call": "call_00000001"}] * 3
    assert len(receiver.at("/hook")) == 1


async def test_delay(toy, session, receiver):
    provider = await toy(webhook_url=receiver.url)
    [x] = numbers(provider, 1)
    await add_rule(session, provider, {"match": {"operation": "push:call", "dialect": "native"},
                                       "action": {"kind": "delay", "seconds": 20}})
    started = asyncio.get_running_loop().time()
    await call(session, provider, x)
    await receiver.wait_for(2)
    [(_, _, toy_at)] = receiver.at("/hook/toy")
    [(_, _, native_at)] = receiver.at("/hook")
    assert toy_at - started < 1
    assert native_at - started == pytest.approx(20, abs=0.05)


async def test_reorder_delivers_a_message_after_its_successor(toy, session, receiver):
    provider = await toy(webhook_url=receiver.url)
    [x] = numbers(provider, 1)
    await add_rule(session, provider, {"match": {"dialect": "native"}, "action": {"kind": "drop"}})
    await add_rule(session, provider, {"match": {"operation": "push:call", "dialect": "toy"},
                                       "action": {"kind": "reorder"}, "when": {"nth": 1}})
    await call(session, provider, x)
    await call(session, provider, x)
    await receiver.wait_for(2)
    assert [body["call"] for _, body, _ in receiver.received] == ["call_00000002", "call_00000001"]


async def test_reorder_without_a_successor_goes_out_after_its_hold(toy, session, receiver):
    provider = await toy(webhook_url=receiver.url)
    [x] = numbers(provider, 1)
    await add_rule(session, provider, {"match": {"dialect": "native"}, "action": {"kind": "drop"}})
    await add_rule(session, provider, {"match": {"operation": "push:call"}, "action": {"kind": "reorder",
                                                                                        "seconds": 7}})
    started = asyncio.get_running_loop().time()
    await call(session, provider, x)
    [(_, _, arrived)] = await receiver.wait_for(1)
    assert arrived - started == pytest.approx(7, abs=0.05)


async def test_expiry_is_pushed_on_time_without_traffic(toy, receiver):
    provider = await toy(webhook_url=receiver.url)
    [x] = numbers(provider, 1)
    loop = asyncio.get_running_loop()
    started = loop.time()
    provider.ledger.create_binding("XB", x=x, b="13800000001", expires_at=provider.ledger.clock.now() + 30)
    provider.state.bindings_changed.set()  # what every request does; here the ledger was called directly
    [(_, body, arrived)] = await receiver.wait_for(1)
    assert body["event"] == "binding_expired" and body["data"]["x"] == x
    assert arrived - started == pytest.approx(30, abs=0.05)
    assert provider.ledger.bindings(x=x) == []


async def test_expiry_after_a_request_rearms_the_sweeper(toy, session, receiver):
    provider = await toy(webhook_url=receiver.url)
    x1, x2 = numbers(provider, 2)
    provider.ledger.create_binding("XB", x=x1, b="13800000001", expires_at=provider.ledger.clock.now() + 100)
    provider.state.bindings_changed.set()
    await asyncio.sleep(1)
    # A binding made during a (non-GET) request: its earlier expiry is armed without waiting for the later one.
    provider.ledger.create_binding("XB", x=x2, b="13800000002", expires_at=provider.ledger.clock.now() + 10)
    await add_rule(session, provider, {"match": {"operation": "push:call"}, "action": {"kind": "drop"}})
    await call(session, provider, x1)
    started = asyncio.get_running_loop().time()
    [(_, body, arrived)] = await receiver.wait_for(1)
    assert body["data"]["x"] == x2
    assert arrived - started == pytest.approx(10, abs=0.05)
