"""Vendor credentials never reach the journal or the trace: secrets and signatures are never written.

Each request is signed with a custom key (distinctive strings the test can search
for) and sent over loopback; then the admin journal and the `--trace` line of that
exchange must hold neither the key id, nor the secret, nor the signature, whether
the request was accepted or refused (a refusal may echo the key id back).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest

from simulator.config import AliyunCredentials, TencentCredentials
from simulator.dialects.aliyun import signing as aliyun_signing
from simulator.dialects.tencent import signing as tencent_signing
from simulator.traces import read_trace

AK_ID, AK_SECRET = "LTAIcustomKeyId7788", "aliyun-very-secret-9911"
SECRET_ID, SECRET_KEY = "AKIDcustomSecretId4455", "tencent-very-secret-6633"
POOL_KEY = "FC100000000000001"
A, B = "13800000001", "13900000002"


@pytest.fixture
async def provider(pstnsim_provider_factory: Any, tmp_path: Any) -> Any:
    return await pstnsim_provider_factory(
        trace_file=tmp_path / "trace.jsonl",
        aliyun=(AliyunCredentials(access_key_id=AK_ID, access_key_secret=AK_SECRET),),
        tencent=(TencentCredentials(secret_id=SECRET_ID, secret_key=SECRET_KEY),),
    )


async def exchange_records(provider: Any) -> tuple[dict, dict]:
    """The one journaled exchange, as the admin API serves it and as the trace wrote it."""
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{provider.admin_url}/journal") as response:
            [entry] = (await response.json())["entries"]
    [line] = read_trace(provider.config.trace_file).exchanges
    return entry, _journal_shape(line)


def _journal_shape(line: Any) -> dict:
    """A trace line in the journal's field names, so one assertion reads both."""
    return {"operation": line.action, "b": line.params.get("b"), "query": line.request["query"],
            "request_body": line.request["body"], "request_headers": line.request["headers"],
            "response_body": (line.response or {}).get("body"), "params": line.params}


def assert_leaks_nothing(records: tuple[dict, dict], *never: str) -> None:
    for record in records:
        text = json.dumps(record, ensure_ascii=False)
        for value in never:
            assert value not in text, (value, record)


def rpc_query(provider: Any, method: str, *, secret: str = AK_SECRET, key_id: str = AK_ID) -> dict[str, str]:
    return aliyun_signing.sign_rpc(
        method=method, action="BindAxb", version="2017-05-25", access_key_id=key_id, secret=secret,
        nonce="nonce-1", at=provider.ledger.clock.now(),
        params={"PoolKey": POOL_KEY, "PhoneNoA": A, "PhoneNoB": B, "Expiration": "2099-01-01 00:00:00"},
    )


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_an_accepted_aliyun_rpc_request_is_journaled_without_key_id_secret_or_signature(provider, method):
    query = rpc_query(provider, method)
    async with aiohttp.ClientSession() as session:
        if method == "GET":
            sent = session.get(f"{provider.url}/?{urlencode(query)}")
        else:  # the RPC parameters as a form body
            sent = session.post(f"{provider.url}/", data=query)
        async with sent as response:
            body = await response.json(content_type=None)
    assert body["Code"] == "OK", body  # the custom key was accepted
    records = await exchange_records(provider)
    assert_leaks_nothing(records, AK_ID, AK_SECRET, query["Signature"])
    for record in records:
        logged = record["query"] if method == "GET" else record["request_body"]
        assert "AccessKeyId=LTA***" in logged and "Signature=***" in logged  # a hint, not the key
        assert record["operation"] == "BindAxb" and record["b"] == B


async def test_a_refused_aliyun_request_does_not_leak_the_key_id_its_error_echoes(provider):
    unknown = "LTAIsomeOtherKey1234"
    query = rpc_query(provider, "GET", key_id=unknown)
    async with aiohttp.ClientSession() as session, session.get(f"{provider.url}/?{urlencode(query)}") as response:
        body = await response.json(content_type=None)
    assert body["Code"] == "InvalidAccessKeyId.NotFound" and unknown in body["Message"]
    records = await exchange_records(provider)
    assert_leaks_nothing(records, unknown, query["Signature"])
    assert all(record["response_body"]["Code"] == "InvalidAccessKeyId.NotFound" for record in records)


