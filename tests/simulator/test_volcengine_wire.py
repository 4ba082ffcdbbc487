"""Bad input on the vms wire: each refusal is Volcengine's envelope (`ResponseMetadata.Error`), and changes nothing.

Requests the SDK would never send are signed here with the SDK's own signer
(`volcengine.auth.SignerV4`), so they reach the checks behind the signature.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable

import pytest
import requests
from volcengine.auth.SignerV4 import SignerV4
from volcengine.base.Request import Request
from volcengine.Credentials import Credentials

from simulator.config import ProviderConfig

from .test_volcengine_sdk import A, B, POOL, active, error, expire, vms


@pytest.fixture
def tp(threaded_provider: Callable[..., Any]) -> Any:
    return threaded_provider(ProviderConfig(seed=5))


def signed_post(tp: Any, query: dict[str, str], body: bytes, *, content_type: str = "application/x-www-form-urlencoded",
                tamper: bytes | None = None, sign: bool = True) -> requests.Response:
    request = Request()
    request.set_schema("http")
    request.set_method("POST")
    request.set_host(tp.endpoint)
    request.set_path("/")
    request.set_query(OrderedDict(query))
    request.set_headers(OrderedDict({"Host": tp.endpoint, "Content-Type": content_type}))
    request.body = body
    if sign:
        SignerV4.sign(request, Credentials("pstnsim-ak", "pstnsim-secret", "vms", "cn-north-1"))
    return requests.post(request.build(), headers=dict(request.headers), data=tamper if tamper is not None else body,
                         timeout=5)


def refusal(response: requests.Response) -> tuple[int, str]:
    body = response.json()
    assert body["ResponseMetadata"]["RequestId"] and "Result" not in body
    return response.status_code, body["ResponseMetadata"]["Error"]["Code"]


FORM = f"NumberPoolNo={POOL}&PhoneNoA={A}&PhoneNoB={B}&ExpireTime=".encode()


@pytest.mark.parametrize("query,body,expected", [
    ({"Version": "2022-01-01"}, b"", (400, "MissingParameter")),
    ({"Action": "SelectNumberAndBindAXB"}, FORM, (400, "MissingParameter")),
    ({"Action": "SelectNumberAndBindAXB", "Version": "2099-01-01"}, FORM, (404, "InvalidActionOrVersion")),
    ({"Action": "BindAXYZ", "Version": "2022-01-01"}, FORM, (404, "InvalidActionOrVersion")),
    ({"Action": "SelectNumberAndBindAXB", "Version": "2022-01-01"}, b"\xff\xfe=\x00", (400, "InvalidParameter")),
    ({"Action": "SelectNumberAndBindAXB", "Version": "2022-01-01"}, FORM + b"1&PhoneNoA=" + A.encode(),
     (400, "InvalidParameter")),
    ({"Action": "SelectNumberAndBindAXB", "Version": "2022-01-01"}, FORM + b"soon", (400, "InvalidParameter")),
    ({"Action": "SelectNumberAndBindAXB", "Version": "2022-01-01"}, FORM + b"99999999999&Colour=red",
     (400, "InvalidParameter")),
    ({"Action": "SelectNumberAndBindAXB", "Version": "2022-01-01"}, f"NumberPoolNo={POOL}".encode(),
     (400, "MissingParameter")),
], ids=["no-action", "no-version", "unknown-version", "unknown-action", "not-utf8", "field-twice", "expire-not-int",
        "unknown-field", "missing-field"])
def test_bad_requests_get_the_envelope_and_change_nothing(tp: Any, query: dict, body: bytes, expected: tuple) -> None:
    assert refusal(signed_post(tp, query, body)) == expected
    assert active(tp) == []


def test_a_json_body_is_refused_for_a_form_action(tp: Any) -> None:
    response = signed_post(tp, {"Action": "NumberPoolList", "Version": "2022-01-01"}, b'{"Limit": 5}',
                           content_type="application/json")
    assert refusal(response) == (400, "InvalidParameter")


def test_an_unsigned_request_is_missing_authentication(tp: Any) -> None:
    response = signed_post(tp, {"Action": "SelectNumberAndBindAXB", "Version": "2022-01-01"}, FORM + expire().encode(),
                           sign=False)
    assert refusal(response) == (401, "MissingAuthenticationToken") and active(tp) == []


def test_a_body_changed_after_signing_does_not_match(tp: Any) -> None:
    good = FORM + expire().encode()
    response = signed_post(tp, {"Action": "SelectNumberAndBindAXB", "Version": "2022-01-01"}, good,
                           tamper=good.replace(B.encode(), b"13800000009"))
    assert refusal(response) == (401, "SignatureDoesNotMatch") and active(tp) == []


def test_wrong_types_through_the_sdk_name_the_field(tp: Any) -> None:
    service = vms(tp)
    reply = service.number_list({"NumberPoolNo": POOL, "Limit": "ten"})
    assert error(reply)["Code"] == "InvalidParameter" and "Limit" in error(reply)["Message"]
    reply = service.update_axb({"NumberPoolNo": POOL, "SubId": "bnd_00000001", "UpdateType": "updateExpireTime"})
    assert error(reply)["Code"] in ("MissingParameter", "SubIdNotExist")


def test_a_request_for_another_vendor_is_not_claimed(tp: Any) -> None:
    """An Aliyun RPC form (Version 2017-05-25) still reaches Aliyun, not vms."""
    response = requests.post(f"{tp.url}/?Action=QuerySubsId&Version=2017-05-25", timeout=5)
    assert "ResponseMetadata" not in response.text


def test_a_trace_reads_the_meaning_of_a_vms_request_without_its_signature() -> None:
    from simulator.traces.meaning import detect_dialect, match_key, meaning_of

    query = "Action=BindAXB&Version=2022-01-01"
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Authorization": "HMAC-SHA256 Credential=ak/...",
               "X-Date": "20261201T000000Z", "X-Content-Sha256": "ab"}
    body = f"NumberPoolNo={POOL}&PhoneNoA=%2B86{A}&PhoneNoB={B}&PhoneNoX=13000000000&ExpireTime=9&OutId=o1".encode()
    assert detect_dialect("POST", "/", headers, query) == "volcengine"
    meaning = meaning_of("volcengine", "POST", "/", query, headers, body)
    assert meaning.action == "BindAXB"
    assert meaning.params == {"pool_key": POOL, "a": A, "b": B, "x": "13000000000", "expiration": "9", "OutId": "o1"}
    resent = meaning_of("volcengine", "POST", "/", query, {**headers, "X-Date": "20261201T000001Z"},
                        body.replace(b"o1", b"o2"))
    assert match_key("volcengine", resent.action, resent.params) == meaning.key  # OutId is a correlation id
