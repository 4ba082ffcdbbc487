"""The unmodified Aliyun SDKs against pstnsim: the Tea client (ACS3 and v2/RPC signing) and the old core SDK.

The SDKs are synchronous (requests), so the provider runs in a background
thread with its own event loop and real time; SDK timeouts are kept short.
"""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.request
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

import pytest
from aiohttp import web
from alibabacloud_dyplsapi20170525 import models
from alibabacloud_dyplsapi20170525.client import Client
from alibabacloud_tea_openapi import exceptions as tea_errors
from alibabacloud_tea_openapi import models as open_api
from darabonba.exceptions import UnretryableException
from aliyunsdkcore.acs_exception.exceptions import ClientException as CoreClientException
from aliyunsdkcore.acs_exception.exceptions import ServerException as CoreServerException
from aliyunsdkcore.client import AcsClient
from aliyunsdkcore.request import CommonRequest

from simulator.app import LEDGER, create_app
from simulator.clock import FIXED_EPOCH
from simulator.config import ProviderConfig
from simulator.numbers import PoolSpec

POOL_KEY = "FC100000000000001"
A, B, B2, C = "13800000001", "13900000002", "13900000003", "13700000004"
BEIJING = timezone(timedelta(hours=8))
METHODS = {
    "BindAxb": "bind_axb", "BindAxn": "bind_axn", "UpdateSubscription": "update_subscription",
    "UnbindSubscription": "unbind_subscription", "QuerySubscriptionDetail": "query_subscription_detail",
    "QuerySubsId": "query_subs_id", "BindXB": "bind_xb", "UnBindXB": "un_bind_xb", "BindAXBCall": "bind_axbcall",
    "UnBindAXB": "un_bind_axb", "BuySecretNo": "buy_secret_no", "ReleaseSecretNo": "release_secret_no",
    "QuerySecretNoRemain": "query_secret_no_remain", "QuerySecretNoDetail": "query_secret_no_detail",
    "LockSecretNo": "lock_secret_no", "UnlockSecretNo": "unlock_secret_no", "ListXTelephones": "list_xtelephones",
}
SMALL_POOL = PoolSpec(seed=3, cities=("Beijing", "Shanghai"), per_city=2, stock_per_city=2)


class ThreadedProvider:
    """The provider app in a thread with its own loop, for synchronous SDK clients."""

    def __init__(self, config: ProviderConfig) -> None:
        self.config = config
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True, name="pstnsim-aliyun-test")
        self.loop: asyncio.AbstractEventLoop | None = None

    def _serve(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.loop.run_until_complete(self._start())
        self._ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self.runner.cleanup())
        self.loop.close()

    async def _start(self) -> None:
        self.app = create_app(self.config)
        self.runner = web.AppRunner(self.app, shutdown_timeout=1.0)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = self.runner.addresses[0][1]

    def start(self) -> "ThreadedProvider":
        self._thread.start()
        assert self._ready.wait(10), "provider did not start"
        return self

    def stop(self) -> None:
        assert self.loop is not None
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def in_loop(self, fn: Callable[[], Any]) -> Any:
        """Run `fn` on the provider's loop (the ledger is not thread-safe) and return its result."""
        async def run() -> Any:
            return fn()
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(5)

    @property
    def ledger(self):
        return self.app[LEDGER]

    def state(self) -> dict:
        """Numbers, bindings and calls (the ledger snapshot without its clock reading)."""
        snapshot = self.in_loop(self.ledger.snapshot)
        snapshot.pop("now")
        return snapshot

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"http://{self.endpoint}{path}", data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read() or b"null")


@pytest.fixture
def provider_factory():
    started: list[ThreadedProvider] = []

    def start(**overrides: Any) -> ThreadedProvider:
        config = replace(ProviderConfig(seed=3, pool=SMALL_POOL), **overrides)
        started.append(ThreadedProvider(config).start())
        return started[-1]

    yield start
    for provider in started:
        provider.stop()


