"""Hand-made Aliyun requests over loopback: every malformed, unsigned, replayed or ill-typed request gets a POP
gateway error naming the problem and changes nothing. Signed with pstnsim's own signer (checked against the
SDKs' signers in test_aliyun_signing.py)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode

import aiohttp
import pytest

from simulator.dialects.aliyun import signing
from simulator.numbers import PoolSpec

POOL_KEY = "FC100000000000001"
A, B = "13800000001", "13900000002"
SMALL_POOL = PoolSpec(seed=9, cities=("Beijing",), per_city=3, stock_per_city=1)


@pytest.fixture
async def provider(pstnsim_provider_factory):
    return await pstnsim_provider_factory(pool=SMALL_POOL)


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


class Signer:
    def __init__(self, provider) -> None:
        self.provider = provider
        self.host = f"127.0.0.1:{provider.port}"
        self.count = 0

    def nonce(self) -> str:
        self.count += 1
        return f"test-nonce-{self.count}"

    def acs3(self, action: str, query: dict[str, str], *, method: str = "POST", version: str = "2017-05-25",
             secret: str = "pstnsim-secret", body: bytes = b"") -> dict[str, str]:
        return signing.sign_acs3(method=method, host=self.host, action=action, version=version, query=query,
                                 access_key_id="pstnsim-ak", secret=secret, nonce=self.nonce(),
                                 at=self.provider.ledger.clock.now(), body=body)

    def rpc(self, action: str, params: dict[str, str], *, method: str = "GET", **resigned: str) -> dict[str, str]:
        """RPC v1 parameters; `resigned` replaces envelope values (Timestamp...) and signs again."""
        query = signing.sign_rpc(method=method, action=action, version="2017-05-25", params=params,
                                 access_key_id="pstnsim-ak", secret="pstnsim-secret", nonce=self.nonce(),
                                 at=self.provider.ledger.clock.now())
        if resigned:
            query = {**{k: v for k, v in query.items() if k != "Signature"}, **resigned}
            query["Signature"] = signing.rpc_signature("pstnsim-secret", signing.rpc_string_to_sign(method, query.items()))
        return query


def state(provider) -> dict:
    snapshot = provider.ledger.snapshot()
    snapshot.pop("now")
    return snapshot


def expiration(provider) -> str:
    at = provider.ledger.clock.now() + 3600
    return datetime.fromtimestamp(at, tz=timezone(timedelta(hours=8))).strftime("%Y-%m-%d %H:%M:%S")


async def send(http, provider, *, query: dict[str, str], headers: dict[str, str], method: str = "POST",
               body: bytes | None = None) -> tuple[int, dict]:
    url = f"{provider.url}/?{urlencode(query)}" if query else f"{provider.url}/"
    async with http.request(method, url, headers=headers, data=body) as response:
        return response.status, await response.json(content_type=None)


async def test_a_request_signed_with_our_signer_binds(provider, http):
    signer = Signer(provider)
    query = {"PoolKey": POOL_KEY, "PhoneNoA": A, "PhoneNoB": B, "Expiration": expiration(provider)}
    status, body = await send(http, provider, query=query, headers=signer.acs3("BindAxb", query))
    assert (status, body["Code"]) == (200, "OK")
    assert provider.ledger.binding(body["SecretBindDTO"]["SubsId"]).a == A
    query = {"City": "Beijing", "SpecId": "1"}
    status, body = await send(http, provider, method="GET", query=query,
                              headers=signer.acs3("QuerySecretNoRemain", query, method="GET"))
    assert (status, body["SecretRemainDTO"]["Amount"]) == (200, 1)


def _acs3_cases(signer: Signer, provider) -> dict[str, tuple[dict, dict, bytes | None, int, str]]:
    """name -> (query, headers, body, HTTP status, Code); each request is refused before the ledger."""
    bind = {"PoolKey": POOL_KEY, "PhoneNoA": A, "PhoneNoB": B, "Expiration": expiration(provider)}
    tampered = signer.acs3("BindAxb", bind)
    unsigned = {k: v for k, v in signer.acs3("BindAxb", bind).items() if k != "Authorization"}
    wrong_hash = signer.acs3("BindAxb", bind)
    return {
        "tampered query": ({**bind, "PhoneNoB": "13900000009"}, tampered, None, 400, "SignatureDoesNotMatch"),
        "no Authorization": (bind, unsigned, None, 400, "IncompleteSignature"),
        "garbled Authorization": (bind, {**unsigned, "Authorization": "ACS3-HMAC-SHA256 junk"}, None, 400,
                                  "IncompleteSignature"),
        "other algorithm": (bind, {**unsigned, "Authorization": "ACS3-HMAC-SM3 Credential=a,SignedHeaders=host,"
                                   "Signature=00"}, None, 400, "IncompleteSignature"),
        "body under the hash": (bind, wrong_hash, b"PhoneNoB=13900000009", 400, "SignatureDoesNotMatch"),
        "wrong version": (bind, signer.acs3("BindAxb", bind, version="2019-01-01"), None, 400, "InvalidVersion"),
        "unsupported action": ({}, signer.acs3("BindAxg", {}), None, 404, "InvalidAction.NotFound"),
        "missing PhoneNoA": ({**bind, "PhoneNoA": ""}, signer.acs3("BindAxb", {**bind, "PhoneNoA": ""}), None, 400,
                             "MissingPhoneNoA"),
        "unknown parameter": ({**bind, "Colour": "red"}, signer.acs3("BindAxb", {**bind, "Colour": "red"}), None,
                              400, "InvalidParameter"),
        "boolean that is not": ({**bind, "IsRecordingEnabled": "yes"},
                                signer.acs3("BindAxb", {**bind, "IsRecordingEnabled": "yes"}), None, 400,
                                "InvalidParameter"),
        "integer that is not": ({**bind, "CallTimeout": "ten"}, signer.acs3("BindAxb", {**bind, "CallTimeout": "ten"}),
                                None, 400, "InvalidParameter"),
        "ReqId too long": (q := {"CustomerPoolKey": POOL_KEY, "ReqId": "r" * 21, "TelX": A, "TelB": B},
                           signer.acs3("BindXB", q), None, 400, "InvalidParameter"),
        "neither PoolKey nor ProductType": (q2 := {"SubsId": "bnd_00000001", "SecretNo": A},
                                            signer.acs3("UnbindSubscription", q2), None, 400, "MissingPoolKey"),
    }


CASES = ["tampered query", "no Authorization", "garbled Authorization", "other algorithm", "body under the hash",
         "wrong version", "unsupported action", "missing PhoneNoA", "unknown parameter", "boolean that is not",
         "integer that is not", "ReqId too long", "neither PoolKey nor ProductType"]


@pytest.mark.parametrize("case", CASES)
async def test_bad_requests_get_a_gateway_error_naming_the_problem(provider, http, case):
    query, headers, body, status, code = _acs3_cases(Signer(provider), provider)[case]
    before = state(provider)
    got_status, got = await send(http, provider, query=query, headers=headers, body=body)
    assert (got_status, got["Code"]) == (status, code), got
    assert got["Message"] and got["RequestId"] and got["HostId"]
    assert state(provider) == before


async def test_an_exact_replay_is_refused_as_a_reused_nonce(provider, http):
    query = {"PoolKey": POOL_KEY, "PhoneNoA": A, "PhoneNoB": B, "Expiration": expiration(provider)}
    headers = Signer(provider).acs3("BindAxb", query)
    assert (await send(http, provider, query=query, headers=headers))[1]["Code"] == "OK"
    before = state(provider)
    status, body = await send(http, provider, query=query, headers=headers)
    assert (status, body["Code"]) == (400, "SignatureNonceUsed")
    assert state(provider) == before


async def test_rpc_requests_are_checked_the_same_way(provider, http):
    signer = Signer(provider)
    signed = signer.rpc("QuerySecretNoRemain", {"City": "Beijing", "SpecId": "1"})
    assert (await send(http, provider, method="GET", query=signed, headers={}))[1]["Code"] == "OK"
    status, body = await send(http, provider, method="GET", query={**signed, "City": "Shanghai"}, headers={})
    assert (status, body["Code"]) == (400, "SignatureDoesNotMatch")
    garbled = signer.rpc("QuerySecretNoRemain", {"City": "Beijing", "SpecId": "1"}, Timestamp="2020-01-01")
    status, body = await send(http, provider, method="GET", query=garbled, headers={})
    assert (status, body["Code"]) == (400, "InvalidTimeStamp.Format")
    stale = signer.rpc("QuerySecretNoRemain", {"City": "Beijing", "SpecId": "1"}, Timestamp="2020-01-01T00:00:00Z")
    status, body = await send(http, provider, method="GET", query=stale, headers={})
    assert (status, body["Code"]) == (400, "InvalidTimeStamp.Expired")
    unknown_key = {**signer.rpc("QuerySecretNoRemain", {"City": "Beijing", "SpecId": "1"}), "AccessKeyId": "x"}
    status, body = await send(http, provider, method="GET", query=unknown_key, headers={})
    assert (status, body["Code"]) == (404, "InvalidAccessKeyId.NotFound")
    sha256 = {**signer.rpc("QuerySecretNoRemain", {"City": "Beijing", "SpecId": "1"}), "SignatureMethod": "HMAC-SHA256"}
    status, body = await send(http, provider, method="GET", query=sha256, headers={})
    assert (status, body["Code"]) == (400, "InvalidSignatureMethod")


async def test_a_form_body_that_is_not_utf8_is_refused(provider, http):
    signed = Signer(provider).rpc("QuerySecretNoRemain", {"SpecId": "1"}, method="POST")
    status, body = await send(http, provider, query=signed, headers={"Content-Type": "application/x-www-form-urlencoded"},
                              body=b"City=\xff\xfe")
    assert (status, body["Code"]) == (400, "InvalidParameter")


async def test_an_oversize_body_is_refused(provider, http):
    headers = Signer(provider).acs3("QuerySecretNoRemain", {"City": "Beijing", "SpecId": "1"})
    status, _ = await send(http, provider, query={"City": "Beijing", "SpecId": "1"}, headers=headers,
                           body=b"x" * (provider.config.max_body_bytes + 1))
    assert status == 413


async def test_request_ids_replay_with_the_seed(pstnsim_provider_factory, http):
    ids = []
    for _ in range(2):
        provider = await pstnsim_provider_factory(pool=SMALL_POOL, seed=11)
        query = {"City": "Beijing", "SpecId": "1"}
        ids.append([(await send(http, provider, query=query, headers=Signer(provider).acs3("QuerySecretNoRemain",
                                                                                           query)))[1]["RequestId"]
                    for _ in range(3)])
    assert ids[0] == ids[1] and len(set(ids[0])) == 3
