"""Finding 5 of issue 11 and its kin: every malformed body a vendor dialect receives is answered in that
vendor's own error envelope (the SDK raises it by code), never pstnsim's generic `UNKNOWN_DIALECT` or a
plain 413, and the ledger does not change. Deep nesting under the size cap used to escape the Tencent
parser as RecursionError."""

from __future__ import annotations

from typing import Any, AsyncIterator

import aiohttp
import pytest

from simulator.server import Provider

from .test_tencent_wire import send

DEEP = b"[" * 50_000  # under the 64 KiB cap, past the JSON parser's recursion limit


def _state(provider: Provider) -> dict[str, Any]:
    snapshot = provider.ledger.snapshot()
    del snapshot["now"]
    return snapshot


@pytest.fixture
async def provider(pstnsim_provider_factory: Any) -> Provider:
    return await pstnsim_provider_factory()


async def _chunks(size: int) -> AsyncIterator[bytes]:
    for _ in range(size // 8192 + 1):
        yield b"a" * 8192


def _tencent_error(reply: tuple[int, str, dict]) -> tuple[str, str]:
    status, content_type, body = reply
    assert status == 200 and content_type == "application/json", reply
    return body["Response"]["Error"]["Code"], body["Response"]["Error"]["Message"]


@pytest.mark.parametrize("body, message", [
    (DEEP, "nested too deeply"),
    (b'{"a":' * 8_000 + b"1" + b"}" * 8_000, "nested too deeply"),
    (b"\xff\xfe{}", "not UTF-8"),
    (b'{"BizAppId": "pstnsim", "BizAppId": "other"}', "'BizAppId' is given more than once"),
    (b'{"BizAppId": ' + b"9" * 5000 + b"}", "not valid JSON"),
    (b"[1, 2]", "must be a JSON object"),
], ids=["deep-array", "deep-object", "bad-utf8", "duplicate-key", "huge-int", "array"])
async def test_tencent_malformed_json_is_an_invalid_parameter_envelope(provider, body, message) -> None:
    before = _state(provider)
    code, text = _tencent_error(await send(provider, "GetVirtualNum", body))
    assert code == "InvalidParameter" and message in text, text
    assert _state(provider) == before
    [entry] = provider.journal.entries()
    assert (entry.dialect, entry.operation) == ("tencent", "GetVirtualNum")


async def test_oversize_bodies_without_a_length_get_each_vendors_envelope(provider) -> None:
    tencent = {"X-TC-Action": "GetVirtualNum", "X-TC-Version": "2019-08-23", "Content-Type": "application/json"}
    aliyun = {"x-acs-action": "BindAxb", "x-acs-version": "2017-05-25"}
    async with aiohttp.ClientSession() as session:
        async with session.post(provider.url + "/", headers=tencent, data=_chunks(70_000)) as r:
            assert r.status == 200
            assert (await r.json())["Response"]["Error"]["Code"] == "RequestSizeLimitExceeded"
        async with session.post(provider.url + "/", headers=aliyun, data=_chunks(70_000)) as r:
            body = await r.json(content_type=None)
            assert (r.status, body["Code"]) == (413, "RequestEntityTooLarge") and body["RequestId"], body


@pytest.mark.parametrize("headers, body, code", [
    ({"Content-Type": "application/x-www-form-urlencoded"}, b"PhoneNoA=\xff\xfe", "InvalidParameter"),
    ({"Content-Type": "application/json"}, DEEP, "IncompleteSignature"),  # the body is never parsed as JSON
    ({"Content-Type": "application/x-www-form-urlencoded"}, b"&".join(b"k%d=v" % i for i in range(5000)),
     "IncompleteSignature"),
], ids=["bad-utf8-form", "deep-json", "many-fields"])
async def test_aliyun_malformed_bodies_get_the_pop_envelope(provider, headers, body, code) -> None:
    before = _state(provider)
    async with aiohttp.ClientSession() as session:
        async with session.post(provider.url + "/", data=body,
                                headers={"x-acs-action": "BindAxb", "x-acs-version": "2017-05-25", **headers}) as r:
            answer = await r.json(content_type=None)
    assert 400 <= r.status < 500 and answer["Code"] == code and answer["RequestId"] and answer["HostId"], answer
    assert _state(provider) == before


async def test_oversize_bodies_with_a_length_get_each_vendors_envelope_too(provider) -> None:
    big = b"{" + b" " * 70_000 + b"}"
    tencent = {"X-TC-Action": "GetVirtualNum", "X-TC-Version": "2019-08-23", "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as session:
        async with session.post(provider.url + "/", headers=tencent, data=big) as r:
            assert r.status == 200
            assert (await r.json())["Response"]["Error"]["Code"] == "RequestSizeLimitExceeded"
        async with session.post(provider.url + "/", headers={"x-acs-action": "BindAxb"}, data=big) as r:
            assert (r.status, (await r.json(content_type=None))["Code"]) == (413, "RequestEntityTooLarge")