async def test_a_wrong_aliyun_signature_does_not_leak_the_key_id_in_the_string_to_sign(provider):
    query = rpc_query(provider, "GET", secret="not-the-secret")
    async with aiohttp.ClientSession() as session, session.get(f"{provider.url}/?{urlencode(query)}") as response:
        body = await response.json(content_type=None)
    assert body["Code"] == "SignatureDoesNotMatch" and "AccessKeyId" in body["Message"]
    assert_leaks_nothing(await exchange_records(provider), AK_ID, AK_SECRET, query["Signature"])


async def test_an_aliyun_acs3_request_is_journaled_without_its_credential(provider):
    query = {"PoolKey": POOL_KEY, "PhoneNoA": A, "PhoneNoB": B, "Expiration": "2099-01-01 00:00:00"}
    headers = aliyun_signing.sign_acs3(
        method="POST", host=f"127.0.0.1:{provider.port}", action="BindAxb", version="2017-05-25", query=query,
        access_key_id=AK_ID, secret=AK_SECRET, nonce="nonce-2", at=provider.ledger.clock.now(),
    )
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{provider.url}/?{urlencode(query)}", headers=headers) as response:
            assert (await response.json(content_type=None))["Code"] == "OK"
    signature = headers["Authorization"].rsplit("Signature=", 1)[1]
    assert_leaks_nothing(await exchange_records(provider), AK_ID, AK_SECRET, signature)


async def test_a_tencent_tc3_request_is_journaled_without_its_secret_id(provider):
    body = json.dumps({"BizAppId": "pstnsim", "Dst": "0086" + B}).encode()
    timestamp = int(provider.ledger.clock.now())
    host = f"127.0.0.1:{provider.port}"
    canonical = tencent_signing.tc3_canonical_request(
        "POST", "", {"content-type": "application/json", "host": host}, ("content-type", "host"), body
    )
    authorization = tencent_signing.tc3_authorization(SECRET_ID, SECRET_KEY, timestamp, canonical)
    headers = {"Content-Type": "application/json", "Host": host, "X-TC-Action": "GetVirtualNum",
               "X-TC-Version": "2019-08-23", "X-TC-Timestamp": str(timestamp), "Authorization": authorization}
    async with aiohttp.ClientSession() as session, session.post(f"{provider.url}/", data=body, headers=headers) as r:
        reply = await r.json(content_type=None)
    assert "Error" not in reply["Response"], reply
    records = await exchange_records(provider)
    assert_leaks_nothing(records, SECRET_ID, SECRET_KEY, authorization.rsplit("Signature=", 1)[1])
    assert all(record["request_headers"]["authorization"] == "***" for record in records)


@pytest.mark.parametrize("secret_id", [SECRET_ID, "AKIDunknownSecretId0000"])
async def test_a_tencent_legacy_form_is_journaled_without_its_secret_id(provider, secret_id):
    host = f"127.0.0.1:{provider.port}"
    form = {"Action": "GetVirtualNum", "Version": "2019-08-23", "SecretId": secret_id, "Nonce": "17",
            "Timestamp": str(int(provider.ledger.clock.now())), "SignatureMethod": "HmacSHA256",
            "BizAppId": "pstnsim", "Dst": "0086" + B}
    form["Signature"] = tencent_signing.legacy_signature(
        SECRET_KEY, tencent_signing.legacy_string_to_sign("POST", host, form), "HmacSHA256"
    )
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{provider.url}/", data=form, headers={"Host": host}) as response:
            reply = await response.json(content_type=None)
    if secret_id == SECRET_ID:
        assert "Error" not in reply["Response"], reply
    else:  # refused, and the refusal names the SecretId it could not find
        assert secret_id in reply["Response"]["Error"]["Message"]
    records = await exchange_records(provider)
    assert_leaks_nothing(records, secret_id, SECRET_KEY, form["Signature"])
    assert all("SecretId=AKI***" in record["request_body"] for record in records)