@pytest.fixture
def provider(provider_factory) -> ThreadedProvider:
    return provider_factory()


# ---- the clients, as a team would configure them ----------------------------------------------


def tea_client(provider: ThreadedProvider, *, algorithm: str | None = None, secret: str = "pstnsim-secret",
               key: str = "pstnsim-ak", read_timeout: int = 2000) -> Client:
    return Client(open_api.Config(access_key_id=key, access_key_secret=secret, endpoint=provider.endpoint,
                                  protocol="http", signature_algorithm=algorithm, read_timeout=read_timeout,
                                  connect_timeout=1000))


def call_tea(client: Client, action: str, **params: Any) -> dict:
    request = getattr(models, f"{action}Request")().from_map(params)
    return getattr(client, METHODS[action])(request).body.to_map()


def core_client(*, secret: str = "pstnsim-secret", key: str = "pstnsim-ak", timeout: int = 2) -> AcsClient:
    return AcsClient(key, secret, "cn-hangzhou", auto_retry=False, timeout=timeout, connect_timeout=1)


def call_core(client: AcsClient, provider: ThreadedProvider, action: str, method: str = "POST", **params: Any) -> dict:
    request = CommonRequest(domain=provider.endpoint, version="2017-05-25", action_name=action)
    request.set_protocol_type("http")
    request.set_method(method)
    for name, value in params.items():
        request.add_query_param(name, str(value).lower() if isinstance(value, bool) else str(value))
    return json.loads(client.do_action_with_exception(request))


Api = Callable[..., dict]


def api_for(transport: str, provider: ThreadedProvider) -> Api:
    if transport in ("acs3", "v2"):
        client = tea_client(provider, algorithm=None if transport == "acs3" else "v2")
        return lambda action, **p: call_tea(client, action, **p)
    acs = core_client()
    method = transport.split("-")[1].upper()
    return lambda action, **p: call_core(acs, provider, action, method, **p)


def expiration(hours: float = 1.0, *, provider: ThreadedProvider) -> str:
    now = provider.in_loop(provider.ledger.clock.now)
    return datetime.fromtimestamp(now + hours * 3600, tz=BEIJING).strftime("%Y-%m-%d %H:%M:%S")


# ---- every action, through every client -------------------------------------------------------


