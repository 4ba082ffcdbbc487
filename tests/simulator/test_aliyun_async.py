"""The async Tea client in the test's own loop with the provider, plus what other parts see of Aliyun traffic:
the native API, the admin ledger and journal, and call reports pushed to the account's report URL."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from alibabacloud_dyplsapi20170525 import models
from alibabacloud_dyplsapi20170525.client import Client
from alibabacloud_tea_openapi import exceptions as tea_errors
from alibabacloud_tea_openapi import models as open_api
from darabonba.exceptions import UnretryableException

from simulator.config import AliyunCredentials
from simulator.numbers import PoolSpec

POOL_KEY = "FC100000000000001"
A, B, B2, C = "13800000001", "13900000002", "13900000003", "13700000004"
BEIJING = timezone(timedelta(hours=8))
SMALL_POOL = PoolSpec(seed=5, cities=("Beijing", "Shanghai"), per_city=2, stock_per_city=2)


def snake(action: str) -> str:
    return {"BindAXBCall": "bind_axbcall", "BindXB": "bind_xb", "UnBindXB": "un_bind_xb", "UnBindAXB": "un_bind_axb",
            "BindAxb": "bind_axb", "BindAxn": "bind_axn", "QuerySubsId": "query_subs_id"}.get(
        action, "".join(f"_{c.lower()}" if c.isupper() else c for c in action).lstrip("_"))


class AsyncApi:
    """The vendor's async client, unmodified but for its endpoint; returns response bodies as dicts."""

    def __init__(self, endpoint: str, *, read_timeout: int = 2000, secret: str = "pstnsim-secret") -> None:
        self.client = Client(open_api.Config(access_key_id="pstnsim-ak", access_key_secret=secret, endpoint=endpoint,
                                             protocol="http", read_timeout=read_timeout, connect_timeout=1000))

    async def __call__(self, action: str, **params: Any) -> dict:
        request = getattr(models, f"{action}Request")().from_map(params)
        response = await getattr(self.client, f"{snake(action)}_async")(request)
        return response.body.to_map()


@pytest.fixture
async def provider(pstnsim_provider_factory):
    # epoch=None: the provider's clock reads wall time, as the SDK's signing timestamps do.
    return await pstnsim_provider_factory(epoch=None, pool=SMALL_POOL)


def endpoint(provider) -> str:
    return f"127.0.0.1:{provider.port}"


def expiration(provider, hours: float = 1.0) -> str:
    at = provider.ledger.clock.now() + hours * 3600
    return datetime.fromtimestamp(at, tz=BEIJING).strftime("%Y-%m-%d %H:%M:%S")


