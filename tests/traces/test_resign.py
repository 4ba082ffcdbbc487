"""Re-signing: a request signed for one endpoint and key, re-signed for another, passes the other's gateway
checks (the simulator's own verifiers) in the form it came in, with a fresh timestamp and nonce."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl, urlencode

import pytest

from simulator.config import AliyunCredentials, TencentCredentials
from simulator.dialects.aliyun import signing as aliyun
from simulator.dialects.tencent import signing as tencent
from simulator.dialects.tencent.auth import Authenticator
from simulator.dialects.tencent.errors import GatewayError
from simulator.dialects.tencent.wire import parse_request
from simulator.traces.meaning import meaning_of
from simulator.traces.resign import ResignError, resign

SIGNED_AT = 1_780_000_000.0
NOW = SIGNED_AT + 3600  # an hour later: the old timestamp would be stale at any gateway
LOCAL_ALIYUN = AliyunCredentials()  # pstnsim-ak / pstnsim-secret
UPSTREAM_ALIYUN = AliyunCredentials(access_key_id="LTAIupstream0001", access_key_secret="up-secret-aliyun",
                                    pool_key="FC200000000000002")
LOCAL_TENCENT = TencentCredentials()
UPSTREAM_TENCENT = TencentCredentials(secret_id="AKIDupstream0001", secret_key="up-secret-tencent", biz_app_id="app-up")
PROXY, UPSTREAM = "127.0.0.1:9001", "127.0.0.1:9002"
BIND = {"PoolKey": "FC100000000000001", "PhoneNoA": "13800000001", "PhoneNoB": "13900000002",
        "Expiration": "2030-01-01 00:00:00"}


# ---- Aliyun ------------------------------------------------------------------------------------------


def acs3_request(params: dict[str, str], *, extra_signed: bool = True) -> tuple[str, dict[str, str]]:
    """An ACS3 request as the Tea SDK sends it (it also signs accept and user-agent)."""
    query = "&".join(f"{k}={aliyun.percent_encode(v)}" for k, v in params.items())
    headers = aliyun.sign_acs3(method="POST", host=PROXY, action="BindAxb", version="2017-05-25", query=params,
                               access_key_id=LOCAL_ALIYUN.access_key_id, secret=LOCAL_ALIYUN.access_key_secret,
                               nonce="n-original", at=SIGNED_AT)
    if extra_signed:
        headers = {"Accept": "application/json", "User-Agent": "AlibabaCloud TeaDSL/2", **headers}
        signed = "accept;host;user-agent;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version"
        headers["Authorization"] = headers["Authorization"].replace(
            "SignedHeaders=" + ";".join(aliyun.ACS3_SIGNED_HEADERS), "SignedHeaders=" + signed)
    return query, {**headers, "Content-Length": "0", "Connection": "keep-alive"}


def verify_acs3(query: str, headers: dict[str, str], body: bytes, secret: str) -> aliyun.Acs3Authorization:
    auth = aliyun.parse_acs3_authorization(headers["Authorization"])
    lower = {k.lower(): [v] for k, v in headers.items()}
    aliyun.verify_acs3(method="POST", query=parse_qsl(query, keep_blank_values=True), headers=lower, body=body,
                       authorization=auth, secret=secret)
    return auth


def test_acs3_is_re_signed_for_the_upstream_host_key_and_time_and_stays_acs3():
    query, headers = acs3_request(BIND)
    new_query, new_headers, body = resign("aliyun", "POST", "/", query, headers, b"", credentials=UPSTREAM_ALIYUN,
                                          host=UPSTREAM, now=NOW, nonce="n-fresh")
    auth = verify_acs3(new_query, new_headers, body, UPSTREAM_ALIYUN.access_key_secret)
    assert auth.access_key_id == UPSTREAM_ALIYUN.access_key_id
    assert {"accept", "user-agent", "host"} <= set(auth.signed_headers)  # what the caller signed stays signed
    assert new_headers["Host"] == UPSTREAM and "Content-Length" not in new_headers and "Connection" not in new_headers
    assert new_headers["x-acs-date"] == aliyun.format_timestamp(NOW)
    assert new_headers["x-acs-signature-nonce"] == "n-fresh"
    assert "Signature" not in dict(parse_qsl(new_query))  # still ACS3, not turned into RPC
    params = dict(parse_qsl(new_query))
    assert params == {**BIND, "PoolKey": UPSTREAM_ALIYUN.pool_key}  # the upstream account's pool
    with pytest.raises(aliyun.SignatureError):
        verify_acs3(new_query, new_headers, body, LOCAL_ALIYUN.access_key_secret)


def test_each_re_signing_draws_a_new_nonce():
    query, headers = acs3_request(BIND)
    nonces = {resign("aliyun", "POST", "/", query, headers, b"", credentials=UPSTREAM_ALIYUN, host=UPSTREAM,
                     now=NOW)[1]["x-acs-signature-nonce"] for _ in range(3)}
    assert len(nonces) == 3 and "n-original" not in nonces


def test_a_pool_key_is_left_alone_when_the_credentials_carry_none():
    query, headers = acs3_request(BIND)
    keep_pool = type("Key", (), {"access_key_id": "LTAIupstream0001", "access_key_secret": "s", "pool_key": None})()
    new_query, _, _ = resign("aliyun", "POST", "/", query, headers, b"", credentials=keep_pool, host=UPSTREAM, now=NOW)
    assert dict(parse_qsl(new_query))["PoolKey"] == BIND["PoolKey"]


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_rpc_with_the_signature_in_the_query_stays_rpc_in_the_query(method):
    params = aliyun.sign_rpc(method=method, action="QuerySecretNoRemain", version="2017-05-25",
                             params={"City": "Beijing", "SpecId": "1", "SecurityToken": "local-sts-token"},
                             access_key_id=LOCAL_ALIYUN.access_key_id, secret=LOCAL_ALIYUN.access_key_secret,
                             nonce="n-original", at=SIGNED_AT)
    query = "&".join(f"{k}={aliyun.percent_encode(v)}" for k, v in params.items())
    new_query, headers, body = resign("aliyun", method, "/", query, {"Host": PROXY}, None,
                                      credentials=UPSTREAM_ALIYUN, host=UPSTREAM, now=NOW)
    pairs = parse_qsl(new_query, keep_blank_values=True)
    aliyun.verify_rpc(method=method, params=pairs, secret=UPSTREAM_ALIYUN.access_key_secret)
    sent = dict(pairs)
    assert (sent["AccessKeyId"], sent["Timestamp"]) == (UPSTREAM_ALIYUN.access_key_id, aliyun.format_timestamp(NOW))
    assert sent["SignatureNonce"] != "n-original" and "SecurityToken" not in sent
    assert (body, headers) == (b"", {"Host": UPSTREAM})
    assert meaning_of("aliyun", method, "/", new_query, headers, body).params == {"City": "Beijing", "SpecId": "1"}


def test_rpc_with_the_signature_in_a_form_body_keeps_it_there():
    params = aliyun.sign_rpc(method="POST", action="BindAxb", version="2017-05-25", params=BIND,
                             access_key_id=LOCAL_ALIYUN.access_key_id, secret=LOCAL_ALIYUN.access_key_secret,
                             nonce="n-original", at=SIGNED_AT)
    form = urlencode(params).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Host": PROXY}
    new_query, new_headers, body = resign("aliyun", "POST", "/", "", headers, form, credentials=UPSTREAM_ALIYUN,
                                          host=UPSTREAM, now=NOW)
    assert new_query == ""
    pairs = parse_qsl(body.decode(), keep_blank_values=True)
    aliyun.verify_rpc(method="POST", params=pairs, secret=UPSTREAM_ALIYUN.access_key_secret)
    assert dict(pairs)["PoolKey"] == UPSTREAM_ALIYUN.pool_key


def test_a_recorded_request_with_scrubbed_signature_and_key_id_is_re_signed():
    """What `trace check` gives it: the trace's query (`Signature=***`, key id hint) and no Authorization."""
    recorded_query = "City=Beijing&SpecId=1&Action=QuerySecretNoRemain&Version=2017-05-25&Format=JSON&" \
                     "Timestamp=2026-01-01T00%3A00%3A00Z&SignatureMethod=HMAC-SHA1&SignatureVersion=1.0&" \
                     "SignatureNonce=abc&AccessKeyId=pst***&Signature=***"
    query, _, _ = resign("aliyun", "GET", "/", recorded_query, {}, None, credentials=LOCAL_ALIYUN, host=UPSTREAM,
                         now=NOW)
    aliyun.verify_rpc(method="GET", params=parse_qsl(query), secret=LOCAL_ALIYUN.access_key_secret)
    recorded_headers = {"authorization": "***", "x-acs-action": "BindAxb", "x-acs-version": "2017-05-25",
                        "x-acs-date": "2026-01-01T00:00:00Z", "x-acs-signature-nonce": "abc"}
    acs3_query = urlencode(BIND)
    query, headers, body = resign("aliyun", "POST", "/", acs3_query, recorded_headers, None,
                                  credentials=LOCAL_ALIYUN, host=UPSTREAM, now=NOW)
    assert verify_acs3(query, headers, body, LOCAL_ALIYUN.access_key_secret).access_key_id == "pstnsim-ak"


