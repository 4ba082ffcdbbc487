"""The vendors' own SDKs through `pstnsim record` in front of a second pstnsim that knows only OTHER credentials:
the calls succeed, the upstream sees its own key, the trace holds no secret, no upstream key id and no A/B
number, and a fault on the upstream is recorded as the SDK saw it.

The SDKs are synchronous (requests): the upstream provider and the proxy share one event loop in a
background thread (real time there), and the SDKs call the proxy over 127.0.0.1 from the test thread.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import threading
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterator, TypeVar

import pytest
from alibabacloud_dyplsapi20170525 import models as aliyun_models
from alibabacloud_dyplsapi20170525.client import Client as TeaClient
from alibabacloud_tea_openapi import models as open_api
from aliyunsdkcore.acs_exception.exceptions import ServerException as CoreServerException
from aliyunsdkcore.client import AcsClient
from aliyunsdkcore.request import CommonRequest
from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.npp.v20190823 import models as npp_models
from tencentcloud.npp.v20190823 import npp_client

from simulator.config import AliyunCredentials, ProviderConfig, TencentCredentials
from simulator.numbers import PoolSpec
from simulator.server import Provider
from simulator.traces import read_trace
from simulator.traces.proxy import RecordingProxy
from simulator.traces.upstream_credentials import UpstreamAliyun, UpstreamTencent

T = TypeVar("T")
A, B, N = "13900000001", "13800000002", "13700000009"
LOCAL_POOL, UPSTREAM_POOL = "FC100000000000001", "FC200000000000002"
UPSTREAM_ALIYUN = AliyunCredentials(access_key_id="LTAIupstream0001", access_key_secret="upstream-secret-ali",
                                    pool_key=UPSTREAM_POOL)
UPSTREAM_TENCENT = TencentCredentials(secret_id="AKIDupstream0001", secret_key="upstream-secret-tc",
                                      biz_app_id="upstream-app")
# Nothing of these may reach a trace (the local key id may, as its hint `pst***`).
SECRETS = ("LTAIupstream0001", "upstream-secret-ali", "AKIDupstream0001", "upstream-secret-tc", "pstnsim-secret",
           "pstnsim-ak", "pstnsim-id")


class BackgroundLoop:
    """An event loop in a thread, for servers the synchronous SDKs call from the test thread."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="pstnsim-record-test", daemon=True)
        self._thread.start()

    def run(self, coro: Awaitable[T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(15)  # type: ignore[arg-type]

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        async def invoke() -> T:
            return fn(*args)
        return self.run(invoke())

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


class Recording(BackgroundLoop):
    """An upstream pstnsim (other credentials) and a recording proxy in front of it, on a background loop."""

    def __init__(self, tmp_path: Path, dialect: str, upstream_timeout: float = 5.0, keep_numbers: bool = False) -> None:
        super().__init__()
        self.out = tmp_path / f"{dialect}.jsonl"
        config = ProviderConfig(seed=5, pool=PoolSpec(seed=5, cities=("Beijing",), per_city=3, stock_per_city=0,
                                                      pool_key=UPSTREAM_POOL),
                                aliyun=(UPSTREAM_ALIYUN,), tencent=(UPSTREAM_TENCENT,))
        self.upstream = Provider(config)
        self.run(self.upstream.start())
        key = (UpstreamAliyun(UPSTREAM_ALIYUN.access_key_id, UPSTREAM_ALIYUN.access_key_secret, UPSTREAM_POOL)
               if dialect == "aliyun" else
               UpstreamTencent(UPSTREAM_TENCENT.secret_id, UPSTREAM_TENCENT.secret_key, "upstream-app"))
        self.proxy = RecordingProxy(upstream=self.upstream.url, dialect=dialect, out=self.out,
                                    upstream_credentials=key, upstream_timeout=upstream_timeout,
                                    keep_numbers=keep_numbers)
        self.run(self.proxy.start())

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.proxy.port}"

    def fault(self, rule: dict) -> None:
        self.call(self.upstream.faults.add, rule)

    def journal(self) -> list[dict]:
        return self.call(lambda: [e.to_dict() for e in self.upstream.journal.entries()])

    def close(self) -> None:
        try:
            self.run(self.proxy.stop())
            self.run(self.upstream.stop())
        finally:
            super().close()

    def trace_text(self) -> str:
        return self.out.read_text(encoding="utf-8")


@pytest.fixture
def recording(tmp_path: Path) -> Iterator[Callable[..., Recording]]:
    started: list[Recording] = []

    def start(dialect: str, **kw: Any) -> Recording:
        started.append(Recording(tmp_path, dialect, **kw))
        return started[-1]

    yield start
    for one in started:
        one.close()


def assert_clean(rec: Recording, *numbers: str) -> None:
    """No secret, no upstream key id, no real A/B number anywhere in the trace."""
    text = rec.trace_text()
    for secret in SECRETS + numbers:
        assert secret not in text, secret


# ---- Aliyun: ACS3 (the Tea SDK) and RPC v1 (the old core SDK) ----------------------------------------------------


def tea(rec: Recording, secret: str = "pstnsim-secret", algorithm: str | None = None) -> TeaClient:
    """The Tea SDK: ACS3 by default, RPC-style signing with algorithm="v2"."""
    return TeaClient(open_api.Config(access_key_id="pstnsim-ak", access_key_secret=secret, endpoint=rec.endpoint,
                                     protocol="http", read_timeout=8000, connect_timeout=1000,
                                     signature_algorithm=algorithm))


def core_call(rec: Recording, method: str, action: str, **params: str) -> dict:
    client = AcsClient("pstnsim-ak", "pstnsim-secret", "cn-hangzhou", auto_retry=False, timeout=8, connect_timeout=1)
    request = CommonRequest(domain=rec.endpoint, version="2017-05-25", action_name=action)
    request.set_protocol_type("http")
    request.set_method(method)
    for name, value in params.items():
        request.add_query_param(name, value)
    return json.loads(client.do_action_with_exception(request))


def bind_axb(client: TeaClient, a: str = A, b: str = B) -> dict:
    request = aliyun_models.BindAxbRequest(pool_key=LOCAL_POOL, phone_no_a=a, phone_no_b=b,
                                           expiration="2030-01-01 00:00:00")
    return client.bind_axb(request).body.to_map()


def test_aliyun_acs3_and_rpc_calls_through_the_recorder_reach_an_upstream_with_other_credentials(recording):
    rec = recording("aliyun")
    bound = bind_axb(tea(rec))  # ACS3, signed by the SDK with the local default key
    assert bound["Code"] == "OK"
    x, subs_id = bound["SecretBindDTO"]["SecretNo"], bound["SecretBindDTO"]["SubsId"]
    [held] = rec.call(rec.upstream.ledger.bindings)
    assert (held.a, held.b, held.x, held.pool_key) == (A, B, x, UPSTREAM_POOL)  # in the upstream account's pool
    detail = core_call(rec, "GET", "QuerySubscriptionDetail", PoolKey=LOCAL_POOL, SubsId=subs_id, PhoneNoX=x)
    assert (detail["Code"], detail["SecretBindDetailDTO"]["PhoneNoA"]) == ("OK", A)  # the SDK sees real numbers
    unbound = core_call(rec, "POST", "UnbindSubscription", PoolKey=LOCAL_POOL, SubsId=subs_id, SecretNo=x)
    assert unbound["Code"] == "OK"
    remain = tea(rec, algorithm="v2").query_secret_no_remain(
        aliyun_models.QuerySecretNoRemainRequest(city="Beijing", spec_id=1)).body.to_map()
    assert remain["Code"] == "OK"

    journal = rec.journal()
    assert [e["operation"] for e in journal] == ["BindAxb", "QuerySubscriptionDetail", "UnbindSubscription",
                                                 "QuerySecretNoRemain"]
    assert all("AccessKeyId=LTA***" in e["query"] for e in journal[1:])  # the upstream's own key, as a hint
    assert all("pst***" not in json.dumps(e) for e in journal)
    assert rec.call(rec.upstream.ledger.bindings) == []

    rec.run(rec.proxy.stop())
    trace = read_trace(rec.out)
    assert [e.action for e in trace.exchanges] == ["BindAxb", "QuerySubscriptionDetail", "UnbindSubscription",
                                                   "QuerySecretNoRemain"]
    assert [e.status for e in trace.exchanges] == [200, 200, 200, 200]
    assert trace.exchanges[1].params["x"] == x and trace.exchanges[0].response["body"]["SecretBindDTO"]["SecretNo"] == x
    assert trace.exchanges[0].params["pool_key"] == LOCAL_POOL  # the request as the SDK sent it
    stand_a = trace.exchanges[0].params["a"]
    assert trace.exchanges[1].response["body"]["SecretBindDetailDTO"]["PhoneNoA"] == stand_a
    assert_clean(rec, A, B)


def test_aliyun_fault_and_timeout_on_the_upstream_are_recorded_as_the_sdk_saw_them(recording):
    rec = recording("aliyun", upstream_timeout=0.5)
    rec.fault({"match": {"operation": "BindAxb"}, "action": {"kind": "ghost_success", "status": 503},
               "when": {"first": 1}})
    rec.fault({"match": {"operation": "QuerySecretNoRemain"}, "action": {"kind": "latency", "seconds": 3}})
    with pytest.raises(Exception) as ghost:
        bind_axb(tea(rec))
    assert "503" in str(ghost.value) or "ServiceUnavailable" in str(ghost.value)
    assert len(rec.call(rec.upstream.ledger.bindings)) == 1  # applied, and the SDK was told otherwise
    with pytest.raises(CoreServerException) as slow:
        core_call(rec, "GET", "QuerySecretNoRemain", City="Beijing", SpecId="1")
    assert slow.value.get_http_status() == 504
    rec.run(rec.proxy.stop())
    ghosted, timed_out = read_trace(rec.out).exchanges
    assert (ghosted.status, ghosted.response["body"]["Code"], ghosted.failure) == (503, "ServiceUnavailable", None)
    assert ghosted.applied is None
    assert (timed_out.response, timed_out.failure.kind) == (None, "timeout")
    assert timed_out.failure.after >= 0.5
    assert_clean(rec, A, B)


def test_a_bad_signature_from_the_sdk_is_refused_as_aliyun_would_and_nothing_is_forwarded(recording):
    rec = recording("aliyun")
    with pytest.raises(Exception) as refused:
        bind_axb(tea(rec, secret="a-wrong-local-secret"))
    assert "SignatureDoesNotMatch" in str(refused.value)
    assert rec.journal() == []
    rec.run(rec.proxy.stop())
    [line] = read_trace(rec.out).exchanges
    assert (line.status, line.response["answered_by"], line.response["body"]["Code"]) == (
        400, "proxy", "SignatureDoesNotMatch")
    assert "a-wrong-local-secret" not in rec.trace_text()
    assert_clean(rec, A, B)


# ---- Tencent: TC3-HMAC-SHA256 and the legacy HmacSHA1 form ----------------------------------------------------------


def npp(rec: Recording, *, sign: str = "TC3-HMAC-SHA256", method: str = "POST") -> npp_client.NppClient:
    http = HttpProfile(endpoint=rec.endpoint, protocol="http", reqMethod=method, reqTimeout=8)
    return npp_client.NppClient(credential.Credential("pstnsim-id", "pstnsim-secret"), "ap-guangzhou",
                                ClientProfile(httpProfile=http, signMethod=sign))


def get_virtual_num(**fields: Any) -> npp_models.GetVirtualNumRequest:
    request = npp_models.GetVirtualNumRequest()
    request.BizAppId = "pstnsim"  # the local app id; the proxy sends the upstream's
    for name, value in fields.items():
        setattr(request, name, value)
    return request


def test_tencent_tc3_and_legacy_calls_through_the_recorder_reach_an_upstream_with_other_credentials(recording):
    rec = recording("tencent")
    axb = npp(rec).GetVirtualNum(get_virtual_num(Src="0086" + A, Dst="0086" + B))  # TC3, JSON body
    assert axb.ErrorCode == "0" and axb.BindId
    xb = npp(rec, method="GET").GetVirtualNum(get_virtual_num(Dst="0086" + B, AccreditList=["0086" + N]))  # TC3 GET
    assert xb.ErrorCode == "0" and xb.BindId != axb.BindId
    held = rec.call(lambda: rec.upstream.ledger.bindings(status=None))
    assert [(h.a, h.b, h.extra["tencent"]["biz_app_id"]) for h in held] == [(A, B, "upstream-app"),
                                                                           (None, B, "upstream-app")]
    for bind_id, (sign, method) in ((axb.BindId, ("HmacSHA1", "GET")), (xb.BindId, ("HmacSHA256", "POST"))):
        delete = npp_models.DelVirtualNumRequest()
        delete.BizAppId, delete.BindId = "pstnsim", bind_id
        released = npp(rec, sign=sign, method=method).DelVirtualNum(delete)  # the legacy form
        assert (released.ErrorCode, released.RefLeftNum) == ("0", "0")

    journal = rec.journal()
    assert [e["operation"] for e in journal] == ["GetVirtualNum"] * 2 + ["DelVirtualNum"] * 2
    assert "SecretId=AKI***" in journal[2]["query"]  # the upstream's own key, as a hint
    assert all("pst***" not in json.dumps(e) for e in journal)
    assert rec.call(rec.upstream.ledger.bindings) == []

    rec.run(rec.proxy.stop())
    trace = read_trace(rec.out)
    assert [e.action for e in trace.exchanges] == ["GetVirtualNum"] * 2 + ["DelVirtualNum"] * 2
    assert all(e.response["body"]["Response"]["ErrorCode"] == "0" for e in trace.exchanges)
    axb_line, xb_line = trace.exchanges[:2]
    assert axb_line.params["pool_key"] == "pstnsim"  # as the SDK sent it
    assert axb_line.response["body"]["Response"]["VirtualNum"] == axb.VirtualNum  # X kept
    assert xb_line.params["b"] == axb_line.params["b"]  # one stand-in for B across the trace
    [accredited] = xb_line.params["AccreditList"]  # a person's number too: a stand-in
    assert accredited.startswith("0086199") and accredited[4:] not in (axb_line.params["a"], axb_line.params["b"])
    assert_clean(rec, A, B, N)


def test_tencent_upstream_reset_and_5xx_are_recorded_as_the_sdk_saw_them(recording):
    rec = recording("tencent")
    rec.fault({"match": {"operation": "GetVirtualNum"}, "action": {"kind": "reset"}, "when": {"first": 1}})
    rec.fault({"match": {"operation": "GetVirtualNum"}, "action": {"kind": "status", "status": 503},
               "when": {"nth": 2}})
    with pytest.raises(TencentCloudSDKException) as reset:
        npp(rec).GetVirtualNum(get_virtual_num(Dst="0086" + B))
    assert reset.value.code == "ClientNetworkError"
    with pytest.raises(TencentCloudSDKException) as unavailable:
        npp(rec).GetVirtualNum(get_virtual_num(Dst="0086" + B))
    assert "503" in str(unavailable.value) or "ServiceUnavailable" in str(unavailable.value)
    rec.run(rec.proxy.stop())
    reset_line, unavailable_line = read_trace(rec.out).exchanges
    assert (reset_line.response, reset_line.failure.kind) == (None, "reset")
    assert unavailable_line.status == 503 and unavailable_line.failure is None
    assert reset_line.params == unavailable_line.params  # the same call, twice: the same stand-in for B
    assert_clean(rec, B)


# ---- the recording, served back as the provider -------------------------------------------------------------------


class Replaying(BackgroundLoop):
    """`pstnsim provider --replay FILE` with the simulator's default credentials, for the same SDK calls."""

    def __init__(self, trace: Path) -> None:
        super().__init__()
        self.provider = Provider(ProviderConfig(seed=5, replay_file=trace))
        self.run(self.provider.start())

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.provider.port}"

    def close(self) -> None:
        try:
            self.run(self.provider.stop())
        finally:
            super().close()


