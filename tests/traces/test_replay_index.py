"""Which recorded exchange answers a request (by meaning, in recorded order), and what the replay plan infers.

Property tests are derandomized (the same examples on every run, no seed to print); each draws wire
forms of one request the way different clients and retries send it.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.traces import Exchange, Failure
from simulator.traces.effects import CreateBinding, DeleteBinding
from simulator.traces.meaning import meaning_of
from simulator.traces.replay_index import ReplayIndex, loose_key, plan_replay, recorded_order, replay_label

STARTED = 1_767_225_600.0
PROPERTY = settings(derandomize=True, max_examples=60, deadline=None)

mobiles = st.integers(min_value=13_000_000_000, max_value=19_999_999_999).map(str)
nonces = st.text(alphabet="0123456789abcdef", min_size=8, max_size=32)
stamps = st.integers(min_value=1_700_000_000, max_value=1_900_000_000)


def exchange(seq: int, dialect: str, action: str, params: dict[str, Any], *, offset: float | None = None,
             status: int | None = 200, body: Any = None, failure: Failure | None = None,
             applied: bool | None = None, latency: float = 0.0, fault: str | None = None) -> Exchange:
    response = None if status is None else {"status": status, "headers": {}, "body": body}
    return Exchange(seq, float(seq) if offset is None else offset, dialect, action, params,
                    {"method": "POST", "path": "/", "query": "", "headers": {}, "body": None},
                    response, failure, latency, fault, applied)


def recorded(meaning) -> Exchange:
    return exchange(1, meaning.dialect, meaning.action, meaning.params)


# ---- wire forms of one meaning ----------------------------------------------------------------


def native_create(x: str, a: str, b: str, reverse: bool, prefix: str) -> tuple:
    fields = [("mode", "AXB"), ("x", prefix + x), ("a", prefix + a), ("b", prefix + b)]
    body = json.dumps(dict(reversed(fields) if reverse else fields)).encode()
    return ("native", "POST", "/v1/bindings", "", {"Content-Type": "application/json"}, body)


def aliyun_rpc_bind_xb(x: str, b: str, nonce: str, stamp: int, req_id: str, signature: str) -> tuple:
    query = urlencode({"Action": "BindXB", "Version": "2017-05-25", "Format": "JSON", "AccessKeyId": "pstnsim-ak",
                       "SignatureNonce": nonce, "Timestamp": str(stamp), "SignatureMethod": "HMAC-SHA1",
                       "SignatureVersion": "1.0", "Signature": signature, "CustomerPoolKey": "FC1",
                       "ReqId": req_id, "TelX": x, "TelB": b})
    return ("aliyun", "GET", "/", query, {}, b"")


def aliyun_acs3_bind_axb(x: str, a: str, b: str, nonce: str, stamp: int, reverse: bool) -> tuple:
    params = [("PoolKey", "FC1"), ("PhoneNoA", a), ("PhoneNoB", b), ("PhoneNoX", x),
              ("Expiration", "2030-01-01 00:00:00")]
    headers = {"x-acs-action": "BindAxb", "x-acs-version": "2017-05-25", "x-acs-signature-nonce": nonce,
               "x-acs-date": str(stamp), "Authorization": f"ACS3-HMAC-SHA256 Signature={nonce}"}
    return ("aliyun", "POST", "/", urlencode(list(reversed(params)) if reverse else params), headers, b"")


def tencent_tc3(a: str, b: str, stamp: int, signature: str, reverse: bool, prefix: str) -> tuple:
    fields = [("BizAppId", "app"), ("Src", prefix + a), ("Dst", prefix + b)]
    body = json.dumps(dict(reversed(fields) if reverse else fields)).encode()
    headers = {"X-TC-Action": "GetVirtualNum", "X-TC-Timestamp": str(stamp), "Content-Type": "application/json",
               "Authorization": f"TC3-HMAC-SHA256 Credential=x/y, Signature={signature}"}
    return ("tencent", "POST", "/", "", headers, body)


def tencent_legacy(a: str, b: str, stamp: int, nonce: str, signature: str) -> tuple:
    form = urlencode({"Action": "GetVirtualNum", "Version": "2019-08-23", "Timestamp": str(stamp), "Nonce": nonce,
                      "SecretId": "pstnsim-id", "Signature": signature, "BizAppId": "app", "Src": a, "Dst": b})
    return ("tencent", "POST", "/", "", {"Content-Type": "application/x-www-form-urlencoded"}, form.encode())


def index_of(*requests: tuple) -> ReplayIndex:
    return ReplayIndex([exchange(i, *_meaning(r)) for i, r in enumerate(requests, start=1)])


def _meaning(request: tuple) -> tuple[str, str, dict]:
    m = meaning_of(*request)
    return m.dialect, m.action, m.params


def take(index: ReplayIndex, request: tuple) -> int | None:
    m = meaning_of(*request)
    return index.take(m.key, loose_key(m.dialect, m.action, m.params))


@PROPERTY
@given(x=mobiles, a=mobiles, b=mobiles, changed=mobiles, which=st.sampled_from("xab"))
def test_native_matches_by_meaning_whatever_the_key_order_or_number_form(x, a, b, changed, which) -> None:
    index = index_of(native_create(x, a, b, reverse=False, prefix=""))
    numbers = {"x": x, "a": a, "b": b}
    other = {**numbers, which: changed}
    if changed != numbers[which]:
        assert take(index, native_create(**other, reverse=True, prefix="+86")) is None  # another number: no match
    assert take(index, native_create(x, a, b, reverse=True, prefix="+86")) == 0
    assert take(index, native_create(x, a, b, reverse=False, prefix="")) is None  # answered once


@PROPERTY
@given(x=mobiles, b=mobiles, changed=mobiles, nonce=nonces, nonce2=nonces, stamp=stamps, stamp2=stamps,
       req_id=nonces, req_id2=nonces)
def test_aliyun_rpc_matches_with_new_nonce_timestamp_signature_and_req_id(
        x, b, changed, nonce, nonce2, stamp, stamp2, req_id, req_id2) -> None:
    index = index_of(aliyun_rpc_bind_xb(x, b, nonce, stamp, req_id, signature="sig1"))
    if changed != b:
        assert take(index, aliyun_rpc_bind_xb(x, changed, nonce2, stamp2, req_id2, signature="sig2")) is None
    assert take(index, aliyun_rpc_bind_xb(x, b, nonce2, stamp2, req_id2, signature="sig2")) == 0


@PROPERTY
@given(x=mobiles, a=mobiles, b=mobiles, changed=mobiles, nonce=nonces, nonce2=nonces, stamp=stamps, stamp2=stamps)
def test_aliyun_acs3_matches_whatever_the_parameter_order(x, a, b, changed, nonce, nonce2, stamp, stamp2) -> None:
    index = index_of(aliyun_acs3_bind_axb(x, a, b, nonce, stamp, reverse=False))
    if changed != x:
        assert take(index, aliyun_acs3_bind_axb(changed, a, b, nonce2, stamp2, reverse=True)) is None
    assert take(index, aliyun_acs3_bind_axb(x, a, b, nonce2, stamp2, reverse=True)) == 0


@PROPERTY
@given(a=mobiles, b=mobiles, changed=mobiles, stamp=stamps, stamp2=stamps, nonce=nonces, legacy=st.booleans())
def test_tencent_matches_across_key_order_number_prefix_and_signing_form(a, b, changed, stamp, stamp2, nonce,
                                                                          legacy) -> None:
    index = index_of(tencent_tc3(a, b, stamp, "sig1", reverse=False, prefix="0086"))
    again = tencent_legacy(a, b, stamp2, nonce, "sig2") if legacy else tencent_tc3(a, b, stamp2, "sig2", True, "")
    if changed != a:
        assert take(index, tencent_tc3(changed, b, stamp2, "sig2", reverse=True, prefix="0086")) is None
    assert take(index, again) == 0


def test_repeats_are_answered_in_arrival_order() -> None:
    """A held request is written after the retry that overtook it: arrival (offset) order wins over seq."""
    params = {"mode": "XB", "b": "13800000003"}
    timeout = exchange(3, "native", "create_binding", params, offset=1.0, status=None, failure=Failure("timeout", 3.0))
    success = exchange(2, "native", "create_binding", params, offset=4.0, status=201)
    first = exchange(1, "native", "create_binding", params, offset=0.0, status=503)
    index = ReplayIndex(recorded_order([success, timeout, first]))
    key = index.keys[0]
    assert [index.exchanges[index.take(key)].seq for _ in range(3)] == [1, 3, 2]
    assert index.take(key) is None
    index.rewind()
    assert index.exchanges[index.take(key)].seq == 1


def test_an_exchange_given_back_is_the_next_answered() -> None:
    params = {"mode": "XB", "b": "13800000003"}
    index = ReplayIndex([exchange(seq, "native", "create_binding", params) for seq in (1, 2)])
    key = index.keys[0]
    first = index.take(key)
    index.take(key)
    index.give_back(first)
    assert index.take(key) == first and index.never_asked() == []


def test_an_aliyun_bind_with_another_wall_clock_expiration_matches_when_nothing_matches_exactly() -> None:
    params = {"pool_key": "FC1", "a": "13900000001", "b": "13800000002", "x": "17000000001",
              "expiration": "2030-01-01 00:00:00"}
    later = dict(params, expiration="2030-01-01 00:00:07")
    index = ReplayIndex([exchange(1, "aliyun", "BindAxb", params), exchange(2, "aliyun", "BindAxb", later)])
    assert index.take(index.keys[1], loose_key("aliyun", "BindAxb", later)) == 1  # exact first
    assert index.take(index.keys[1], loose_key("aliyun", "BindAxb", later)) == 0  # then by meaning without it
    other = dict(params, b="13800000009")
    assert index.peek(index.keys[0], loose_key("aliyun", "BindAxb", other)) is None


# ---- the plan: effects of calls whose outcome the recorder could not know --------------------------


AXB = {"pool_key": "FC1", "a": "13900000001", "b": "13800000002", "expiration": "2030-01-01 00:00:00"}
DETAIL = {"Code": "OK", "SecretBindDetailDTO": {"SubsId": "S1", "PhoneNoA": "13900000001", "PhoneNoB": "13800000002",
                                                "PhoneNoX": "17000000001", "Status": 1,
                                                "ExpireDate": "2030-01-01 00:00:00"}}


def test_a_bind_that_timed_out_took_effect_when_a_later_answer_shows_its_binding() -> None:
    lost = exchange(1, "aliyun", "BindAxb", AXB, status=None, failure=Failure("timeout", 5.0))
    query = exchange(2, "aliyun", "QuerySubscriptionDetail", {"binding_id": "S1", "x": "17000000001"}, body=DETAIL)
    plan = plan_replay([lost, query], STARTED)
    assert plan.effects[0] == CreateBinding("S1", "AXB", "17000000001", "13900000001", "13800000002", "FC1",
                                            plan.effects[0].expires_in)
    assert plan.inferred == [0] and plan.preload == []
    assert "17000000001" in plan.numbers


def test_a_bind_that_timed_out_took_no_effect_without_such_evidence() -> None:
    lost = exchange(1, "aliyun", "BindAxb", AXB, status=None, failure=Failure("timeout", 5.0))
    other = dict(DETAIL, SecretBindDetailDTO=dict(DETAIL["SecretBindDetailDTO"], PhoneNoB="13800000009"))
    query = exchange(2, "aliyun", "QuerySubscriptionDetail", {"binding_id": "S1", "x": "17000000001"}, body=other)
    plan = plan_replay([lost, query], STARTED)
    assert plan.effects == [None, None] and plan.inferred == []
    # The binding it shows was there before the recording: loaded before the first request.
    assert [(b.binding_id, b.b) for b in plan.preload] == [("S1", "13800000009")]


def test_a_bind_that_timed_out_took_effect_when_its_retry_meets_a_conflict() -> None:
    """The ghost's id never reached anyone: the replay's ledger holds its numbers under `ghost-<seq>`."""
    named = dict(AXB, x="17000000001")
    lost = exchange(1, "aliyun", "BindAxb", named, status=None, failure=Failure("timeout", 5.0))
    retry = exchange(2, "aliyun", "BindAxb", named, body={"Code": "isv.BIND_CONFLICT", "Message": "bound"})
    assert plan_replay([lost, retry], STARTED).effects[0] == CreateBinding(
        "ghost-1", "AXB", "17000000001", "13900000001", "13800000002", "FC1")
    refused = exchange(2, "aliyun", "BindAxb", named, body={"Code": "isv.NO_AVAILABLE_NUMBER", "Message": "none"})
    unnamed = exchange(1, "aliyun", "BindAxb", AXB, status=None, failure=Failure("timeout", 5.0))
    unnamed_retry = exchange(2, "aliyun", "BindAxb", AXB, body={"Code": "isv.BIND_CONFLICT", "Message": "bound"})
    assert plan_replay([lost, refused], STARTED).effects[0] is None  # another refusal says nothing
    assert plan_replay([unnamed, unnamed_retry], STARTED).effects[0] is None  # which X? unknown


def test_recorded_applied_false_is_never_inferred() -> None:
    lost = exchange(1, "aliyun", "BindAxb", AXB, status=None, failure=Failure("timeout", 5.0), applied=False)
    query = exchange(2, "aliyun", "QuerySubscriptionDetail", {"binding_id": "S1", "x": "17000000001"}, body=DETAIL)
    assert plan_replay([lost, query], STARTED).effects[0] is None


def test_a_delete_that_timed_out_took_effect_when_the_next_call_on_it_finds_nothing() -> None:
    params = {"binding_id": "bnd_1"}
    lost = exchange(1, "native", "delete_binding", params, status=504, body={"code": "INJECTED_FAULT"})
    gone = exchange(2, "native", "delete_binding", params, status=404, body={"code": "BINDING_NOT_FOUND"})
    assert plan_replay([lost, gone], STARTED).effects[0] == DeleteBinding("bnd_1")
    still = exchange(2, "native", "get_binding", params, status=200,
                     body={"binding_id": "bnd_1", "mode": "XB", "x": "17000000001", "b": "13800000002",
                           "status": "active"})
    assert plan_replay([lost, still], STARTED).effects[0] is None


def test_labels_say_which_line_answered_and_what_the_client_saw() -> None:
    ghost = exchange(4, "native", "create_binding", {}, status=503, fault="ghost_success:503", applied=True)
    timeout = exchange(5, "native", "create_binding", {}, status=None, failure=Failure("timeout", 3.0))
    gateway = exchange(6, "native", "create_binding", {}, status=503, body={"code": "X"})
    assert replay_label(ghost, applied=True) == "replay:seq=4+ghost_success:503"
    assert replay_label(timeout, applied=False) == "replay:seq=5+timeout"
    assert replay_label(gateway, applied=False) == "replay:seq=6+status:503"
    assert replay_label(timeout, applied=True) == "replay:seq=5+timeout+ghost_success"
