"""Gray release (new async path vs old sync path, switched while running), the old path's answers,
the circuit breaker, and the webhook alert sink."""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import AsyncIterator

import pytest
from aiohttp import web

from binding_core.config import AlertSettings, GraySettings, ProviderSettings, load_config
from simulator.testing import loopback_server

from .conftest import core_config, until

pytestmark = pytest.mark.looptime

B, A = "13800000001", "13900000001"


async def test_gray_numbers_take_the_async_path_and_the_rest_the_sync_path(world):
    w0 = await world()  # only to learn the seeded pool's numbers
    gray_x, old_x = w0.numbers(2)
    w = await world(core_config(gray=GraySettings(numbers=(gray_x,))))
    status, body = await w.call("POST", f"/v1/numbers/{gray_x}/xb", json={"b": B})
    assert (status, body["path"], body["status"]) == (202, "async", "OPERATION")
    status, body = await w.call("POST", f"/v1/numbers/{old_x}/xb", json={"b": B})
    assert (status, body["path"], body["status"], body["state"]) == (200, "sync", "BIND", "done")
    [held] = w.provider_bindings(old_x)
    assert body["binding_id"] == held.binding_id
    status, body = await w.call("DELETE", f"/v1/numbers/{old_x}/xb")
    assert (status, body["status"]) == (200, "NOT_BIND") and w.provider_bindings(old_x) == []
    await w.settle()
    assert (await w.view(gray_x))["xb"]["status"] == "BIND"


async def test_the_admin_endpoint_switches_the_path_without_a_restart(world):
    w = await world(core_config(gray=GraySettings(numbers=())))
    x, y = w.numbers(2)
    assert (await w.call("POST", f"/v1/numbers/{x}/xb", json={"b": B}))[0] == 200
    status, gray = await w.call("PUT", "/_admin/gray", json={"numbers": [y]})
    assert status == 200 and gray == {"enabled": True, "all": False, "numbers": [y]}
    assert (await w.call("POST", f"/v1/numbers/{y}/xb", json={"b": B}))[0] == 202
    assert (await w.call("DELETE", f"/v1/numbers/{x}/xb"))[0] == 200  # x is still old-path
    assert (await w.call("PUT", "/_admin/gray", json={"all": True}))[0] == 200
    assert (await w.call("POST", f"/v1/numbers/{x}/axb", json={"a": A, "b": B}))[0] == 202
    assert (await w.call("DELETE", "/_admin/gray"))[1]["enabled"] is False
    await w.settle()


async def test_the_config_file_s_gray_section_is_re_read_when_it_changes(world, tmp_path):
    path = tmp_path / "core.toml"
    path.write_text("[retry]\nmax_attempts = 3\n[gray]\nall = false\nnumbers = []\n")
    w = await world(load_config(path))
    x, y = w.numbers(2)
    assert (await w.call("POST", f"/v1/numbers/{x}/xb", json={"b": B}))[0] == 200
    path.write_text(f'[retry]\nmax_attempts = 3\n[gray]\nall = false\nnumbers = ["{y}"]\n')
    os.utime(path, ns=(1, 1))  # a different stamp even within the filesystem's time granularity
    assert (await w.call("POST", f"/v1/numbers/{y}/xb", json={"b": B}))[0] == 202
    path.write_text("[retry]\nmax_attempts = 3\n[gray\n")  # broken: the last good list stays
    os.utime(path, ns=(2, 2))
    assert (await w.call("DELETE", f"/v1/numbers/{x}/xb"))[0] == 200
    path.write_text("[retry]\nmax_attempts = 3\n")  # no [gray] section: everything new-path
    os.utime(path, ns=(3, 3))
    assert (await w.call("DELETE", f"/v1/numbers/{x}/xb"))[0] == 409  # already NOT_BIND: the state check
    assert (await w.call("POST", f"/v1/numbers/{x}/xb", json={"b": B}))[0] == 202
    await w.settle()


async def test_the_old_path_passes_a_refusal_on_and_settles_at_once(world):
    w = await world(core_config(gray=GraySettings()))
    [x] = w.numbers(1)
    w.provider.ledger.create_binding("XB", x=x, b="13700000001")
    status, body = await w.call("POST", f"/v1/numbers/{x}/xb", json={"b": B})
    assert status == 409 and body["code"] == "BIND_CONFLICT" and body["current"]["status"] == "NOT_BIND"


@pytest.mark.parametrize("fault, status, code", [
    ({"kind": "ghost_success", "status": 500}, 502, "PROVIDER_ERROR"),
    ({"kind": "ghost_success", "then": "timeout"}, 504, "PROVIDER_TIMEOUT"),
    ({"kind": "timeout"}, 504, "PROVIDER_TIMEOUT"),
])
async def test_the_old_path_gives_the_caller_the_error_and_settles_the_row_to_the_truth(world, fault, status, code):
    w = await world(core_config(gray=GraySettings()))
    [x] = w.numbers(1)
    w.provider.faults.add({"match": {"operation": "create_binding"}, "action": fault, "when": {"first": 1}})
    loop = asyncio.get_running_loop()
    started = loop.time()
    answer, body = await w.call("POST", f"/v1/numbers/{x}/xb", json={"b": B})
    assert (answer, body["code"]) == (status, code)
    assert loop.time() - started <= w.core.config.provider.timeout + 0.1  # one call, no retry inside the request
    await w.settle()
    applied = fault["kind"] == "ghost_success"
    view = (await w.view(x))["xb"]
    assert view["status"] == ("BIND" if applied else "NOT_BIND")
    assert len(w.provider_bindings(x)) == (1 if applied else 0)
    # The old path never re-sends: at most the one create (a hanging one is journaled only when it ends).
    creates = [e for e in (await w.journal()) if e["operation"] == "create_binding"]
    assert len(creates) <= 1
    [op] = w.core.store.operations()
    assert (op.path, op.state, op.outcome, op.attempts) == ("sync", "done", "settled", 1)


