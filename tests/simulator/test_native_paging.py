"""The native API's lists page: `limit` and `after` in, `total` and `next` out; paging through `next`
reaches every row once, in order, and a cursor whose row left the list still places the next page."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from simulator.server import Provider

BINDINGS = 25


@pytest.fixture
async def provider(pstnsim_provider_factory: Any) -> Provider:
    provider = await pstnsim_provider_factory()
    for i in range(BINDINGS):
        provider.ledger.create_binding("XB", b=f"1380000{i:04d}")
    for i in range(7):
        provider.ledger.place_call(f"1390000{i:04d}", provider.ledger.bindings()[0].x)
    return provider


async def _all_pages(provider: Provider, path: str, key: str, **params: str) -> tuple[list[dict], set[int]]:
    rows, totals = [], set()
    async with aiohttp.ClientSession() as session:
        while True:
            async with session.get(provider.url + path, params=params) as response:
                assert response.status == 200
                body = await response.json()
            rows += body[key]
            totals.add(body["total"])
            if body["next"] is None:
                return rows, totals
            params["after"] = body["next"]


@pytest.mark.parametrize("path, key, rows_id", [
    ("/v1/bindings", "bindings", "binding_id"),
    ("/v1/calls", "calls", "call_id"),
    ("/v1/numbers", "numbers", "x"),
])
async def test_every_list_pages_through_every_row_once(provider, path, key, rows_id) -> None:
    whole, [total] = await _all_pages(provider, path, key)
    paged, totals = await _all_pages(provider, path, key, limit="4")
    assert paged == whole and totals == {total} == {len(whole)} and len(whole) > 4
    assert len({row[rows_id] for row in paged}) == len(paged)


async def test_a_cursor_whose_binding_was_deleted_still_places_the_next_page(provider) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(provider.url + "/v1/bindings", params={"limit": "10"}) as response:
            first = await response.json()
        assert first["total"] == BINDINGS and first["next"] == first["bindings"][-1]["binding_id"]
        provider.ledger.delete_binding(first["next"])
        async with session.get(provider.url + "/v1/bindings", params={"limit": "10", "after": first["next"]}) as r:
            second = await r.json()
    ids = [b.binding_id for b in provider.ledger.bindings()]
    assert [b["binding_id"] for b in second["bindings"]] == ids[9:19] and second["total"] == BINDINGS - 1