def test_a_request_in_no_aliyun_form_is_refused():
    with pytest.raises(ResignError, match="x-acs-action"):
        resign("aliyun", "POST", "/", "City=Beijing", {}, None, credentials=UPSTREAM_ALIYUN, host=UPSTREAM, now=NOW)
    with pytest.raises(ResignError, match="credentials"):
        resign("aliyun", "POST", "/", "", {}, None, credentials=None, host=UPSTREAM, now=NOW)
    with pytest.raises(ResignError, match="unknown dialect"):
        resign("soap", "POST", "/", "", {}, None, credentials=UPSTREAM_ALIYUN, host=UPSTREAM, now=NOW)


# ---- Tencent -------------------------------------------------------------------------------------------


def check_tencent(method: str, query: str, headers: dict[str, str], body: bytes, credentials: TencentCredentials,
                  at: float = NOW):
    """The simulator's Tencent gateway check, with its clock at `at`."""
    wire = parse_request(method, {k.lower(): v for k, v in headers.items()}, query, body)
    return wire, Authenticator([credentials], lambda: at).authenticate(wire)


def tc3_request(method: str, params: dict) -> tuple[str, dict[str, str], bytes]:
    """TC3 as tencentcloud-sdk-python sends it: JSON body on POST, the query on GET, content-type;host signed."""
    timestamp = int(SIGNED_AT)
    if method == "POST":
        query, body, content_type = "", json.dumps(params).encode(), "application/json"
    else:
        query = urlencode([(k, v) for k, v in params.items() if not isinstance(v, list)]
                          + [(f"{k}.{i}", item) for k, v in params.items() if isinstance(v, list)
                             for i, item in enumerate(v)])
        body, content_type = b"", "application/x-www-form-urlencoded"
    headers = {"Content-Type": content_type, "Host": PROXY, "X-TC-Action": "GetVirtualNum",
               "X-TC-Version": "2019-08-23", "X-TC-Timestamp": str(timestamp), "X-TC-Region": "ap-guangzhou",
               "X-TC-Token": "local-session-token", "Accept-Encoding": "gzip, deflate"}
    canonical = tencent.tc3_canonical_request(method, query if method == "GET" else "",
                                              {k.lower(): v for k, v in headers.items()}, ("content-type", "host"),
                                              body if method == "POST" else b"")
    headers["Authorization"] = tencent.tc3_authorization(LOCAL_TENCENT.secret_id, LOCAL_TENCENT.secret_key,
                                                         timestamp, canonical)
    return query, headers, body