@pytest.mark.parametrize("transport", ["acs3", "v2", "core-get", "core-post"])
def test_every_action_succeeds_and_changes_the_ledger(provider, transport):
    api = api_for(transport, provider)
    stock = api("QuerySecretNoRemain", City="Beijing", SpecId=1)["SecretRemainDTO"]["Amount"]
    assert stock == 2

    x = api("BuySecretNo", PoolKey=POOL_KEY, City="Beijing", SpecId=1)["SecretBuyInfoDTO"]["SecretNo"]
    assert api("QuerySecretNoRemain", City="Beijing", SpecId=1)["SecretRemainDTO"]["Amount"] == stock - 1
    detail = api("QuerySecretNoDetail", PoolKey=POOL_KEY, SecretNo=x)["SecretNoInfoDTO"]
    assert (detail["SecretStatus"], detail["City"]) == (0, "Beijing")
    assert api("LockSecretNo", PoolKey=POOL_KEY, SecretNo=x)["Code"] == "OK"
    assert api("QuerySecretNoDetail", PoolKey=POOL_KEY, SecretNo=x)["SecretNoInfoDTO"]["SecretStatus"] == 2
    assert api("UnlockSecretNo", PoolKey=POOL_KEY, SecretNo=x)["Code"] == "OK"

    bound = api("BindAxb", PoolKey=POOL_KEY, PhoneNoA=A, PhoneNoB=B, PhoneNoX=x, OutId="order-1",
                Expiration=expiration(provider=provider), IsRecordingEnabled=True)
    assert bound["Code"] == "OK" and bound["SecretBindDTO"]["SecretNo"] == x
    subs_id = bound["SecretBindDTO"]["SubsId"]
    shown = api("QuerySubscriptionDetail", PoolKey=POOL_KEY, SubsId=subs_id, PhoneNoX=x)["SecretBindDetailDTO"]
    assert (shown["PhoneNoA"], shown["PhoneNoB"], shown["Status"], shown["NeedRecord"]) == (A, B, 1, True)
    assert api("QuerySubsId", PoolKey=POOL_KEY, PhoneNoX=x)["SubsId"] == subs_id
    assert api("QuerySecretNoDetail", PoolKey=POOL_KEY, SecretNo=x)["SecretNoInfoDTO"]["SecretStatus"] == 1
    call = provider.in_loop(lambda: provider.ledger.place_call(A, x))
    assert (call.callee, call.shown_caller) == (B, x)

    assert api("UpdateSubscription", PoolKey=POOL_KEY, SubsId=subs_id, PhoneNoX=x, OperateType="updateNoB",
               PhoneNoB=B2)["Code"] == "OK"
    assert api("QuerySubscriptionDetail", ProductType="AXB_170", SubsId=subs_id,
               PhoneNoX=x)["SecretBindDetailDTO"]["PhoneNoB"] == B2
    assert api("UnbindSubscription", PoolKey=POOL_KEY, SubsId=subs_id, SecretNo=x)["Code"] == "OK"
    gone = api("QuerySubscriptionDetail", PoolKey=POOL_KEY, SubsId=subs_id, PhoneNoX=x)
    assert gone["Code"] == "isv.SUBS_NOT_EXIST"

    axn = api("BindAxn", PoolKey=POOL_KEY, PhoneNoA=A, PhoneNoX=x, Expiration=expiration(provider=provider))
    assert provider.in_loop(lambda: provider.ledger.place_call(C, x)).callee == A
    assert api("UnbindSubscription", PoolKey=POOL_KEY, SubsId=axn["SecretBindDTO"]["SubsId"], SecretNo=x)["Code"] == "OK"

    work = api("BindXB", CustomerPoolKey=POOL_KEY, ReqId="req-xb-1", TelX=x, TelB=B)
    assert (work["Code"], work["Success"], work["Data"]["TelX"]) == ("0000", True, x)
    auth_id = work["Data"]["AuthId"]
    again = api("BindXB", CustomerPoolKey=POOL_KEY, ReqId="req-xb-1", TelX=x, TelB=B)
    assert again["Data"]["AuthId"] == auth_id  # ReqId deduplicates
    call_leg = api("BindAXBCall", CustomerPoolKey=POOL_KEY, ReqId="req-axb-1", AuthId=auth_id, TelA=A, Expiration=600)
    assert call_leg["Code"] == "0000"
    routes = provider.in_loop(lambda: [provider.ledger.place_call(n, x).callee for n in (A, B, C)])
    assert routes == [B, A, B]  # the hard case: XB and AXB on one X
    unbound = api("UnBindAXB", CustomerPoolKey=POOL_KEY, ReqId="req-axb-2", BindId=call_leg["Data"]["BindId"])
    assert (unbound["Code"], unbound["Data"]["Success"]) == ("0000", True)
    assert api("UnBindXB", CustomerPoolKey=POOL_KEY, ReqId="req-xb-2", AuthId=auth_id, TelX=x)["Success"] is True
    assert provider.in_loop(lambda: provider.ledger.bindings(x=x)) == []

    assert api("ReleaseSecretNo", PoolKey=POOL_KEY, SecretNo=x)["Code"] == "OK"
    assert api("QuerySecretNoDetail", PoolKey=POOL_KEY, SecretNo=x)["Code"] == "isv.NO_NOT_EXIST"


