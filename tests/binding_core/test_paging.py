"""Finding 4 of issue 11: the core's lists answer a page at a time, say how many rows there are in all,
and paging through `next` reaches every row: with 1,100 operations `GET /v1/operations` used to stop at
1,000 (oldest first, nothing said) while /health counted 1,100."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.looptime

OPERATIONS = 1100


def _queue(w, count: int) -> None:
    """`count` binds queued straight into the store (fast); the worker takes them up as usual."""
    now = w.core.parts.worker.clock.now()
    for i in range(count):
        w.core.store.begin(f"1380{i:07d}", "XB", "bind", b="13900000001", now=now)


async def _pages(w, path: str, key: str, **params: str) -> tuple[list, list[int]]:
    rows, totals = [], []
    while True:
        status, body = await w.call("GET", path, params=params)
        assert status == 200, body
        rows += body[key]
        totals.append(body["total"])
        if body["next"] is None:
            return rows, totals
        params["after"] = str(body["next"])


async def test_operations_page_through_every_row_and_the_total_matches_health(world) -> None:
    w = await world()
    _queue(w, OPERATIONS)
    status, first = await w.call("GET", "/v1/operations")
    assert len(first["operations"]) == 1000 and first["total"] == OPERATIONS and first["next"] == "op_00001000"

    rows, totals = await _pages(w, "/v1/operations", "operations", limit="300")
    assert [r["operation_id"] for r in rows] == [f"op_{i:08d}" for i in range(1, OPERATIONS + 1)]
    assert set(totals) == {OPERATIONS}
    status, health = await w.call("GET", "/health")
    assert sum(health["operations"].values()) == OPERATIONS

    await w.settle()
    status, health = await w.call("GET", "/health")
    for state, count in health["operations"].items():
        rows, totals = await _pages(w, "/v1/operations", "operations", state=state, limit="1000")
        assert len(rows) == count and set(totals) == {count}, state


async def test_transitions_and_alerts_page_with_totals(world) -> None:
    w = await world()
    _queue(w, 30)
    await w.settle()
    everything, _ = await _pages(w, "/v1/transitions", "transitions")
    paged, totals = await _pages(w, "/v1/transitions", "transitions", limit="7")
    assert paged == everything and set(totals) == {len(everything)} and len(everything) == 60  # in and out of OPERATION
    status, body = await w.call("GET", "/v1/transitions", params={"x": "13800000003", "limit": "1"})
    assert body["total"] == 2 and len(body["transitions"]) == 1 and body["next"] is not None

    status, body = await w.call("GET", "/v1/alerts", params={"limit": "1"})
    assert status == 200 and body == {"alerts": [], "total": 0, "next": None}
    for op in w.core.store.operations()[:5]:
        w.core.store.raise_alert(op, "an alert", now=0.0)
    alerts, totals = await _pages(w, "/v1/alerts", "alerts", limit="2")
    assert [a["operation_id"] for a in alerts] == [f"op_{i:08d}" for i in range(1, 6)] and set(totals) == {5}