async def test_the_breaker_opens_after_consecutive_failures_and_lets_one_probe_through(world):
    config = core_config(provider=ProviderSettings(breaker_threshold=2, breaker_cooldown=30.0))
    w = await world(config)
    [x] = w.numbers(1)
    for operation in ("create_binding", "list_bindings"):
        w.provider.faults.add({"match": {"operation": operation}, "action": {"kind": "status", "status": 503},
                               "when": {"first": 1}})
    await w.call("POST", f"/v1/numbers/{x}/xb", json={"b": B})
    await until(lambda: w.core.parts.provider.breaker.state == "open")
    assert (await w.call("GET", "/health"))[1]["breaker"] == "open"
    await w.settle()
    calls = await w.journal()
    # a failed create, a failed query (two in a row: open), nothing for the cool-down, then the probe;
    # last, once the 503s can no longer land, the sweep's look for strays
    assert [(e["operation"], e["status"]) for e in calls] == [
        ("create_binding", 503), ("list_bindings", 503), ("list_bindings", 200), ("create_binding", 201),
        ("list_bindings", 200),
    ]
    assert calls[4]["at"] - calls[0]["at"] >= config.provider.in_doubt_window  # after the 503 create, not the query
    assert calls[2]["at"] - calls[1]["at"] >= 30.0
    assert (await w.view(x))["xb"]["status"] == "BIND"
    assert (await w.call("GET", "/health"))[1]["breaker"] == "closed"


@contextlib.asynccontextmanager
async def alert_receiver(answers: list[int]) -> AsyncIterator[tuple[str, list[dict], asyncio.Event]]:
    """A webhook on loopback: answers with `answers` in turn (then 204), records every body it got,
    and sets the event on the first 2xx. Yields (url, bodies, delivered)."""
    received: list[dict] = []
    delivered = asyncio.Event()

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        status = answers.pop(0) if answers else 204
        if status < 300:
            delivered.set()
        return web.Response(status=status)

    app = web.Application()
    app.router.add_post("/alerts", hook)
    async with loopback_server(app) as url:
        yield f"{url}/alerts", received, delivered


async def test_the_webhook_sink_gets_the_alert_as_json(world):
    async with alert_receiver([]) as (url, received, delivered):
        w = await world(core_config(alerts=AlertSettings(log=False, webhook_url=url)))
        [x] = w.numbers(1)
        w.provider.faults.add({"match": {"operation": "create_binding"}, "action": {"kind": "status", "status": 500}})
        _, body = await w.call("POST", f"/v1/numbers/{x}/xb", json={"b": B})
        await asyncio.wait_for(delivered.wait(), timeout=600)
        await w.settle()
        assert len(received) == 1
        assert {k: received[0][k] for k in ("operation_id", "x", "mode", "attempts")} == {
            "operation_id": body["operation_id"], "x": x, "mode": "XB", "attempts": 3,
        }
        assert "500" in received[0]["last_error"]


async def test_a_webhook_that_is_down_gets_the_alert_once_it_is_back_and_the_other_sinks_get_it_once(world):
    """A failed webhook POST is retried, alone, with backoff, in the running process; nothing is dropped."""
    async with alert_receiver([503, 503]) as (url, received, delivered):  # down twice, then up
        w = await world(core_config(alerts=AlertSettings(log=False, webhook_url=url)))
        [x] = w.numbers(1)
        w.provider.faults.add({"match": {"operation": "create_binding"}, "action": {"kind": "status", "status": 500}})
        await w.call("POST", f"/v1/numbers/{x}/xb", json={"b": B})
        await asyncio.wait_for(delivered.wait(), timeout=600)
        assert len(received) == 3 and len({r["alert_id"] for r in received}) == 1  # the same alert, 3 tries
        assert len(w.core.alerts) == 1  # the in-memory sink took it the first time and only then
        await until(lambda: w.core.store.undelivered_alerts() == [])


async def test_an_old_path_request_cut_by_a_crash_is_settled_after_restart_never_re_sent(world):
    w = await world(core_config(gray=GraySettings()))
    [x] = w.numbers(1)
    w.provider.faults.add({"match": {"operation": "create_binding"},
                           "action": {"kind": "ghost_success", "then": "timeout", "seconds": 2}})
    request = asyncio.ensure_future(w.call("POST", f"/v1/numbers/{x}/xb", json={"b": B}))
    await until(lambda: len(w.provider_bindings(x)) == 1)  # applied, the answer still pending: crash now
    await w.restart_core(crash=True)
    with pytest.raises(Exception):
        await request  # the dead core never answers
    await w.settle()
    [op] = w.core.store.operations()
    assert (op.path, op.state, op.outcome) == ("sync", "done", "settled")
    assert (await w.view(x))["xb"]["status"] == "BIND"
    assert len(w.provider_bindings(x)) == 1
    assert [e["operation"] for e in await w.journal()].count("create_binding") <= 1