async def test_every_action_through_the_async_client(provider):
    api = AsyncApi(endpoint(provider))
    x = (await api("BuySecretNo", PoolKey=POOL_KEY, City="Shanghai", SpecId=2))["SecretBuyInfoDTO"]["SecretNo"]
    remain = (await api("QuerySecretNoRemain", City="all", SpecId=2))["SecretRemainDTO"]
    assert {r["City"]: r["Amount"] for r in remain["RemainDTOList"]["remainDTO"]} == {"Beijing": 2, "Shanghai": 1}
    assert (await api("LockSecretNo", PoolKey=POOL_KEY, SecretNo=x))["Code"] == "OK"
    assert (await api("QuerySecretNoDetail", PoolKey=POOL_KEY, SecretNo=x))["SecretNoInfoDTO"]["SecretStatus"] == 2
    assert (await api("UnlockSecretNo", PoolKey=POOL_KEY, SecretNo=x))["Code"] == "OK"

    subs = (await api("BindAxb", PoolKey=POOL_KEY, PhoneNoA=A, PhoneNoB=B, PhoneNoX=x,
                      Expiration=expiration(provider)))["SecretBindDTO"]["SubsId"]
    assert (await api("QuerySubsId", PoolKey=POOL_KEY, PhoneNoX=x))["SubsId"] == subs
    new_expiry = expiration(provider, hours=2)
    assert (await api("UpdateSubscription", PoolKey=POOL_KEY, SubsId=subs, PhoneNoX=x, OperateType="updateExpire",
                      Expiration=new_expiry))["Code"] == "OK"
    detail = (await api("QuerySubscriptionDetail", PoolKey=POOL_KEY, SubsId=subs, PhoneNoX=x))["SecretBindDetailDTO"]
    assert (detail["ExpireDate"], detail["Status"]) == (new_expiry, 1)
    assert (await api("UnbindSubscription", PoolKey=POOL_KEY, SubsId=subs, SecretNo=x))["Code"] == "OK"

    axn = (await api("BindAxn", PoolKey=POOL_KEY, PhoneNoA=A, PhoneNoB=B, PhoneNoX=x,
                     Expiration=expiration(provider)))["SecretBindDTO"]["SubsId"]
    assert [provider.ledger.place_call(n, x).callee for n in (A, C)] == [B, A]
    assert (await api("UnbindSubscription", PoolKey=POOL_KEY, SubsId=axn, SecretNo=x))["Code"] == "OK"

    auth = (await api("BindXB", CustomerPoolKey=POOL_KEY, ReqId="xb-1", TelX=x, TelB=B))["Data"]["AuthId"]
    bind = (await api("BindAXBCall", CustomerPoolKey=POOL_KEY, ReqId="axb-1", AuthId=auth, TelA=A,
                      Expiration=120))["Data"]["BindId"]
    assert provider.ledger.binding(bind).expires_at == pytest.approx(provider.ledger.clock.now() + 120, abs=2)
    assert (await api("UnBindAXB", CustomerPoolKey=POOL_KEY, ReqId="axb-2", BindId=bind))["Success"] is True
    assert (await api("UnBindXB", CustomerPoolKey=POOL_KEY, ReqId="xb-2", AuthId=auth, TelX=x))["Success"] is True
    assert (await api("ReleaseSecretNo", PoolKey=POOL_KEY, SecretNo=x))["Code"] == "OK"
    assert x not in [n.x for n in provider.ledger.numbers(POOL_KEY)]


async def test_async_client_surfaces_business_and_gateway_errors(provider):
    api = AsyncApi(endpoint(provider))
    body = await api("UnbindSubscription", PoolKey=POOL_KEY, SubsId="bnd_99999999", SecretNo=A)
    assert body["Code"] == "isv.SUBS_NOT_EXIST"
    with pytest.raises(tea_errors.ClientException) as refused:
        await AsyncApi(endpoint(provider), secret="wrong")("QuerySecretNoRemain", City="Beijing", SpecId=1)
    assert (refused.value.status_code, refused.value.code) == (400, "SignatureDoesNotMatch")


async def test_async_client_under_injected_faults(provider):
    api = AsyncApi(endpoint(provider), read_timeout=500)
    rule = {"match": {"dialect": "aliyun", "operation": "QuerySecretNoRemain"}, "when": {"first": 1}}
    provider.faults.add({**rule, "id": "throttle", "action": {"kind": "status", "status": 429, "retry_after": 2}})
    with pytest.raises(tea_errors.ThrottlingException) as throttled:
        await api("QuerySecretNoRemain", City="Beijing", SpecId=1)
    assert (throttled.value.code, throttled.value.retry_after) == ("Throttling.User", 2)
    provider.faults.replace([{**rule, "id": "down", "action": {"kind": "status", "status": 502}}])
    with pytest.raises(tea_errors.ServerException) as down:
        await api("QuerySecretNoRemain", City="Beijing", SpecId=1)
    assert down.value.status_code == 502
    provider.faults.replace([{**rule, "id": "hang", "action": {"kind": "timeout", "seconds": 3}}])
    with pytest.raises(UnretryableException) as hung:
        await api("QuerySecretNoRemain", City="Beijing", SpecId=1)
    assert "Timeout on reading data from socket" in str(hung.value.inner_exception)
    provider.faults.clear()
    assert (await api("QuerySecretNoRemain", City="Beijing", SpecId=1))["Code"] == "OK"