@pytest.mark.parametrize("transport", ["acs3", "core-get"])
def test_list_x_telephones_pages_through_the_pool(provider, transport):
    api = api_for(transport, provider)
    pool = _pool(provider)
    api("BindXB", CustomerPoolKey=POOL_KEY, ReqId="xb-1", TelX=pool[1], TelB=B)
    first = api("ListXTelephones", CustomerPoolKey=POOL_KEY, ReqId="l1", PageNo=1, PageSize=3)["Data"]
    second = api("ListXTelephones", CustomerPoolKey=POOL_KEY, ReqId="l2", PageNo=2, PageSize=3)["Data"]
    assert first["Total"] == second["Total"] == len(pool) == 4
    rows = first["List"] + second["List"]
    assert [r["Telephone"] for r in rows] == pool
    assert [r["TelephoneStatus"] for r in rows] == ["0", "1", "0", "0"]
    assert "BindTime" in rows[1] and "BindTime" not in rows[0]


# ---- business errors: HTTP 200 with Code, the SDK returns them ------------------------------------


def _pool(provider: ThreadedProvider) -> list[str]:
    return provider.in_loop(lambda: [n.x for n in provider.ledger.numbers(POOL_KEY)])


def _axb(api: Api, provider: ThreadedProvider, a: str = A, b: str = B, x: str | None = None) -> dict:
    params = {"PhoneNoX": x} if x else {}
    return api("BindAxb", PoolKey=POOL_KEY, PhoneNoA=a, PhoneNoB=b, Expiration=expiration(provider=provider),
               **params)["SecretBindDTO"]


def _xb(api: Api, x: str, b: str = B, req: str = "r-xb") -> str:
    return api("BindXB", CustomerPoolKey=POOL_KEY, ReqId=req, TelX=x, TelB=b)["Data"]["AuthId"]