GET_VIRTUAL_NUM = {"BizAppId": "pstnsim", "Dst": "008613800000005", "AccreditList": ["008613700000009"]}


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_tc3_is_re_signed_for_the_upstream_and_stays_tc3(method):
    query, headers, body = tc3_request(method, GET_VIRTUAL_NUM)
    check_tencent(method, query, headers, body, LOCAL_TENCENT, at=SIGNED_AT)  # sound as signed, an hour ago
    new_query, new_headers, new_body = resign("tencent", method, "/", query, headers, body,
                                              credentials=UPSTREAM_TENCENT, host=UPSTREAM, now=NOW)
    wire, signer = check_tencent(method, new_query, new_headers, new_body, UPSTREAM_TENCENT)
    assert signer.secret_id == UPSTREAM_TENCENT.secret_id and wire.scheme == "tc3"
    assert new_headers["X-TC-Timestamp"] == str(int(NOW)) and "X-TC-Token" not in new_headers
    assert wire.params == {**GET_VIRTUAL_NUM, "BizAppId": "app-up"}
    with pytest.raises(GatewayError):
        check_tencent(method, new_query, new_headers, new_body, LOCAL_TENCENT)


def test_a_tc3_body_without_bizappid_to_rewrite_is_sent_byte_for_byte():
    query, headers, body = tc3_request("POST", GET_VIRTUAL_NUM)
    same = TencentCredentials(secret_id="AKIDupstream0001", secret_key="k", biz_app_id="pstnsim")
    assert resign("tencent", "POST", "/", query, headers, body, credentials=same, host=UPSTREAM, now=NOW)[2] == body


