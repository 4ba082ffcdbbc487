"""Finding 1 of issue 11: `/metrics` grew without bound from unauthenticated requests, because the action a
request names became a metric label before its signature was checked (2,000 POSTs naming J1..J2000 gave
34,000 metric lines). Label values now come from closed sets: 10,000 made-up actions add no series."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from simulator.config import ProviderConfig
from simulator.metrics import parse_samples
from simulator.server import Provider

BOGUS = 10_000
CONCURRENCY = 50


def _series(text: str) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    return {(name, tuple(sorted(labels.items()))) for name, labels, _ in parse_samples(text)}


async def _bogus(http: aiohttp.ClientSession, url: str, i: int) -> None:
    """An unsigned request naming an action nobody serves, in one of the three dialects' forms."""
    kind = i % 3
    if kind == 0:
        headers = {"x-acs-action": f"J{i}", "x-acs-version": "2017-05-25"}
        request = http.post(url + "/", headers=headers)
    elif kind == 1:
        headers = {"X-TC-Action": f"J{i}", "X-TC-Version": "2019-08-23", "Content-Type": "application/json"}
        request = http.post(url + "/", headers=headers, data=b"{}")
    else:
        request = http.get(url + f"/v1/J{i}")
    async with request as response:
        await response.read()


async def test_ten_thousand_made_up_actions_leave_metrics_the_same_size() -> None:
    async with Provider(ProviderConfig(seed=1)) as provider, aiohttp.ClientSession() as http:
        for i in range(3):  # one of each first: the `invalid` series exist before the flood
            await _bogus(http, provider.url, i)
        async with http.get(provider.url + "/metrics") as response:
            before = await response.text()

        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(3, BOGUS + 3):
            queue.put_nowait(i)

        async def worker() -> None:
            while not queue.empty():
                await _bogus(http, provider.url, queue.get_nowait())

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        async with http.get(provider.url + "/metrics") as response:
            after = await response.text()

    assert _series(after) == _series(before)
    assert len(after.splitlines()) == len(before.splitlines())
    assert len(after) - len(before) < 200  # only the counts' digits grew
    counted = sum(value for name, _, value in parse_samples(after) if name == "pstnsim_requests_total")
    assert counted == BOGUS + 3  # every request is still counted, under `invalid`
    assert all(labels.get("operation") in (None, "invalid") or "J" not in labels.get("operation", "")
               for _, labels, _ in parse_samples(after))
