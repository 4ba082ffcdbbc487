"""The unmodified tencentcloud-sdk-python-npp against pstnsim: every action, each business error, the gateway's refusals.

The SDK is synchronous (requests), so the provider runs in a background thread
(`threaded_provider`, real time) and the SDK calls it over 127.0.0.1.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable

import pytest
import requests
from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.npp.v20190823 import models, npp_client

from simulator.clock import Clock
from simulator.config import ProviderConfig, TencentCredentials
from simulator.numbers import PoolSpec

A, B, B2, N = "13900000001", "13800000001", "13800000002", "13700000009"
SIGNINGS = [("TC3-HMAC-SHA256", "POST"), ("TC3-HMAC-SHA256", "GET"), ("HmacSHA256", "POST"), ("HmacSHA1", "GET")]


def tc(number: str) -> str:
    return "0086" + number


def npp(
    tp: Any,
    *,
    sign: str = "TC3-HMAC-SHA256",
    method: str = "POST",
    secret_id: str = "pstnsim-id",
    secret_key: str = "pstnsim-secret",
    timeout: int = 2,
) -> npp_client.NppClient:
    """An SDK client pointed at pstnsim the documented way: bare host:port endpoint, protocol http."""
    http = HttpProfile(endpoint=tp.endpoint, protocol="http", reqMethod=method, reqTimeout=timeout)
    return npp_client.NppClient(
        credential.Credential(secret_id, secret_key), "ap-guangzhou", ClientProfile(httpProfile=http, signMethod=sign)
    )


def get_virtual_num(**fields: Any) -> models.GetVirtualNumRequest:
    request = models.GetVirtualNumRequest()
    request.BizAppId = "pstnsim"
    for name, value in fields.items():
        setattr(request, name, value)
    return request


def del_virtual_num(bind_id: str, **fields: Any) -> models.DelVirtualNumRequest:
    request = models.DelVirtualNumRequest()
    request.BizAppId = "pstnsim"
    request.BindId = bind_id
    for name, value in fields.items():
        setattr(request, name, value)
    return request


@pytest.fixture
def tp(threaded_provider: Callable[..., Any]) -> Any:
    return threaded_provider(ProviderConfig(seed=5))


def active(tp: Any, **filters: Any) -> list:
    return tp.call(lambda: tp.provider.ledger.bindings(**filters))


# ---- success, every signing layout -------------------------------------------------


@pytest.mark.parametrize("sign,method", SIGNINGS)
def test_xb_bind_routes_calls_and_unbinds_with_each_signing_layout(tp: Any, sign: str, method: str) -> None:
    client = npp(tp, sign=sign, method=method)
    bound = client.GetVirtualNum(get_virtual_num(Dst=tc(B), MaxAssignTime="3600", AccreditList=[tc(N), tc(A)]))
    assert bound.ErrorCode == "0" and bound.BindId and bound.RequestId
    assert bound.VirtualNum.startswith("0086") and bound.RefNum == "1"
    x = bound.VirtualNum[4:]
    [binding] = active(tp, x=x)
    assert (binding.mode, binding.a, binding.b, binding.binding_id) == ("XB", None, B, bound.BindId)
    assert binding.extra["tencent"]["accredit_list"] == [N, A]  # lists survive every layout (JSON, AccreditList.N)
    assert binding.expires_at == pytest.approx(binding.created_at + 3600, abs=1)
    call = tp.call(tp.provider.ledger.place_call, N, x)
    assert (call.outcome, call.callee, call.shown_caller) == ("connected", B, x)

    released = client.DelVirtualNum(del_virtual_num(bound.BindId))
    assert (released.ErrorCode, released.BindId, released.RefLeftNum) == ("0", bound.BindId, "0")
    assert active(tp, x=x) == []


def test_axb_bind_routes_both_ways_and_keeps_xb_on_the_same_x(tp: Any) -> None:
    client = npp(tp)
    xb = client.GetVirtualNum(get_virtual_num(Dst=tc(B)))
    axb = client.GetVirtualNum(get_virtual_num(Src=tc(A), Dst=tc(B), AssignVirtualNum=xb.VirtualNum))
    assert axb.ErrorCode == "0" and axb.VirtualNum == xb.VirtualNum and axb.BindId != xb.BindId
    x = xb.VirtualNum[4:]
    place = lambda caller: tp.call(tp.provider.ledger.place_call, caller, x)  # noqa: E731
    assert place(A).callee == B
    assert place(B).callee == A
    assert place(N).callee == B  # the XB binding routes everyone else
    assert client.DelVirtualNum(del_virtual_num(axb.BindId)).RefLeftNum == "0"
    assert [b.binding_id for b in active(tp, x=x)] == [xb.BindId]


def test_repeated_bind_reuses_the_binding_and_counts_references(tp: Any) -> None:
    client = npp(tp)
    first = client.GetVirtualNum(get_virtual_num(Src=tc(A), Dst=tc(B)))
    again = client.GetVirtualNum(get_virtual_num(Src=tc(A), Dst=tc(B)))
    assert (again.ErrorCode, again.BindId, again.VirtualNum, again.RefNum) == ("0", first.BindId, first.VirtualNum, "2")
    other_order = client.GetVirtualNum(get_virtual_num(Src=tc(A), Dst=tc(B), BizId="order-9"))
    assert other_order.BindId != first.BindId  # another BizId is another binding
    assert client.DelVirtualNum(del_virtual_num(first.BindId)).RefLeftNum == "1"
    assert tp.call(tp.provider.ledger.place_call, A, first.VirtualNum[4:]).callee == B  # still bound
    assert client.DelVirtualNum(del_virtual_num(first.BindId)).RefLeftNum == "0"
    assert client.DelVirtualNum(del_virtual_num(first.BindId)).ErrorCode == "-204"


def test_binding_expires_after_max_assign_time_on_the_provider_clock(threaded_provider: Callable[..., Any]) -> None:
    offset = [0.0]
    clock = Clock(monotonic=lambda: time.monotonic() + offset[0], epoch=time.time())
    tp = threaded_provider(ProviderConfig(seed=5), clock=clock)
    client = npp(tp)
    bound = client.GetVirtualNum(get_virtual_num(Dst=tc(B), MaxAssignTime="60"))
    offset[0] += 120  # still inside the signature window, past the binding's expiry
    gone = client.DelVirtualNum(del_virtual_num(bound.BindId))
    assert gone.ErrorCode == "-204"
    assert active(tp) == []


def test_get_400_cdr_returns_the_calls_on_a_binding(tp: Any) -> None:
    client = npp(tp)
    bound = client.GetVirtualNum(get_virtual_num(Src=tc(A), Dst=tc(B), Record="1"))
    x = bound.VirtualNum[4:]
    connected = tp.call(tp.provider.ledger.place_call, A, x)
    rejected = tp.call(tp.provider.ledger.place_call, N, x)
    request = models.Get400CdrRequest()
    request.BizAppId = "pstnsim"
    everything = client.Get400Cdr(request)
    assert everything.ErrorCode == "0" and everything.Offset == "2"
    by_id = {c.CallId: c for c in everything.Cdr}
    ok = by_id[connected.call_id]
    assert (ok.BindId, ok.Src, ok.Dst, ok.DstVirtualNum, ok.CallEndStatus) == (bound.BindId, tc(A), tc(B), bound.VirtualNum, "1")
    assert ok.RecordUrl.endswith(f"{connected.call_id}.mp3")
    assert by_id[rejected.call_id].CallEndStatus == "3" and by_id[rejected.call_id].Dst == ""

    request.Src = tc(N)
    assert [c.CallId for c in client.Get400Cdr(request).Cdr] == [rejected.call_id]
    request.Src, request.StartTimeStamp = None, str(int(connected.started_at) + 3600)
    assert client.Get400Cdr(request).Cdr == []


def test_binding_is_visible_in_native_api_and_admin_ledger(tp: Any) -> None:
    bound = npp(tp).GetVirtualNum(get_virtual_num(Src=tc(A), Dst=tc(B)))
    native = requests.get(f"{tp.url}/v1/bindings/{bound.BindId}", timeout=5)
    assert native.status_code == 200
    assert (native.json()["mode"], native.json()["a"], native.json()["b"]) == ("AXB", A, B)
    ledger = requests.get(f"{tp.url}/_admin/ledger", timeout=5).json()
    assert [b["binding_id"] for b in ledger["bindings"]] == [bound.BindId]


def test_binding_made_natively_can_be_released_through_tencent(tp: Any) -> None:
    made = requests.post(f"{tp.url}/v1/bindings", json={"mode": "XB", "b": B}, timeout=5).json()
    released = npp(tp).DelVirtualNum(del_virtual_num(made["binding_id"]))
    assert released.ErrorCode == "0" and released.RefLeftNum == "0"


# ---- business errors: HTTP 200, ErrorCode != "0", the SDK returns the model --------


def test_pool_exhausted_is_107(threaded_provider: Callable[..., Any]) -> None:
    tp = threaded_provider(ProviderConfig(seed=5, pool=PoolSpec(seed=5, cities=("Shenzhen",), per_city=1, stock_per_city=0)))
    client = npp(tp)
    assert client.GetVirtualNum(get_virtual_num(Dst=tc(B))).ErrorCode == "0"
    refused = client.GetVirtualNum(get_virtual_num(Dst=tc(B2)))
    assert refused.ErrorCode == "-107" and "no virtual number" in refused.Msg
    assert refused.BindId is None and len(active(tp)) == 1


def test_assigned_x_already_bound_is_106(tp: Any) -> None:
    client = npp(tp)
    first = client.GetVirtualNum(get_virtual_num(Dst=tc(B)))
    refused = client.GetVirtualNum(get_virtual_num(Dst=tc(B2), AssignVirtualNum=first.VirtualNum))
    assert refused.ErrorCode == "-106"
    # AXB sharing a number with an AXB already on X would make routing ambiguous: refused too.
    client.GetVirtualNum(get_virtual_num(Src=tc(A), Dst=tc(B), AssignVirtualNum=first.VirtualNum))
    clash = client.GetVirtualNum(get_virtual_num(Src=tc(A), Dst=tc(B2), AssignVirtualNum=first.VirtualNum))
    assert clash.ErrorCode == "-106"
    assert len(active(tp)) == 2


@pytest.mark.parametrize(
    "fields,code,words",
    [
        ({"Dst": "0086123"}, "-101", "Dst"),
        ({"Dst": tc(B), "Src": "00861380000000x"}, "-101", "Src"),
        ({"Dst": tc(B), "Src": tc(B)}, "-101", "different"),
        ({"Dst": tc(B), "StatusUrl": "ftp://example.com/x", "StatusFlag": "16191"}, "-103", "StatusUrl"),
        ({"Dst": tc(B), "AccreditList": ["not-a-number"]}, "-111", "AccreditList"),
        ({"Dst": tc(B), "Src": tc(A), "AccreditList": [tc(N)]}, "-111", "xb mode"),
        ({"Dst": tc(B), "AccreditList": [tc(N)] * 31}, "-111", "at most 30"),
        ({"Dst": tc(B), "MaxAssignTime": str(169 * 3600)}, "-2", "MaxAssignTime"),
        ({"Dst": tc(B), "MaxAssignTime": "soon"}, "-2", "MaxAssignTime"),
        ({"Dst": tc(B), "Record": "yes"}, "-2", "Record"),
        ({"Dst": tc(B), "StatusFlag": "65536"}, "-2", "StatusFlag"),
        ({"Dst": tc(B), "BizId": "x" * 17}, "-2", "BizId"),
        ({"Dst": tc(B), "AssignVirtualNum": tc("17000000000")}, "-2", "AssignVirtualNum"),
        ({"Dst": tc(B), "BizAppId": "someone-else"}, "-401", "BizAppId"),
    ],
)
def test_get_virtual_num_business_errors(tp: Any, fields: dict, code: str, words: str) -> None:
    refused = npp(tp).GetVirtualNum(get_virtual_num(**fields))
    assert refused.ErrorCode == code, refused.Msg
    assert words in refused.Msg
    assert active(tp) == []


def test_unbind_unknown_or_released_binding_is_204(tp: Any) -> None:
    client = npp(tp)
    assert client.DelVirtualNum(del_virtual_num("bnd_99999999")).ErrorCode == "-204"
    bound = client.GetVirtualNum(get_virtual_num(Dst=tc(B)))
    assert client.DelVirtualNum(del_virtual_num(bound.BindId)).ErrorCode == "0"
    again = client.DelVirtualNum(del_virtual_num(bound.BindId))
    assert again.ErrorCode == "-204" and bound.BindId in again.Msg


def test_biz_id_given_at_bind_is_required_and_unique(tp: Any) -> None:
    client = npp(tp)
    bound = client.GetVirtualNum(get_virtual_num(Dst=tc(B), BizId="order-1"))
    assert client.GetVirtualNum(get_virtual_num(Dst=tc(B2), BizId="order-1")).ErrorCode == "-2"
    assert client.DelVirtualNum(del_virtual_num(bound.BindId)).ErrorCode == "-205"
    assert client.DelVirtualNum(del_virtual_num(bound.BindId, BizId="order-2")).ErrorCode == "-204"
    assert len(active(tp)) == 1
    assert client.DelVirtualNum(del_virtual_num(bound.BindId, BizId="order-1")).ErrorCode == "0"


def test_get_400_cdr_bad_window_is_2(tp: Any) -> None:
    request = models.Get400CdrRequest()
    request.BizAppId, request.StartTimeStamp, request.EndTimeStamp = "pstnsim", "200", "100"
    assert npp(tp).Get400Cdr(request).ErrorCode == "-2"


# ---- gateway refusals: HTTP 200 + Response.Error, the SDK raises by code ------------


def sdk_error(call: Callable[[], Any]) -> TencentCloudSDKException:
    with pytest.raises(TencentCloudSDKException) as caught:
        call()
    return caught.value


@pytest.mark.parametrize("sign,method", SIGNINGS)
def test_wrong_secret_key_is_signature_failure(tp: Any, sign: str, method: str) -> None:
    client = npp(tp, sign=sign, method=method, secret_key="not-the-secret")
    error = sdk_error(lambda: client.GetVirtualNum(get_virtual_num(Dst=tc(B))))
    assert error.code == "AuthFailure.SignatureFailure" and error.requestId
    assert active(tp) == []


@pytest.mark.parametrize("sign", ["TC3-HMAC-SHA256", "HmacSHA256"])
def test_unknown_secret_id_is_refused(tp: Any, sign: str) -> None:
    client = npp(tp, sign=sign, secret_id="nobody")
    error = sdk_error(lambda: client.GetVirtualNum(get_virtual_num(Dst=tc(B))))
    assert error.code == "AuthFailure.SecretIdNotFound" and "nobody" in error.message


def test_configured_credentials_replace_the_defaults(threaded_provider: Callable[..., Any]) -> None:
    own = TencentCredentials(secret_id="team-id", secret_key="team-key", biz_app_id="team-app")
    tp = threaded_provider(ProviderConfig(seed=5, tencent=(own,)))
    bound = npp(tp, secret_id="team-id", secret_key="team-key").GetVirtualNum(get_virtual_num(Dst=tc(B), BizAppId="team-app"))
    assert bound.ErrorCode == "0"
    assert sdk_error(lambda: npp(tp).GetVirtualNum(get_virtual_num(Dst=tc(B)))).code == "AuthFailure.SecretIdNotFound"


@pytest.mark.parametrize("sign", ["TC3-HMAC-SHA256", "HmacSHA1"])
def test_timestamp_off_by_more_than_five_minutes_is_signature_expire(threaded_provider: Callable[..., Any], sign: str) -> None:
    tp = threaded_provider(ProviderConfig(seed=5), clock=Clock(epoch=time.time() + 600))
    error = sdk_error(lambda: npp(tp, sign=sign).GetVirtualNum(get_virtual_num(Dst=tc(B))))
    assert error.code == "AuthFailure.SignatureExpire" and "300" in error.message
    assert active(tp) == []


def test_replayed_legacy_request_is_refused_for_its_reused_nonce(tp: Any) -> None:
    client = npp(tp, sign="HmacSHA256")
    sent: list[requests.PreparedRequest] = []
    client.request.conn._session.hooks["response"].append(lambda response, **_: sent.append(response.request))
    first = client.GetVirtualNum(get_virtual_num(Dst=tc(B)))
    assert first.ErrorCode == "0"
    replay = requests.Session().send(sent[0], timeout=5)
    body = replay.json()["Response"]
    assert replay.status_code == 200 and replay.headers["Content-Type"] == "application/json"
    assert body["Error"]["Code"] == "AuthFailure.SignatureFailure" and "Nonce" in body["Error"]["Message"]
    assert len(active(tp)) == 1  # the replay bound nothing


def test_tampered_body_is_signature_failure(tp: Any) -> None:
    client = npp(tp)
    sent: list[requests.PreparedRequest] = []
    client.request.conn._session.hooks["response"].append(lambda response, **_: sent.append(response.request))
    client.GetVirtualNum(get_virtual_num(Dst=tc(B)))
    tampered = sent[0].copy()
    tampered.body = tampered.body.replace(tc(B), tc(B2))
    body = requests.Session().send(tampered, timeout=5).json()["Response"]
    assert body["Error"]["Code"] == "AuthFailure.SignatureFailure"
    assert [b.b for b in active(tp)] == [B]


def test_unsupported_action_is_invalid_action(tp: Any) -> None:
    client = npp(tp)
    error = sdk_error(lambda: client.CreateCallBack(models.CreateCallBackRequest()))
    assert error.code == "InvalidAction" and "GetVirtualNum" in error.message


def test_missing_required_parameter_is_refused_by_the_server(tp: Any) -> None:
    request = models.GetVirtualNumRequest()
    request.BizAppId = "pstnsim"  # no Dst: the SDK checks nothing, so the server must
    error = sdk_error(lambda: npp(tp).GetVirtualNum(request))
    assert error.code == "MissingParameter" and "Dst" in error.message
    assert sdk_error(lambda: npp(tp).DelVirtualNum(models.DelVirtualNumRequest())).code == "MissingParameter"


def test_wrongly_typed_parameter_is_invalid_parameter(tp: Any) -> None:
    error = sdk_error(lambda: npp(tp).GetVirtualNum(get_virtual_num(Dst=tc(B), MaxAssignTime=3600)))
    assert error.code == "InvalidParameter" and "MaxAssignTime" in error.message
    assert active(tp) == []


def test_request_ids_replay_with_the_seed(threaded_provider: Callable[..., Any]) -> None:
    ids = []
    for _ in range(2):
        tp = threaded_provider(dataclasses.replace(ProviderConfig(seed=11)))
        ids.append([npp(tp).GetVirtualNum(get_virtual_num(Dst=tc(b))).RequestId for b in (B, B2)])
    assert ids[0] == ids[1] and len(set(ids[0])) == 2