@pytest.mark.parametrize("method,sign_method", [("POST", "HmacSHA256"), ("GET", "HmacSHA1")])
def test_the_legacy_form_keeps_its_method_and_where_the_signature_was(method, sign_method):
    flat = {"BizAppId": "pstnsim", "Dst": "008613800000005", "AccreditList.0": "008613700000009",
            "Action": "GetVirtualNum", "Version": "2019-08-23", "Region": "ap-guangzhou", "Nonce": "42",
            "Timestamp": str(int(SIGNED_AT)), "SecretId": LOCAL_TENCENT.secret_id, "SignatureMethod": sign_method}
    flat["Signature"] = tencent.legacy_signature(LOCAL_TENCENT.secret_key,
                                                 tencent.legacy_string_to_sign(method, PROXY, flat), sign_method)
    encoded = urlencode(flat)
    query, body = ("", encoded.encode()) if method == "POST" else (encoded, b"")
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Host": PROXY}
    new_query, new_headers, new_body = resign("tencent", method, "/", query, headers, body,
                                              credentials=UPSTREAM_TENCENT, host=UPSTREAM, now=NOW, nonce="n-fresh")
    wire, signer = check_tencent(method, new_query, new_headers, new_body, UPSTREAM_TENCENT)
    assert signer.secret_id == UPSTREAM_TENCENT.secret_id and wire.scheme == "legacy"
    carried = dict(parse_qsl(new_body.decode() if method == "POST" else new_query))
    assert "Signature" in carried and (new_query == "") == (method == "POST")
    assert carried["SignatureMethod"] == sign_method and carried["Nonce"].isdigit() and carried["Nonce"] != "42"
    assert carried["Timestamp"] == str(int(NOW)) and carried["BizAppId"] == "app-up"


def test_a_recorded_tencent_request_with_a_parsed_json_body_is_re_signed():
    """A trace keeps a JSON body as data and the Authorization as `***`."""
    recorded_headers = {"content-type": "application/json", "x-tc-action": "GetVirtualNum",
                        "x-tc-version": "2019-08-23", "x-tc-timestamp": "1", "authorization": "***"}
    query, headers, body = resign("tencent", "POST", "/", "", recorded_headers, dict(GET_VIRTUAL_NUM),
                                  credentials=LOCAL_TENCENT, host=UPSTREAM, now=NOW)
    wire, signer = check_tencent("POST", query, headers, body, LOCAL_TENCENT)
    assert signer.secret_id == "pstnsim-id" and wire.params == GET_VIRTUAL_NUM


def test_native_requests_only_change_host():
    body = {"mode": "XB", "b": "13800000003"}
    query, headers, sent = resign("native", "POST", "/v1/bindings", "a=1", {"Host": PROXY, "Idempotency-Key": "k",
                                                                             "Content-Length": "30"},
                                  body, credentials=None, host=UPSTREAM, now=NOW)
    assert (query, headers, json.loads(sent)) == ("a=1", {"Host": UPSTREAM, "Idempotency-Key": "k"}, body)


# ---- Volcengine -------------------------------------------------------------------------------------------


def test_a_recorded_vms_request_is_re_signed_v4_for_the_host_key_and_pool_and_the_dialect_accepts_it():
    from simulator.config import VolcengineCredentials
    from simulator.dialects.volcengine.auth import Authenticator as VmsAuthenticator
    from simulator.dialects.volcengine.wire import parse_request as parse_vms

    form = urlencode({"NumberPoolNo": "NP-recorded", "PhoneNoA": "13900000001", "PhoneNoB": "13800000002",
                      "ExpireTime": "1767229200"})
    recorded = {"Content-Type": "application/x-www-form-urlencoded", "X-Date": "20260101T000000Z",
                "X-Content-Sha256": "***", "Authorization": "***"}
    key = VolcengineCredentials(access_key_id="AKLTup", secret_access_key="up-secret", number_pool_no="NP42")
    now = 1_767_225_600.0 + 3600
    query, headers, body = resign("volcengine", "POST", "/", "Action=SelectNumberAndBindAXB&Version=2022-01-01",
                                  recorded, form, credentials=key, host="127.0.0.1:9", now=now)
    assert dict(parse_qsl(body.decode()))["NumberPoolNo"] == "NP42"  # the key's pool, as for Aliyun's PoolKey
    wire = parse_vms("POST", "/", {k.lower(): v for k, v in headers.items()}, query, body)
    assert VmsAuthenticator([key], lambda: now).authenticate(wire) == key
    assert headers["X-Date"] == "20260101T010000Z" and headers["Host"] == "127.0.0.1:9"
    with pytest.raises(ResignError, match="Action"):
        resign("volcengine", "POST", "/", "", recorded, form, credentials=key, host="h", now=now)
