"""Alerts with a broker: two replicas on one database never post one alert at the same time (it is taken in
the database for a while, and kept by renewing it while a sink keeps failing), and an alert whose poster died
is posted by another replica once that ran out."""

from __future__ import annotations

import asyncio
import random
from typing import Any, Awaitable, Callable

import aiohttp
from aiohttp import web

from binding_core.alerts import WebhookSink
from binding_core.app import Core
from binding_core.config import BrokerSettings, CoreConfig, RetrySettings, WorkerSettings

DEADLINE = 30.0


async def poll(predicate: Callable[[], Awaitable[bool] | bool], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE
    while True:
        result = predicate()
        if await result if asyncio.iscoroutine(result) else result:
            return
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def test_an_alert_is_posted_by_one_replica_at_a_time_and_by_another_after_its_poster_died(
        pstnsim_postgres_url, pstnsim_rabbitmq_url, pstnsim_broker_namespace, pstnsim_provider_factory):
    provider = await pstnsim_provider_factory()
    [x] = [n.x for n in provider.ledger.numbers()][:1]
    provider.faults.add({"match": {"operation": "create_binding", "x": x}, "action": {"kind": "status", "status": 503}})
    posts: list[dict[str, Any]] = []

    async def broken_webhook(request: web.Request) -> web.Response:
        posts.append(await request.json())
        return web.Response(status=500)

    hook = web.Application()
    hook.router.add_post("/alerts", broken_webhook)
    runner = web.AppRunner(hook)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    hook_url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/alerts"  # type: ignore[union-attr]
    # The first failed attempt alerts; the operation then keeps retrying through the broker.
    config = CoreConfig(retry=RetrySettings(max_attempts=1000, base_delay=0.2, max_delay=0.5, alert_threshold=1),
                        worker=WorkerSettings(lease=1.0, poll_interval=0.1),
                        broker=BrokerSettings(url=pstnsim_rabbitmq_url, namespace=pstnsim_broker_namespace))
    poster = await Core(config, provider_url=provider.url, db_path=pstnsim_postgres_url, rng=random.Random("poster"),
                        sinks=[WebhookSink(hook_url, 1.0)]).start()
    other = await Core(config, provider_url=provider.url, db_path=pstnsim_postgres_url,
                       rng=random.Random("other")).start()
    try:
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{poster.url}/v1/numbers/{x}/xb", json={"b": "13800000001"}) as response:
                assert response.status == 202
                op_id = (await response.json())["operation_id"]
        # The poster's webhook fails, so it keeps the alert and retries it (after 1 s, then 2 s): meanwhile
        # the other replica looks for undelivered alerts every 0.1 s and must leave this one alone.
        await poll(lambda: len(posts) >= 2, "the poster to retry its webhook")
        assert [a["operation_id"] for a in poster.alerts] == [op_id]
        assert other.alerts == []
        await poster.abort()  # dies with the alert undelivered
        await poll(lambda: len(other.alerts) == 1, "the other replica to post the alert once its poster died")
        assert other.alerts[0]["operation_id"] == op_id
        assert [a["operation_id"] for a in other.store.alerts()] == [op_id]  # one alert, posted again: at least once
        await poll(lambda: other.store.undelivered_alerts() == [], "the alert to be marked delivered")
    finally:
        await other.stop()
        await poster.stop()
        await runner.cleanup()