# Each case: (action, a setup that returns the parameters, the code the service answers).
BUSINESS_ERRORS: dict[str, tuple[str, Callable[[Api, ThreadedProvider], dict], str]] = {
    "BindAxb pool exhausted": ("BindAxb", lambda api, p: [_axb(api, p, x=x) for x in _pool(p)] and
                               {"PoolKey": POOL_KEY, "PhoneNoA": A, "PhoneNoB": C,
                                "Expiration": expiration(provider=p)}, "isv.NO_AVAILABLE_NUMBER"),
    "BindAxb A already on X": ("BindAxb", lambda api, p: {
        "PoolKey": POOL_KEY, "PhoneNoA": A, "PhoneNoB": C, "PhoneNoX": _axb(api, p)["SecretNo"],
        "Expiration": expiration(provider=p)}, "isv.BIND_CONFLICT"),
    "BindAxb expiry in the past": ("BindAxb", lambda api, p: {
        "PoolKey": POOL_KEY, "PhoneNoA": A, "PhoneNoB": B, "Expiration": expiration(-1, provider=p)},
        "isv.EXPIRE_DATE_ILLEGAL"),
    "BindAxb expiry within a minute": ("BindAxb", lambda api, p: {
        "PoolKey": POOL_KEY, "PhoneNoA": A, "PhoneNoB": B, "Expiration": expiration(0.5 / 60, provider=p)},
        "isv.EXPIRE_DATE_ILLEGAL"),
    "BindAxb malformed expiry": ("BindAxb", lambda api, p: {
        "PoolKey": POOL_KEY, "PhoneNoA": A, "PhoneNoB": B, "Expiration": "tomorrow"}, "isv.EXPIRE_DATE_ILLEGAL"),
    "BindAxb bad number": ("BindAxb", lambda api, p: {
        "PoolKey": POOL_KEY, "PhoneNoA": "1380000", "PhoneNoB": B, "Expiration": expiration(provider=p)},
        "isv.MOBILE_NUMBER_ILLEGAL"),
    "BindAxb A equals B": ("BindAxb", lambda api, p: {
        "PoolKey": POOL_KEY, "PhoneNoA": A, "PhoneNoB": A, "Expiration": expiration(provider=p)},
        "isv.INVALID_PARAMETERS"),
    "BindAxb unknown pool key": ("BindAxb", lambda api, p: {
        "PoolKey": "FC999", "PhoneNoA": A, "PhoneNoB": B, "Expiration": expiration(provider=p)},
        "isv.POOLKEY_NOT_EXISTS"),
    "BindAxb X not in the pool": ("BindAxb", lambda api, p: {
        "PoolKey": POOL_KEY, "PhoneNoA": A, "PhoneNoB": B, "PhoneNoX": "13512345678",
        "Expiration": expiration(provider=p)}, "isv.FORBIDDEN_ACTION"),
    "BindAxn X already has an XB": ("BindAxn", lambda api, p: {
        "PoolKey": POOL_KEY, "PhoneNoA": A, "PhoneNoX": _pool(p)[0] if _xb(api, _pool(p)[0]) else None,
        "Expiration": expiration(provider=p)}, "isv.BIND_CONFLICT"),
    "UpdateSubscription unknown SubsId": ("UpdateSubscription", lambda api, p: {
        "PoolKey": POOL_KEY, "SubsId": "bnd_99999999", "PhoneNoX": _pool(p)[0], "OperateType": "updateNoB",
        "PhoneNoB": C}, "isv.SUBS_NOT_EXIST"),
    "UpdateSubscription to a taken B": ("UpdateSubscription", lambda api, p: (lambda first, second: {
        "PoolKey": POOL_KEY, "SubsId": second["SubsId"], "PhoneNoX": second["SecretNo"],
        "OperateType": "updateNoB", "PhoneNoB": B})(_axb(api, p, x=_pool(p)[0]), _axb(api, p, a=C, b=B2, x=_pool(p)[0])),
        "isv.BIND_CONFLICT"),
    "UpdateSubscription bad OperateType": ("UpdateSubscription", lambda api, p: (lambda s: {
        "PoolKey": POOL_KEY, "SubsId": s["SubsId"], "PhoneNoX": s["SecretNo"], "OperateType": "updateAll"})(
        _axb(api, p)), "isv.INVALID_PARAMETERS"),
    "UnbindSubscription wrong X": ("UnbindSubscription", lambda api, p: (lambda s: {
        "PoolKey": POOL_KEY, "SubsId": s["SubsId"], "SecretNo": next(x for x in _pool(p) if x != s["SecretNo"])})(
        _axb(api, p)), "isv.SUBS_NOT_EXIST"),
    "QuerySubscriptionDetail unknown": ("QuerySubscriptionDetail", lambda api, p: {
        "PoolKey": POOL_KEY, "SubsId": "bnd_99999999", "PhoneNoX": _pool(p)[0]}, "isv.SUBS_NOT_EXIST"),
    "QuerySubsId no binding": ("QuerySubsId", lambda api, p: {"PoolKey": POOL_KEY, "PhoneNoX": _pool(p)[0]},
                               "isv.SUBS_NOT_EXIST"),
    "QuerySubsId work number only": ("QuerySubsId", lambda api, p: {
        "PoolKey": POOL_KEY, "PhoneNoX": _pool(p)[0] if _xb(api, _pool(p)[0]) else None}, "isv.SUBS_NOT_EXIST"),
    "QuerySubsId unknown number": ("QuerySubsId", lambda api, p: {"PoolKey": POOL_KEY, "PhoneNoX": "13512345678"},
                                   "isv.NO_NOT_EXIST"),
    "BindXB X taken": ("BindXB", lambda api, p: {
        "CustomerPoolKey": POOL_KEY, "ReqId": "r2", "TelX": _pool(p)[0] if _xb(api, _pool(p)[0]) else None,
        "TelB": C}, "isv.BIND_CONFLICT"),
    "UnBindXB unknown AuthId": ("UnBindXB", lambda api, p: {
        "CustomerPoolKey": POOL_KEY, "ReqId": "r2", "AuthId": "bnd_99999999", "TelX": _pool(p)[0]},
        "isv.SUBS_NOT_EXIST"),
    "BindAXBCall unknown AuthId": ("BindAXBCall", lambda api, p: {
        "CustomerPoolKey": POOL_KEY, "ReqId": "r2", "AuthId": "bnd_99999999", "TelA": A, "Expiration": 60},
        "isv.SUBS_NOT_EXIST"),
    "BindAXBCall A already on X": ("BindAXBCall", lambda api, p: (lambda auth: api(
        "BindAXBCall", CustomerPoolKey=POOL_KEY, ReqId="r2", AuthId=auth, TelA=A, Expiration=60) and {
        "CustomerPoolKey": POOL_KEY, "ReqId": "r3", "AuthId": auth, "TelA": A, "Expiration": 60})(
        _xb(api, _pool(p)[0])), "isv.BIND_CONFLICT"),
    "UnBindAXB unknown BindId": ("UnBindAXB", lambda api, p: {
        "CustomerPoolKey": POOL_KEY, "ReqId": "r2", "BindId": "bnd_99999999"}, "isv.SUBS_NOT_EXIST"),
    "BuySecretNo city sold out": ("BuySecretNo", lambda api, p: {
        "PoolKey": POOL_KEY, "City": "Chengdu", "SpecId": 1}, "isv.NO_AVAILABLE_NUMBER"),
    "ReleaseSecretNo still bound": ("ReleaseSecretNo", lambda api, p: {
        "PoolKey": POOL_KEY, "SecretNo": _axb(api, p)["SecretNo"]}, "isv.FORBIDDEN_ACTION"),
    "ReleaseSecretNo not ours": ("ReleaseSecretNo", lambda api, p: {"PoolKey": POOL_KEY, "SecretNo": "13512345678"},
                                 "isv.NO_NOT_EXIST"),
    "QuerySecretNoRemain bad SpecId": ("QuerySecretNoRemain", lambda api, p: {"City": "Beijing", "SpecId": 9},
                                       "isv.INVALID_PARAMETERS"),
    "QuerySecretNoDetail not ours": ("QuerySecretNoDetail", lambda api, p: {
        "PoolKey": POOL_KEY, "SecretNo": "13512345678"}, "isv.NO_NOT_EXIST"),
    "LockSecretNo not ours": ("LockSecretNo", lambda api, p: {"PoolKey": POOL_KEY, "SecretNo": "13512345678"},
                              "isv.NO_NOT_EXIST"),
    "UnlockSecretNo other pool key": ("UnlockSecretNo", lambda api, p: {"PoolKey": "FC999", "SecretNo": _pool(p)[0]},
                                      "isv.POOLKEY_NOT_EXISTS"),
}


