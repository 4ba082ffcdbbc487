"""Each fault action as a client sees it, through a real aiohttp client over loopback, in virtual time."""

from __future__ import annotations

import asyncio
import errno
import json

import aiohttp
import pytest

from .conftest import add_rule, numbers

pytestmark = pytest.mark.looptime


async def bind(session, provider, x, b="13800000001", timeout=10.0):
    return await session.post(f"{provider.url}/toy/bind", json={"x": x, "b": b},
                              timeout=aiohttp.ClientTimeout(total=timeout))


async def test_injected_latency_hits_the_client_deadline_at_virtual_two_seconds(toy, session):
    """30 s injected latency, 2 s client timeout: the client times out at virtual 2 s (looptime)."""
    toy_provider = await toy()
    [x] = numbers(toy_provider, 1)
    await add_rule(session, toy_provider, {"match": {"operation": "bind"},
                                           "action": {"kind": "latency", "seconds": 30}})
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(asyncio.TimeoutError):
        await bind(session, toy_provider, x, timeout=2.0)
    assert loop.time() - started == pytest.approx(2.0, abs=0.01)


async def test_latency_below_the_deadline_delays_then_serves(toy, session):
    toy_provider = await toy()
    [x] = numbers(toy_provider, 1)
    await add_rule(session, toy_provider, {"action": {"kind": "latency", "distribution": "uniform",
                                                      "min": 1.5, "max": 2.5}})
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with await bind(session, toy_provider, x) as response:
        assert response.status == 201
    assert 1.5 <= loop.time() - started <= 2.5 + 0.01
    assert len(toy_provider.ledger.bindings(x=x)) == 1


async def test_latency_past_the_providers_request_deadline_is_a_504_that_applies_nothing(toy, session):
    """The gateway gives up at its deadline: no request takes effect later than that after it arrived."""
    toy_provider = await toy(request_deadline=10.0)
    [x] = numbers(toy_provider, 1)
    await add_rule(session, toy_provider, {"action": {"kind": "latency", "seconds": 45}})
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with await bind(session, toy_provider, x, timeout=60.0) as response:
        assert response.status == 504
    assert loop.time() - started == pytest.approx(10.0, abs=0.01)
    assert toy_provider.ledger.bindings(x=x) == []
    [entry] = toy_provider.journal.entries()
    assert (entry.status, entry.fault) == (504, "latency+deadline")


async def test_the_ledger_view_counts_requests_still_in_flight(toy, session):
    """A harness waits for none before it compares: a held request may still change the ledger."""
    toy_provider = await toy()
    [x] = numbers(toy_provider, 1)
    await add_rule(session, toy_provider, {"action": {"kind": "latency", "seconds": 5}})

    async def in_flight() -> int:
        async with session.get(f"{toy_provider.admin_url}/ledger") as response:
            return (await response.json())["in_flight"]

    held = asyncio.create_task(bind(session, toy_provider, x))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 4.0  # virtual: the request is held 5 s, so it must show before this
    while await in_flight() == 0:
        assert loop.time() < deadline, "the held request never showed as in flight"
        await asyncio.sleep(0.1)
    assert toy_provider.ledger.bindings(x=x) == []  # still held
    async with await held as response:
        assert response.status == 201
    assert await in_flight() == 0 and len(toy_provider.ledger.bindings(x=x)) == 1
    # A hang that never applies, or a reply held after applying, cannot change the ledger: not counted.
    await add_rule(session, toy_provider, {"id": "hang", "action": {"kind": "timeout", "seconds": 50}})
    hanging = asyncio.create_task(bind(session, toy_provider, x, timeout=100.0))
    await asyncio.sleep(10)
    assert await in_flight() == 0 and not hanging.done()
    async with await hanging as response:
        assert response.status == 504


async def test_timeout_hangs_past_the_deadline_and_applies_nothing(toy, session):
    toy_provider = await toy()
    [x] = numbers(toy_provider, 1)
    await add_rule(session, toy_provider, {"action": {"kind": "timeout"}})
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(asyncio.TimeoutError):
        await bind(session, toy_provider, x, timeout=300.0)
    assert loop.time() - started == pytest.approx(300.0, abs=0.01)
    assert toy_provider.ledger.bindings(x=x) == []


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_status_fault_answers_the_dialects_error_and_applies_nothing(toy, session, status):
    toy_provider = await toy()
    [x] = numbers(toy_provider, 1)
    await add_rule(session, toy_provider, {"action": {"kind": "status", "status": status}})
    async with await bind(session, toy_provider, x) as response:
        assert response.status == status
        assert await response.json() == {"toy_error": status}  # shaped by the dialect's fault_response
    assert toy_provider.ledger.bindings(x=x) == []


async def test_429_carries_retry_after(toy, session):
    toy_provider = await toy()
    [x] = numbers(toy_provider, 1)
    await add_rule(session, toy_provider, {"action": {"kind": "status", "status": 429, "retry_after": 3}})
    async with await bind(session, toy_provider, x) as response:
        assert response.status == 429
        assert response.headers["Retry-After"] == "3"
    assert toy_provider.ledger.bindings(x=x) == []


async def test_reset_is_a_client_connection_error(toy, session):
    toy_provider = await toy()
    [x] = numbers(toy_provider, 1)
    await add_rule(session, toy_provider, {"action": {"kind": "reset"}})
    with pytest.raises(aiohttp.ClientOSError) as caught:
        await bind(session, toy_provider, x)
    assert caught.value.errno == errno.ECONNRESET
    assert toy_provider.ledger.bindings(x=x) == []


