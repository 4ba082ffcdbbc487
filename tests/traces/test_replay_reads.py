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