@pytest.mark.parametrize("case", list(BUSINESS_ERRORS))
def test_business_errors_come_back_as_200_with_the_service_code(provider, case):
    action, setup, code = BUSINESS_ERRORS[case]
    api = api_for("acs3", provider)
    params = setup(api, provider)
    before = provider.state()
    body = api(action, **params)
    assert body["Code"] == code, body
    assert body["Message"]
    if action in ("BindXB", "UnBindXB", "BindAXBCall", "UnBindAXB"):
        assert body["Success"] is False
    else:
        assert body["RequestId"]
    assert provider.state() == before  # a refusal changes nothing


def test_the_old_core_sdk_also_returns_business_errors_as_a_body(provider):
    body = call_core(core_client(), provider, "QuerySubsId", "GET", PoolKey=POOL_KEY, PhoneNoX=_pool(provider)[0])
    assert body["Code"] == "isv.SUBS_NOT_EXIST"


# ---- gateway errors: 4xx/5xx bodies the SDKs raise ---------------------------------------------------


def test_wrong_secret_is_a_signature_mismatch_in_both_sdks(provider):
    with pytest.raises(tea_errors.ClientException) as tea:
        call_tea(tea_client(provider, secret="wrong"), "QuerySecretNoRemain", City="Beijing", SpecId=1)
    assert (tea.value.status_code, tea.value.code) == (400, "SignatureDoesNotMatch")
    with pytest.raises(tea_errors.ClientException) as v2:
        call_tea(tea_client(provider, secret="wrong", algorithm="v2"), "QuerySecretNoRemain", City="Beijing", SpecId=1)
    assert v2.value.code == "SignatureDoesNotMatch"
    with pytest.raises(CoreServerException) as core:
        call_core(core_client(secret="wrong"), provider, "QuerySecretNoRemain", City="Beijing", SpecId=1)
    assert (core.value.get_http_status(), core.value.get_error_code()) == (400, "SignatureDoesNotMatch")
    # The message carries our string to sign after a ':', where the core SDK looks for it.
    assert core.value.get_error_msg().split(":")[1].startswith("POST&%2F&AccessKeyId%3Dpstnsim-ak")


