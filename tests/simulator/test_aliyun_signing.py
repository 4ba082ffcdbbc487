"""The Aliyun verifiers against the vendor SDKs' own signers: accept what they sign, refuse any change."""

from __future__ import annotations

import hashlib

import pytest
from alibabacloud_tea_openapi.utils import Utils as TeaUtils
from aliyunsdkcore.auth.composer import rpc_signature_composer
from darabonba.request import DaraRequest

from simulator.dialects.aliyun import signing

SECRET = "pstnsim-secret"
QUERY = {"PoolKey": "FC100000000000001", "PhoneNoA": "13800000001", "Expiration": "2026-01-01 10:00:00",
         "OutId": "a b/c*d~e(f)'g", "IsRecordingEnabled": "True"}


def sdk_acs3_request(query: dict[str, str]) -> tuple[DaraRequest, str]:
    """A request signed by the Tea SDK's own ACS3 signer, as the SDK builds it."""
    request = DaraRequest()
    request.method = "POST"
    request.pathname = "/"
    request.query = dict(query)
    request.headers = {
        "host": "127.0.0.1:8090",
        "x-acs-version": "2017-05-25",
        "x-acs-action": "BindAxb",
        "user-agent": "AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2",
        "x-acs-date": "2026-01-01T00:00:00Z",
        "x-acs-signature-nonce": "0123456789abcdef0123456789abcdef",
        "accept": "application/json",
        "x-acs-content-sha256": signing.EMPTY_SHA256,
        "x-acs-credentials-provider": "static_ak",
    }
    auth = TeaUtils.get_authorization(request, signing.ACS3, signing.EMPTY_SHA256, "pstnsim-ak", SECRET)
    return request, auth


def verify(request: DaraRequest, auth: str, *, query=None, body: bytes = b"", secret: str = SECRET) -> None:
    signing.verify_acs3(
        method=request.method,
        query=list((query if query is not None else request.query).items()),
        headers={k: [v] for k, v in request.headers.items()},
        body=body,
        authorization=signing.parse_acs3_authorization(auth),
        secret=secret,
    )


def test_acs3_accepts_the_sdk_signature():
    request, auth = sdk_acs3_request(QUERY)
    verify(request, auth)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda r: r.query.__setitem__("PhoneNoA", "13800000002"),
        lambda r: r.query.__setitem__("Extra", "1"),
        lambda r: r.headers.__setitem__("x-acs-action", "UnbindSubscription"),
        lambda r: r.headers.__setitem__("host", "127.0.0.1:8091"),
        lambda r: r.headers.__setitem__("x-acs-date", "2026-01-01T00:00:01Z"),
    ],
    ids=["query value", "added parameter", "action header", "host", "date"],
)
def test_acs3_refuses_a_tampered_request(tamper):
    request, auth = sdk_acs3_request(QUERY)
    tamper(request)
    with pytest.raises(signing.SignatureError) as refused:
        verify(request, auth)
    assert refused.value.code == "SignatureDoesNotMatch"


def test_acs3_refuses_the_wrong_secret_and_a_body_that_does_not_match_its_hash():
    request, auth = sdk_acs3_request(QUERY)
    with pytest.raises(signing.SignatureError, match="server string to sign"):
        verify(request, auth, secret="other")
    with pytest.raises(signing.SignatureError, match="x-acs-content-sha256"):
        verify(request, auth, body=b"smuggled")


def test_acs3_refuses_a_signature_that_leaves_the_action_unsigned():
    request, auth = sdk_acs3_request(QUERY)
    unsigned = auth.replace("x-acs-action;", "")
    with pytest.raises(signing.SignatureError) as refused:
        verify(request, unsigned)
    assert refused.value.code == "IncompleteSignature"


def test_our_acs3_signer_matches_the_sdk():
    headers = signing.sign_acs3(method="POST", host="127.0.0.1:8090", action="BindAxb", version="2017-05-25",
                                query=QUERY, access_key_id="pstnsim-ak", secret=SECRET,
                                nonce="0123456789abcdef0123456789abcdef", at=1767225600.0)
    request = DaraRequest()
    request.method, request.pathname, request.query = "POST", "/", dict(QUERY)
    request.headers = {k: v for k, v in headers.items() if k != "Authorization"}
    assert headers["Authorization"] == TeaUtils.get_authorization(request, signing.ACS3, hashlib.sha256(b"").hexdigest(),
                                                                   "pstnsim-ak", SECRET)


def rpc_params() -> dict[str, str]:
    return {**QUERY, "Action": "BindAxb", "Version": "2017-05-25", "Format": "JSON", "AccessKeyId": "pstnsim-ak",
            "SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0", "SignatureNonce": "n-1",
            "Timestamp": "2026-01-01T00:00:00Z", "SignatureType": ""}


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_rpc_accepts_both_sdks_signatures_and_refuses_changes(method):
    params = rpc_params()
    tea = TeaUtils.get_rpcsignature(dict(params), method, SECRET)
    core_params = dict(params)  # the core SDK refreshes nonce and timestamp in place
    _, core_string = rpc_signature_composer.get_signed_url(core_params, "pstnsim-ak", SECRET, "JSON", method, {})
    assert signing.rpc_string_to_sign(method, core_params.items()) == core_string
    signing.verify_rpc(method=method, params=[*params.items(), ("Signature", tea)], secret=SECRET)
    changed = {**params, "PhoneNoA": "13800000002"}
    with pytest.raises(signing.SignatureError) as refused:
        signing.verify_rpc(method=method, params=[*changed.items(), ("Signature", tea)], secret=SECRET)
    assert refused.value.code == "SignatureDoesNotMatch"
    assert refused.value.message.split(":")[1] == signing.rpc_string_to_sign(method, changed.items())


def test_our_rpc_signer_matches_the_sdk():
    signed = signing.sign_rpc(method="GET", action="BindAxb", version="2017-05-25", params=QUERY,
                              access_key_id="pstnsim-ak", secret=SECRET, nonce="n-1", at=1767225600.0)
    unsigned = {k: v for k, v in signed.items() if k != "Signature"}
    assert signed["Signature"] == TeaUtils.get_rpcsignature(unsigned, "GET", SECRET)


def test_replay_guard_refuses_stale_future_and_reused_nonces():
    guard = signing.ReplayGuard(window=900)
    guard.check("ak", "n1", signed_at=1000.0, now=1000.0)
    with pytest.raises(signing.SignatureError) as reused:
        guard.check("ak", "n1", signed_at=1001.0, now=1001.0)
    assert reused.value.code == "SignatureNonceUsed"
    guard.check("other-ak", "n1", signed_at=1001.0, now=1001.0)  # nonces are per AccessKey
    for signed_at in (1000.0 - 901, 1000.0 + 901):
        with pytest.raises(signing.SignatureError) as stale:
            guard.check("ak", f"n-{signed_at}", signed_at=signed_at, now=1000.0)
        assert stale.value.code == "InvalidTimeStamp.Expired"


def test_replay_guard_forgets_only_nonces_that_can_no_longer_be_replayed():
    guard = signing.ReplayGuard(window=10)
    for i in range(1100):
        guard.check("ak", f"old-{i}", signed_at=0.0, now=0.0)
    guard.check("ak", "recent", signed_at=25.0, now=25.0)  # purges the old ones (> 2 windows ago)
    guard.check("ak", "old-1", signed_at=25.0, now=25.0)  # forgotten, and a fresh timestamp: accepted
    with pytest.raises(signing.SignatureError):
        guard.check("ak", "recent", signed_at=26.0, now=26.0)
