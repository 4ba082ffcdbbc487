"""A replayed lookup of bindings answers as recorded while the ledger still shows what the recording showed,
and from the ledger once it does not: a service that looks later than it did (a fix that waits out a lost
call before trusting a lookup) sees the binding that landed meanwhile, not a stale "not found"."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from simulator.clock import FIXED_EPOCH
from simulator.config import ProviderConfig
from simulator.server import Provider
from simulator.traces import read_trace

pytestmark = pytest.mark.looptime

B = "13800000003"


async def post(session: aiohttp.ClientSession, url: str, body: dict, timeout: float) -> Any:
    try:
        async with session.post(url, json=body, timeout=aiohttp.ClientTimeout(total=timeout)) as response:
            return response.status
    except asyncio.TimeoutError:
        return "timeout"


async def lookup(session: aiohttp.ClientSession, provider: Provider) -> list[str]:
    async with session.get(f"{provider.url}/v1/bindings", params={"b": B}) as response:
        assert response.status == 200
        return [row["binding_id"] for row in (await response.json())["bindings"]]


async def test_a_lookup_sent_after_a_late_landing_sees_it_though_the_recording_said_not_found(tmp_path):
    trace = tmp_path / "late.jsonl"
    async with aiohttp.ClientSession() as session:
        # Recorded: the create is held 10 s (the client gives up at 3 s) and lands; the client looked at 4 s.
        async with Provider(ProviderConfig(seed=7, epoch=FIXED_EPOCH, trace_file=trace)) as recorder:
            async with session.post(f"{recorder.admin_url}/faults", json={
                    "match": {"operation": "create_binding"}, "action": {"kind": "latency", "seconds": 10}}) as r:
                assert r.status == 201
            late = asyncio.ensure_future(post(session, f"{recorder.url}/v1/bindings", {"mode": "XB", "b": B}, 3))
            assert await late == "timeout"
            await asyncio.sleep(1)
            assert await lookup(session, recorder) == []  # recorded: not there yet
            await asyncio.sleep(10)  # the held create lands before the recorder stops
        [create, looked] = sorted(read_trace(trace).exchanges, key=lambda e: e.offset)
        assert looked.action == "list_bindings" and looked.response["body"]["bindings"] == []

        for wait, expected in ((1, []), (12, ["bnd_00000001"])):
            async with Provider(ProviderConfig(seed=7, epoch=FIXED_EPOCH, replay_file=trace)) as replay:
                sent = asyncio.ensure_future(post(session, f"{replay.url}/v1/bindings", {"mode": "XB", "b": B}, 3))
                assert await sent == "timeout"
                await asyncio.sleep(wait)
                assert await lookup(session, replay) == expected
                [entry] = [e for e in replay.journal.entries() if e.operation == "list_bindings"]
                assert entry.fault == (f"replay:seq={looked.seq}" if wait == 1 else f"replay:seq={looked.seq}+ledger")
                await asyncio.sleep(10)


# ---- Volcengine vms: its lookups (QuerySubscriptionForList, QuerySubscription) too --------------------------

A = "13900000003"
POOL = "NP000000000000000001"


async def vms(session: aiohttp.ClientSession, provider: Provider, action: str, form: dict, timeout: float = 5) -> Any:
    """A signed vms form POST as the bundled core sends it; the parsed answer, or "timeout"."""
    from urllib.parse import urlencode

    from binding_core.provider.volcengine import v4_headers

    body = urlencode(form).encode()
    host = f"127.0.0.1:{provider.port}"
    headers = v4_headers(action, body, host, provider.ledger.clock.now(), "pstnsim-ak", "pstnsim-secret")
    try:
        async with session.post(f"{provider.url}/?Action={action}&Version=2022-01-01", data=body, headers=headers,
                                timeout=aiohttp.ClientTimeout(total=timeout)) as response:
            return await response.json()
    except asyncio.TimeoutError:
        return "timeout"


async def vms_lookup(session: aiohttp.ClientSession, provider: Provider) -> list[str]:
    reply = await vms(session, provider, "QuerySubscriptionForList", {"NumberPoolNo": POOL, "PhoneNoA": A,
                                                                      "Status": "1"})
    return [row["SubId"] for row in reply["Result"]["Records"]]


async def test_a_vms_lookup_after_a_late_landing_is_answered_from_the_ledger(tmp_path):
    trace = tmp_path / "late-vms.jsonl"
    async with aiohttp.ClientSession() as session:
        async with Provider(ProviderConfig(seed=7, epoch=FIXED_EPOCH, trace_file=trace)) as recorder:
            expire = str(int(recorder.ledger.clock.now()) + 3600)
            bind = {"NumberPoolNo": POOL, "PhoneNoA": A, "PhoneNoB": B, "ExpireTime": expire}
            async with session.post(f"{recorder.admin_url}/faults", json={
                    "match": {"dialect": "volcengine", "operation": "SelectNumberAndBindAXB"},
                    "action": {"kind": "latency", "seconds": 10}}) as r:
                assert r.status == 201
            late = asyncio.ensure_future(vms(session, recorder, "SelectNumberAndBindAXB", bind, 3))
            assert await late == "timeout"
            await asyncio.sleep(1)
            assert await vms_lookup(session, recorder) == []  # recorded: not there yet
            await asyncio.sleep(10)
        looked = next(e for e in read_trace(trace).exchanges if e.action == "QuerySubscriptionForList")

        for wait, expected in ((1, []), (12, ["bnd_00000001"])):
            async with Provider(ProviderConfig(seed=7, epoch=FIXED_EPOCH, replay_file=trace)) as replay:
                sent = asyncio.ensure_future(vms(session, replay, "SelectNumberAndBindAXB", bind, 3))
                assert await sent == "timeout"
                await asyncio.sleep(wait)
                assert await vms_lookup(session, replay) == expected
                [entry] = [e for e in replay.journal.entries() if e.operation == "QuerySubscriptionForList"]
                assert entry.fault == (f"replay:seq={looked.seq}" if wait == 1 else f"replay:seq={looked.seq}+ledger")
                await asyncio.sleep(10)


async def test_an_unrecorded_vms_request_is_refused_in_the_vendors_envelope_in_error_mode(tmp_path):
    trace = tmp_path / "one-vms.jsonl"
    async with aiohttp.ClientSession() as session:
        async with Provider(ProviderConfig(seed=7, epoch=FIXED_EPOCH, trace_file=trace)) as recorder:
            assert await vms_lookup(session, recorder) == []
        async with Provider(ProviderConfig(seed=7, epoch=FIXED_EPOCH, replay_file=trace,
                                           replay_unrecorded="error")) as replay:
            assert await vms_lookup(session, replay) == []  # recorded
            reply = await vms(session, replay, "QuerySubscription", {"NumberPoolNo": POOL, "SubId": "bnd_00000009"})
            error = reply["ResponseMetadata"]["Error"]
            assert error["Code"] == "Replay.Unrecorded" and "bnd_00000009" in error["Message"]
            assert replay.ledger.bindings() == []