async def test_empty_reply_is_server_disconnected(toy, session):
    toy_provider = await toy()
    [x] = numbers(toy_provider, 1)
    await add_rule(session, toy_provider, {"action": {"kind": "empty_reply"}})
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await bind(session, toy_provider, x)
    assert toy_provider.ledger.bindings(x=x) == []


async def test_truncated_body_is_an_incomplete_payload_after_the_change_applied(toy, session):
    toy_provider = await toy()
    [x] = numbers(toy_provider, 1)
    await add_rule(session, toy_provider, {"action": {"kind": "truncated_body"}})
    with pytest.raises(aiohttp.ClientPayloadError):
        async with await bind(session, toy_provider, x) as response:
            await response.read()
    assert len(toy_provider.ledger.bindings(x=x)) == 1


async def test_malformed_body_does_not_parse(toy, session):
    toy_provider = await toy()
    [x] = numbers(toy_provider, 1)
    await add_rule(session, toy_provider, {"action": {"kind": "malformed_body"}})
    async with await bind(session, toy_provider, x) as response:
        assert response.status == 201
        with pytest.raises(json.JSONDecodeError):
            json.loads(await response.text())
    assert len(toy_provider.ledger.bindings(x=x)) == 1


async def test_wrong_shape_body_parses_but_is_the_answer_inside_an_array(toy, session):
    toy_provider = await toy()
    [x] = numbers(toy_provider, 1)
    await add_rule(session, toy_provider, {"action": {"kind": "wrong_shape_body"}})
    async with await bind(session, toy_provider, x) as response:
        assert response.status == 201
        body = json.loads(await response.text())
    assert isinstance(body, list) and len(body) == 1 and isinstance(body[0], dict)
    assert len(toy_provider.ledger.bindings(x=x)) == 1  # applied: only the answer is of the wrong shape


async def test_a_409_status_refuses_and_applies_nothing(toy, session):
    toy_provider = await toy()
    [x] = numbers(toy_provider, 1)
    await add_rule(session, toy_provider, {"action": {"kind": "status", "status": 409}})
    async with await bind(session, toy_provider, x) as response:
        assert response.status == 409
    assert toy_provider.ledger.bindings(x=x) == []


async def test_ghost_success_with_status_fails_but_the_ledger_has_the_binding(toy, session):
    toy_provider = await toy()
    [x] = numbers(toy_provider, 1)
    await add_rule(session, toy_provider, {"match": {"operation": "bind"},
                                           "action": {"kind": "ghost_success", "status": 503}})
    async with await bind(session, toy_provider, x) as response:
        assert response.status == 503
    assert [b.b for b in toy_provider.ledger.bindings(x=x)] == ["13800000001"]


async def test_ghost_success_with_reset(toy, session):
    toy_provider = await toy()
    [x] = numbers(toy_provider, 1)
    await add_rule(session, toy_provider, {"action": {"kind": "ghost_success", "then": "reset"}})
    with pytest.raises(aiohttp.ClientOSError):
        await bind(session, toy_provider, x)
    assert len(toy_provider.ledger.bindings(x=x)) == 1


async def test_ghost_success_with_timeout(toy, session):
    toy_provider = await toy()
    [x] = numbers(toy_provider, 1)
    await add_rule(session, toy_provider, {"action": {"kind": "ghost_success", "then": "timeout"}})
    with pytest.raises(asyncio.TimeoutError):
        await bind(session, toy_provider, x, timeout=5.0)
    assert len(toy_provider.ledger.bindings(x=x)) == 1


async def test_delayed_visibility_hides_the_binding_from_queries_for_a_while(toy, session):
    toy_provider = await toy()
    [x] = numbers(toy_provider, 1)
    await add_rule(session, toy_provider, {"match": {"operation": "bind"},
                                           "action": {"kind": "delayed_visibility", "seconds": 10}})
    async with await bind(session, toy_provider, x) as response:
        assert response.status == 201
        binding_id = (await response.json())["binding_id"]

    async def listed() -> list[str]:
        async with session.get(f"{toy_provider.url}/toy/bindings", params={"x": x}) as response:
            return (await response.json())["bindings"]

    assert await listed() == []  # the query API does not show it yet
    assert [b.binding_id for b in toy_provider.ledger.bindings(x=x)] == [binding_id]  # the truth has it
    await asyncio.sleep(10)  # virtual time
    assert await listed() == [binding_id]


async def test_latency_combines_with_a_terminal_fault(toy, session):
    toy_provider = await toy()
    [x] = numbers(toy_provider, 1)
    await add_rule(session, toy_provider, {"action": {"kind": "latency", "seconds": 4}})
    await add_rule(session, toy_provider, {"action": {"kind": "status", "status": 502}})
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with await bind(session, toy_provider, x) as response:
        assert response.status == 502
    assert loop.time() - started == pytest.approx(4.0, abs=0.01)


async def test_requests_no_dialect_describes_get_no_faults(toy, session):
    toy_provider = await toy()
    await add_rule(session, toy_provider, {"action": {"kind": "reset"}})
    async with session.get(f"{toy_provider.admin_url}/faults") as response:
        assert response.status == 200
    async with session.get(f"{toy_provider.url}/metrics") as response:
        assert response.status == 200


async def test_stopping_the_provider_ends_hanging_requests_at_once(toy, session):
    """A hang waits on the provider's shutdown, not on aiohttp's shutdown timeout."""
    toy_provider = await toy()
    [x] = numbers(toy_provider, 1)
    await add_rule(session, toy_provider, {"action": {"kind": "timeout"}})
    with pytest.raises(asyncio.TimeoutError):
        await bind(session, toy_provider, x, timeout=1.0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await toy_provider.stop()
    assert loop.time() - started < 1.0  # virtual seconds; aiohttp alone would wait its 5 s shutdown timeout