def outcome(call: Callable[[], Any]) -> Any:
    """What the SDK returned, or the error it raised: its code, status and request id (a replay repeats them),
    not the body it quotes after "Response:" (a trace stores JSON with sorted keys)."""
    try:
        result = call()
    except Exception as exc:  # noqa: BLE001 - the SDK's own error is the observation
        return type(exc).__name__, str(exc).split(" Response:")[0]
    return json.loads(result.to_json_string()) if hasattr(result, "to_json_string") else result


@pytest.mark.skipif(importlib.util.find_spec("simulator.traces.replay_server") is None,
                    reason="pstnsim provider --replay is not in this tree")
def test_a_recording_made_with_keep_numbers_replays_the_same_sdk_calls_the_same_way_faults_included(
        recording, tmp_path):
    rec = recording("aliyun", keep_numbers=True)
    rec.fault({"match": {"operation": "BindAxb"}, "action": {"kind": "ghost_success", "status": 503},
               "when": {"first": 1}})
    tencent = recording("tencent", keep_numbers=True)
    tencent.fault({"match": {"operation": "GetVirtualNum"}, "action": {"kind": "reset"}, "when": {"first": 1}})

    def calls(aliyun_at: Any, tencent_at: Any) -> list[Any]:
        return [outcome(lambda: bind_axb(tea(aliyun_at))),  # 503 (a ghost success), then the retry's OK
                outcome(lambda: bind_axb(tea(aliyun_at))),
                outcome(lambda: core_call(aliyun_at, "GET", "QuerySecretNoRemain", City="Beijing", SpecId="1")),
                outcome(lambda: npp(tencent_at).GetVirtualNum(get_virtual_num(Dst="0086" + B))),  # reset, then OK
                outcome(lambda: npp(tencent_at, sign="HmacSHA1", method="GET").GetVirtualNum(
                    get_virtual_num(Dst="0086" + B)))]

    recorded = calls(rec, tencent)
    assert "503" in recorded[0][1] and recorded[1]["Code"] == "OK" and recorded[2]["Code"] == "OK"
    assert (recorded[3][0], recorded[4]["ErrorCode"]) == ("TencentCloudSDKException", "0")
    assert "reset" in recorded[3][1].lower()
    rec.run(rec.proxy.stop())
    tencent.run(tencent.proxy.stop())
    aliyun_replay, tencent_replay = Replaying(rec.out), Replaying(tencent.out)
    try:
        assert calls(aliyun_replay, tencent_replay) == recorded
    finally:
        aliyun_replay.close()
        tencent_replay.close()
