"""Finding 7 of issue 11: a provider that refuses the core's credentials (a wrong secret in the core's
config, a gateway's 401) is an operator's problem. Over every dialect: the operation's alert is raised at
once, the operation stays retryable (pending, attempts not used up, never settled NOT_BIND as "refused"),
/health says degraded and why; once the credentials work the bind completes and /health is ok again."""

from __future__ import annotations

import asyncio
import dataclasses
import random

import pytest
from aiohttp import web

from binding_core.app import Core
from binding_core.clock import LoopClock
from binding_core.config import GraySettings, ProviderSettings
from simulator.clock import FIXED_EPOCH

from .conftest import core_config

pytestmark = pytest.mark.looptime

B = "13800000001"
WRONG = {
    "aliyun": {"dialect": "aliyun", "aliyun_access_key_secret": "not-the-secret"},
    "tencent": {"dialect": "tencent", "tencent_secret_key": "not-the-secret"},
    "tencent-app": {"dialect": "tencent", "tencent_biz_app_id": "not-our-app"},
}


async def _health(w) -> dict:
    status, body = await w.call("GET", "/health")
    assert status == 200
    return body


async def _restart_with(w, config, provider_url: str | None = None) -> None:
    """The operator fixes the config and restarts the core on the same database."""
    await w.core.stop()
    w.core = await Core(config, provider_url=provider_url or w.provider.url, db_path=w.db_path, clock=LoopClock(epoch=FIXED_EPOCH),
                        rng=random.Random("fixed")).start()


async def _refused_then_alerted(w, x: str) -> dict:
    status, body = await w.call("POST", f"/v1/numbers/{x}/xb", json={"b": B})
    assert status == 202, body
    op_id = body["operation_id"]
    await asyncio.sleep(30)  # virtual: several retries' worth
    status, op = await w.call("GET", f"/v1/operations/{op_id}")
    assert op["state"] == "pending" and op["attempts"] == 0, op  # retryable, nothing used up
    assert "authentication refused" in op["last_error"]
    assert [a["operation_id"] for a in w.core.alerts] == [op_id]  # at once, and once
    health = await _health(w)
    assert health["status"] == "degraded"
    assert "credentials" in health["problems"][0]
    assert (await w.view(x))["xb"]["status"] == "OPERATION"
    return op


@pytest.mark.parametrize("case", sorted(WRONG))
async def test_a_wrong_vendor_credential_alerts_at_once_and_the_bind_completes_once_fixed(world, case) -> None:
    wrong = core_config(provider=ProviderSettings(timeout=3.0, **WRONG[case]))
    w = await world(config=wrong)
    [x] = w.numbers(1)
    await _refused_then_alerted(w, x)
    assert w.provider_bindings(x) == []

    fixed = dataclasses.replace(wrong.provider, **{k: v for k, v in dataclasses.asdict(ProviderSettings()).items()
                                                   if k in WRONG[case] and k != "dialect"})
    await _restart_with(w, wrong.replace(provider=fixed))
    await w.settle()
    assert (await w.view(x))["xb"]["status"] == "BIND"
    w.assert_agrees(x)
    assert (await _health(w))["status"] == "ok"


async def test_a_gateway_401_in_front_of_the_native_api_alerts_and_retries_until_fixed(world) -> None:
    """A team's gateway in front of the provider refuses the core's (missing) token: 401 on every call."""

    async def refuse(request: web.Request) -> web.Response:
        return web.json_response({"code": "UNAUTHORIZED", "message": "bearer token required"}, status=401)

    gateway = web.Application()
    gateway.router.add_route("*", "/{tail:.*}", refuse)
    runner = web.AppRunner(gateway)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        w = await world()
        [x] = w.numbers(1)
        gateway_url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
        await _restart_with(w, w.core.config, provider_url=gateway_url)
        await _refused_then_alerted(w, x)
        await _restart_with(w, w.core.config)  # pointed at the provider itself again
        await w.settle()
        assert (await w.view(x))["xb"]["status"] == "BIND"
        w.assert_agrees(x)
        assert (await _health(w))["status"] == "ok"
        assert len(w.core.alerts) == 0  # a new process: the alert was delivered by the first one
    finally:
        await runner.cleanup()


async def test_the_old_path_answers_502_provider_auth_failed_and_alerts(world) -> None:
    config = core_config(provider=ProviderSettings(timeout=3.0, **WRONG["aliyun"]), gray=GraySettings(all=False))
    w = await world(config=config)
    [x] = w.numbers(1)
    status, body = await w.call("POST", f"/v1/numbers/{x}/xb", json={"b": B})
    assert (status, body["code"]) == (502, "PROVIDER_AUTH_FAILED"), body
    assert [a["operation_id"] for a in w.core.alerts] == [body["operation_id"]]
    assert (await w.view(x))["xb"]["status"] == "NOT_BIND"  # nothing was done: the caller may try again
    assert (await _health(w))["status"] == "degraded"