async def test_a_binding_made_over_aliyun_is_one_provider_wide(provider):
    api = AsyncApi(endpoint(provider))
    made = (await api("BindAxb", PoolKey=POOL_KEY, PhoneNoA=A, PhoneNoB=B, Expiration=expiration(provider)))
    subs, x = made["SecretBindDTO"]["SubsId"], made["SecretBindDTO"]["SecretNo"]
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{provider.url}/v1/bindings", params={"x": x}) as r:
            native = (await r.json())["bindings"]
        assert [(b["binding_id"], b["mode"], b["a"], b["b"]) for b in native] == [(subs, "AXB", A, B)]
        async with http.get(f"{provider.url}/_admin/ledger") as r:
            ledger = await r.json()
        assert [b["binding_id"] for b in ledger["bindings"] if b["x"] == x] == [subs]
        # ...and a native delete is what an Aliyun query then reports.
        async with http.delete(f"{provider.url}/v1/bindings/{subs}") as r:
            assert r.status in (200, 204)
        gone = await api("QuerySubscriptionDetail", PoolKey=POOL_KEY, SubsId=subs, PhoneNoX=x)
        assert gone["Code"] == "isv.SUBS_NOT_EXIST"
        async with http.get(f"{provider.url}/_admin/journal", params={"dialect": "aliyun"}) as r:
            entries = (await r.json())["entries"]
    assert [(e["operation"], e["x"], e["status"]) for e in entries] == [
        ("BindAxb", x, 200), ("QuerySubscriptionDetail", x, 200)]
    assert entries[0]["a"] == A and entries[0]["b"] == B
    assert "pstnsim-secret" not in str(entries)


async def test_call_reports_are_pushed_as_json_arrays(pstnsim_provider_factory):
    received: list[list[dict]] = []
    arrived = asyncio.Event()

    async def receive(request: web.Request) -> web.Response:
        received.append(await request.json())
        if len(received) >= 5:
            arrived.set()
        return web.json_response({"code": 0, "msg": "接收成功"})

    receiver = web.Application()
    receiver.router.add_post("/reports", receive)
    runner = web.AppRunner(receiver)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/reports"
    try:
        provider = await pstnsim_provider_factory(epoch=None, pool=SMALL_POOL,
                                                  aliyun=(AliyunCredentials(report_url=url),))
        api = AsyncApi(endpoint(provider))
        made = (await api("BindAxb", PoolKey=POOL_KEY, PhoneNoA=A, PhoneNoB=B, OutId="order-7",
                          IsRecordingEnabled=True, Expiration=expiration(provider)))["SecretBindDTO"]
        x = made["SecretNo"]
        provider.ledger.place_call(B, x)  # B calls back the customer: connected, recorded
        provider.ledger.place_call(C, x)  # a stranger: intercepted
        await asyncio.wait_for(arrived.wait(), 5)
    finally:
        await runner.cleanup()
    by_kind: dict[str, list[dict]] = {}
    for batch in received:
        assert isinstance(batch, list) and len(batch) == 1
        record = batch[0]
        kind = "SecretRecording" if "subs_id" in record else ("SecretReport" if "release_time" in record
                                                               else "SecretStartReport")
        by_kind.setdefault(kind, []).append(record)
    assert sorted((k, len(v)) for k, v in by_kind.items()) == [
        ("SecretRecording", 1), ("SecretReport", 2), ("SecretStartReport", 2)]
    connected = next(r for r in by_kind["SecretReport"] if r["control_type"] == "CONTINUE")
    assert (connected["phone_no"], connected["peer_no"], connected["secret_no"], connected["call_type"],
            connected["out_id"], connected["sub_id"]) == (A, B, x, 1, "order-7", made["SubsId"])
    assert connected["release_cause"] == 16
    stranger = next(r for r in by_kind["SecretReport"] if r["control_type"] == "REJECT")
    assert (stranger["phone_no"], stranger["call_type"], stranger["start_time"]) == (
        C, 4, stranger["release_time"])
    assert by_kind["SecretRecording"][0]["subs_id"] == made["SubsId"]