def test_unknown_access_key_is_refused_with_404(provider):
    with pytest.raises(tea_errors.ClientException) as tea:
        call_tea(tea_client(provider, key="nobody"), "QuerySecretNoRemain", City="Beijing", SpecId=1)
    assert (tea.value.status_code, tea.value.code) == (404, "InvalidAccessKeyId.NotFound")
    with pytest.raises(CoreServerException) as core:
        call_core(core_client(key="nobody"), provider, "QuerySecretNoRemain", "GET", City="Beijing", SpecId=1)
    assert core.value.get_error_code() == "InvalidAccessKeyId.NotFound"


def test_a_stale_timestamp_is_refused(provider_factory):
    # The provider's clock stands at 2026-01-01 while the SDK signs with today's date.
    provider = provider_factory(epoch=FIXED_EPOCH - 86400)
    with pytest.raises(tea_errors.ClientException) as tea:
        call_tea(tea_client(provider), "QuerySecretNoRemain", City="Beijing", SpecId=1)
    assert tea.value.code == "InvalidTimeStamp.Expired"
    with pytest.raises(CoreServerException) as core:
        call_core(core_client(), provider, "QuerySecretNoRemain", City="Beijing", SpecId=1)
    assert core.value.get_error_code() == "InvalidTimeStamp.Expired"


def test_a_reused_nonce_is_refused(provider, monkeypatch):
    from alibabacloud_tea_openapi.utils import Utils

    monkeypatch.setattr(Utils, "get_nonce", staticmethod(lambda: "f" * 32))  # a client replaying its request
    client = tea_client(provider)
    assert call_tea(client, "QuerySecretNoRemain", City="Beijing", SpecId=1)["Code"] == "OK"
    with pytest.raises(tea_errors.ClientException) as replay:
        call_tea(client, "QuerySecretNoRemain", City="Beijing", SpecId=1)
    assert (replay.value.status_code, replay.value.code) == (400, "SignatureNonceUsed")


def test_missing_required_parameter_is_refused_before_the_ledger(provider):
    before = provider.state()
    with pytest.raises(tea_errors.ClientException) as tea:
        call_tea(tea_client(provider), "BindAxb", PoolKey=POOL_KEY, PhoneNoB=B, Expiration=expiration(provider=provider))
    assert (tea.value.status_code, tea.value.code) == (400, "MissingPhoneNoA")
    assert "PhoneNoA" in tea.value.data["Message"]
    with pytest.raises(CoreServerException) as core:
        call_core(core_client(), provider, "BindXB", CustomerPoolKey=POOL_KEY, ReqId="r1", TelX=_pool(provider)[0])
    assert core.value.get_error_code() == "MissingTelB"
    with pytest.raises(CoreServerException) as typed:
        call_core(core_client(), provider, "BuySecretNo", PoolKey=POOL_KEY, City="Beijing", SpecId="one")
    assert (typed.value.get_error_code(), typed.value.get_http_status()) == ("InvalidParameter", 400)
    with pytest.raises(CoreServerException) as unknown:
        call_core(core_client(), provider, "QuerySubsId", PhoneNoX=_pool(provider)[0], Colour="blue")
    assert "Colour" in unknown.value.get_error_msg()
    assert provider.state() == before


