"""The platform under the native dialect and through the pytest fixture users get (`pstnsim_provider`)."""

from __future__ import annotations

import aiohttp
import pytest

from simulator.server import Provider


async def test_the_fixture_gives_a_started_seeded_provider(pstnsim_provider, pstnsim_seed):
    assert isinstance(pstnsim_provider, Provider)
    assert pstnsim_provider.url.startswith("http://127.0.0.1:")
    assert pstnsim_provider.config.seed == pstnsim_seed and pstnsim_provider.config.pool.seed == pstnsim_seed
    async with aiohttp.ClientSession() as session, session.get(f"{pstnsim_provider.url}/v1/numbers") as response:
        assert response.status == 200


async def test_the_factory_starts_independent_providers(pstnsim_provider_factory):
    first = await pstnsim_provider_factory(seed=1)
    second = await pstnsim_provider_factory(seed=1)
    assert first.port != second.port
    first.ledger.create_binding("XB", b="13800000001")
    assert second.ledger.bindings() == []


async def test_ghost_success_on_a_native_create(pstnsim_provider):
    provider = pstnsim_provider
    provider.faults.add({"match": {"dialect": "native", "operation": "create_binding"},
                         "action": {"kind": "ghost_success", "status": 503}, "when": {"first": 1}})
    x = provider.ledger.numbers()[0].x
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{provider.url}/v1/bindings", json={"mode": "XB", "x": x, "b": "13800000001"}) as r:
            assert r.status == 503
        async with session.get(f"{provider.url}/v1/bindings", params={"x": x}) as response:
            listed = await response.json()
        # The client saw a failure, yet the provider holds the binding: a blind retry would now conflict.
        async with session.post(f"{provider.url}/v1/bindings", json={"mode": "XB", "x": x, "b": "13800000001"}) as r:
            assert r.status == 409
    assert [b.x for b in provider.ledger.bindings()] == [x]
    assert [b["x"] for b in listed["bindings"]] == [x]
    faults = [(e.operation, e.fault) for e in provider.journal.entries()]
    assert faults[0] == ("create_binding", "ghost_success:503")


@pytest.mark.parametrize("path", ["/v1/bindings", "/"])
async def test_an_oversize_body_is_413_on_every_endpoint_and_changes_nothing(pstnsim_provider, path):
    big = b'{"mode": "XB", "b": "13800000001", "pad": "' + b"x" * pstnsim_provider.config.max_body_bytes + b'"}'
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{pstnsim_provider.url}{path}", data=big,
                                headers={"Content-Type": "application/json"}) as response:
            assert response.status == 413
            assert (await response.json())["code"] == "PAYLOAD_TOO_LARGE"
    assert pstnsim_provider.ledger.bindings() == []


async def test_a_ghost_success_then_a_retry_with_the_same_idempotency_key_gets_the_first_result(pstnsim_provider):
    """Faults wrap the dialect: the idempotency store kept the applied result the client never saw."""
    provider = pstnsim_provider
    provider.faults.add({"match": {"operation": "create_binding"}, "action": {"kind": "ghost_success", "then": "reset"},
                         "when": {"first": 1}})
    x = provider.ledger.numbers()[0].x
    body = {"mode": "XB", "x": x, "b": "13800000001"}
    headers = {"Idempotency-Key": "bind-once"}
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientOSError):
            async with session.post(f"{provider.url}/v1/bindings", json=body, headers=headers):
                pass
        async with session.post(f"{provider.url}/v1/bindings", json=body, headers=headers) as response:
            assert response.status == 201
            replayed = await response.json()
    [binding] = provider.ledger.bindings()
    assert replayed["binding_id"] == binding.binding_id


def test_ledger_events_from_another_thread_are_pushed_from_the_providers_loop():
    """The vendor SDK tests run the provider in a thread and touch its ledger from the test thread."""
    import asyncio
    import threading

    from aiohttp import web

    from simulator.config import ProviderConfig

    arrived: list[dict] = []
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    got_one = threading.Event()

    async def hook(request: web.Request) -> web.Response:
        arrived.append(await request.json())
        got_one.set()
        return web.Response(status=204)

    async def start() -> tuple[web.AppRunner, Provider]:
        app = web.Application()
        app.router.add_post("/hook", hook)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        provider = Provider(ProviderConfig(webhook_url=f"http://127.0.0.1:{port}/hook"))
        await provider.start()
        return runner, provider

    runner, provider = asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    try:
        x = provider.ledger.numbers()[0].x
        provider.ledger.create_binding("XB", x=x, b="13800000001")
        provider.ledger.place_call("13900000001", x)  # from this thread, not the provider's
        assert got_one.wait(10)
        assert arrived[0]["event"] == "call"
    finally:
        asyncio.run_coroutine_threadsafe(provider.stop(), loop).result(10)
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