def test_an_unsupported_action_is_the_gateways_404(provider):
    with pytest.raises(CoreServerException) as core:
        call_core(core_client(), provider, "BindAxg", GroupId=1, PhoneNoA=A)
    assert (core.value.get_http_status(), core.value.get_error_code()) == (404, "InvalidAction.NotFound")


# ---- injected faults, as each SDK surfaces them -----------------------------------------------------------


def _fault(provider: ThreadedProvider, action: dict, operation: str = "QuerySecretNoRemain") -> None:
    provider.admin("POST", "/_admin/faults", {"match": {"dialect": "aliyun", "operation": operation},
                                              "action": action, "when": {"first": 1}})


def test_throttling_is_a_throttling_exception_with_retry_after(provider):
    _fault(provider, {"kind": "status", "status": 429, "retry_after": 3})
    with pytest.raises(tea_errors.ThrottlingException) as tea:
        call_tea(tea_client(provider), "QuerySecretNoRemain", City="Beijing", SpecId=1)
    assert (tea.value.status_code, tea.value.code, tea.value.retry_after) == (429, "Throttling.User", 3)
    _fault(provider, {"kind": "status", "status": 429})
    with pytest.raises(CoreServerException) as core:
        call_core(core_client(), provider, "QuerySecretNoRemain", City="Beijing", SpecId=1)
    assert (core.value.get_http_status(), core.value.get_error_code()) == (429, "Throttling.User")
    # The rule fired once per client: the next call goes through.
    assert call_tea(tea_client(provider), "QuerySecretNoRemain", City="Beijing", SpecId=1)["Code"] == "OK"


@pytest.mark.parametrize("status,code", [(500, "InternalError"), (503, "ServiceUnavailable")])
def test_a_5xx_is_a_server_exception(provider, status, code):
    _fault(provider, {"kind": "status", "status": status})
    with pytest.raises(tea_errors.ServerException) as tea:
        call_tea(tea_client(provider), "QuerySecretNoRemain", City="Beijing", SpecId=1)
    assert (tea.value.status_code, tea.value.code) == (status, code)
    _fault(provider, {"kind": "status", "status": status})
    with pytest.raises(CoreServerException) as core:
        call_core(core_client(), provider, "QuerySecretNoRemain", City="Beijing", SpecId=1)
    assert (core.value.get_http_status(), core.value.get_error_code()) == (status, code)


def test_a_timeout_hits_each_sdks_read_timeout(provider):
    _fault(provider, {"kind": "timeout", "seconds": 5})
    with pytest.raises(UnretryableException) as tea:
        call_tea(tea_client(provider, read_timeout=500), "QuerySecretNoRemain", City="Beijing", SpecId=1)
    assert "Read timed out" in str(tea.value.inner_exception)
    _fault(provider, {"kind": "timeout", "seconds": 5})
    with pytest.raises(CoreClientException) as core:
        call_core(core_client(timeout=1), provider, "QuerySecretNoRemain", City="Beijing", SpecId=1)
    assert core.value.get_error_code() == "SDK.HttpError" and "timed out" in core.value.get_error_msg().lower()


def test_ghost_success_applies_the_bind_though_the_sdk_sees_a_failure(provider):
    _fault(provider, {"kind": "ghost_success", "then": "status", "status": 503}, operation="BindAxb")
    with pytest.raises(tea_errors.ServerException):
        call_tea(tea_client(provider), "BindAxb", PoolKey=POOL_KEY, PhoneNoA=A, PhoneNoB=B,
                 Expiration=expiration(provider=provider))
    assert [(b.a, b.b) for b in provider.in_loop(lambda: provider.ledger.bindings(mode="AXB"))] == [(A, B)]
