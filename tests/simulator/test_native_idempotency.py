"""Idempotency-Key on the native API: one application per key, the first result replayed to every retry."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from simulator.clock import ManualClock
from simulator.idempotency import IdempotencyKeyReused, IdempotencyStore
from simulator.server import Provider

A, B, C = "13900000001", "13800000002", "13700000003"
REPLAYED = "Idempotent-Replayed"


class Client:
    def __init__(self, provider: Provider, session: aiohttp.ClientSession) -> None:
        self.provider, self.session = provider, session

    async def send(self, method: str, path: str, key: str | None = None, **kw: Any) -> tuple[int, Any, bool]:
        """(status, JSON body, replayed?)"""
        headers = {"Idempotency-Key": key} if key is not None else {}
        async with self.session.request(method, self.provider.url + path, headers=headers, **kw) as response:
            return response.status, await response.json(), response.headers.get(REPLAYED) == "true"

    def bindings(self) -> list:
        return self.provider.ledger.bindings(status=None)


@pytest.fixture
async def client(pstnsim_provider: Provider):
    async with aiohttp.ClientSession() as session:
        yield Client(pstnsim_provider, session)


async def test_a_repeated_create_returns_the_first_result_and_binds_once(client: Client) -> None:
    first = await client.send("POST", "/v1/bindings", "order-1", json={"mode": "XB", "b": B})
    again = await client.send("POST", "/v1/bindings", "order-1", json={"mode": "XB", "b": B})
    assert first[:2] == again[:2] and first[0] == 201
    assert (first[2], again[2]) == (False, True)
    assert len(client.bindings()) == 1


async def test_the_same_json_in_another_key_order_or_spacing_is_the_same_request(client: Client) -> None:
    first = await client.send("POST", "/v1/bindings", "k", json={"mode": "AXB", "a": A, "b": B})
    again = await client.send("POST", "/v1/bindings", "k", data=f'{{ "b": "{B}",  "a": "{A}", "mode": "AXB" }}')
    assert again == (*first[:2], True)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [("POST", "/v1/bindings", {"mode": "XB", "b": C}), ("POST", "/v1/calls", {"caller": A, "x": B}),
     ("DELETE", "/v1/bindings/bnd_00000001", None)],
    ids=["other-body", "other-path", "other-method"],
)
async def test_a_key_reused_for_another_request_is_refused(client: Client, method, path, body) -> None:
    await client.send("POST", "/v1/bindings", "k", json={"mode": "XB", "b": B})
    before = client.provider.ledger.snapshot()
    status, error, _ = await client.send(method, path, "k", json=body)
    assert (status, error["code"], error["field"]) == (422, "IDEMPOTENCY_KEY_REUSED", "Idempotency-Key")
    after = client.provider.ledger.snapshot()
    assert {**after, "now": None} == {**before, "now": None}


async def test_a_refusal_for_bad_input_is_not_kept_so_the_fixed_request_can_reuse_the_key(client: Client) -> None:
    status, error, _ = await client.send("POST", "/v1/bindings", "k", json={"mode": "XB", "b": "123"})
    assert (status, error["code"]) == (400, "INVALID_NUMBER")
    status, created, replayed = await client.send("POST", "/v1/bindings", "k", json={"mode": "XB", "b": B})
    assert (status, replayed) == (201, False)


async def test_a_business_refusal_is_kept_the_first_result_wins(client: Client) -> None:
    xb = (await client.send("POST", "/v1/bindings", json={"mode": "XB", "b": B}))[1]
    conflict = await client.send("POST", "/v1/bindings", "k", json={"mode": "XB", "x": xb["x"], "b": C})
    assert (conflict[0], conflict[1]["code"]) == (409, "BIND_CONFLICT")
    await client.send("DELETE", f"/v1/bindings/{xb['binding_id']}")
    assert await client.send("POST", "/v1/bindings", "k", json={"mode": "XB", "x": xb["x"], "b": C}) == (
        *conflict[:2], True)
    assert [b.status for b in client.bindings()] == []  # released bindings are not listed; nothing new


async def test_a_repeated_delete_replays_200_instead_of_404(client: Client) -> None:
    xb = (await client.send("POST", "/v1/bindings", json={"mode": "XB", "b": B}))[1]
    path = f"/v1/bindings/{xb['binding_id']}"
    first, again = await client.send("DELETE", path, "del-1"), await client.send("DELETE", path, "del-1")
    assert first[0] == 200 and again == (*first[:2], True)
    assert (await client.send("DELETE", path, "del-2"))[1]["code"] == "BINDING_NOT_FOUND"


async def test_a_repeated_patch_applies_once(client: Client) -> None:
    axb = (await client.send("POST", "/v1/bindings", json={"mode": "AXB", "a": A, "b": B, "expires_in": 60}))[1]
    path = f"/v1/bindings/{axb['binding_id']}"
    first = await client.send("PATCH", path, "p", json={"expires_in": 600})
    again = await client.send("PATCH", path, "p", json={"expires_in": 600})
    assert first[0] == 200 and again == (*first[:2], True)


async def test_gets_ignore_the_key(client: Client) -> None:
    await client.send("POST", "/v1/bindings", "k", json={"mode": "XB", "b": B})
    status, listed, replayed = await client.send("GET", "/v1/bindings", "k")
    assert (status, len(listed["bindings"]), replayed) == (200, 1, False)


async def test_concurrent_requests_with_one_key_bind_once_and_all_see_the_same_result(client: Client) -> None:
    answers = await asyncio.gather(
        *(client.send("POST", "/v1/bindings", "burst", json={"mode": "AXB", "a": A, "b": B}) for _ in range(12))
    )
    assert len({(status, body["binding_id"]) for status, body, _ in answers}) == 1
    assert sorted(replayed for *_, replayed in answers) == [False] + [True] * 11
    assert len(client.bindings()) == 1


@pytest.mark.parametrize("then", ["status", "reset"])
async def test_ghost_success_then_a_retry_with_the_key_gets_the_first_result(client: Client, then: str) -> None:
    """The fault engine applies the create and loses the reply; the retry must not bind a second time."""
    rule = {"match": {"operation": "create_binding"}, "action": {"kind": "ghost_success", "then": then},
            "when": {"first": 1}}
    assert (await client.send("POST", "/_admin/faults", json=rule))[0] in (200, 201)
    body = {"mode": "XB", "b": B, "city": "Hangzhou"}
    if then == "status":
        status, error, _ = await client.send("POST", "/v1/bindings", "ghost", json=body)
        assert status == 503
    else:
        with pytest.raises(aiohttp.ClientError):
            await client.send("POST", "/v1/bindings", "ghost", json=body)
    [applied] = client.bindings()
    status, retried, replayed = await client.send("POST", "/v1/bindings", "ghost", json=body)
    assert (status, retried["binding_id"], replayed) == (201, applied.binding_id, True)
    assert len(client.bindings()) == 1
    # Without the key the same retry binds again elsewhere: the key is what saves the client.
    assert (await client.send("POST", "/v1/bindings", json=body))[0] == 201
    assert len(client.bindings()) == 2


async def test_admin_reset_forgets_keys(client: Client) -> None:
    first = await client.send("POST", "/v1/bindings", "k", json={"mode": "XB", "b": B})
    assert (await client.send("POST", "/_admin/reset"))[0] == 200
    again = await client.send("POST", "/v1/bindings", "k", json={"mode": "XB", "b": B})
    assert (again[0], again[2]) == (201, False)
    assert again[1]["binding_id"] == first[1]["binding_id"]  # a fresh ledger numbers from the start again
    assert len(client.bindings()) == 1


# ---- the store itself: waiting on an operation still running, ageing out ----


async def test_a_second_caller_waits_for_the_first_and_gets_its_result() -> None:
    store: IdempotencyStore[str] = IdempotencyStore(ManualClock())
    release, runs = asyncio.Event(), []

    async def slow() -> str:
        runs.append(1)
        await release.wait()
        return "bound"

    first = asyncio.create_task(store.once("k", "req", slow, keep=lambda _: True))
    second = asyncio.create_task(store.once("k", "req", slow, keep=lambda _: True))
    other = asyncio.create_task(store.once("k", "different", slow, keep=lambda _: True))
    await asyncio.sleep(0)  # let all three reach the store (no time passes)
    with pytest.raises(IdempotencyKeyReused):
        await other
    assert not second.done()
    release.set()
    assert (await first, await second) == (("bound", False), ("bound", True))
    assert runs == [1]


async def test_a_failed_first_attempt_lets_the_waiting_one_run() -> None:
    store: IdempotencyStore[str] = IdempotencyStore(ManualClock())
    release = asyncio.Event()

    async def failing() -> str:
        await release.wait()
        raise RuntimeError("crashed")

    async def working() -> str:
        return "bound"

    first = asyncio.create_task(store.once("k", "req", failing, keep=lambda _: True))
    await asyncio.sleep(0)
    second = asyncio.create_task(store.once("k", "req", working, keep=lambda _: True))
    await asyncio.sleep(0)
    release.set()
    with pytest.raises(RuntimeError):
        await first
    assert await second == ("bound", False)


async def test_results_age_out_after_the_ttl_and_the_store_is_bounded() -> None:
    clock = ManualClock()
    store: IdempotencyStore[int] = IdempotencyStore(clock, ttl=3600, max_entries=3)

    computed = iter(range(100))

    async def value() -> int:
        return next(computed)

    assert await store.once("a", "r", value, keep=lambda _: True) == (0, False)
    clock.advance(3599)
    assert (await store.once("a", "r", value, keep=lambda _: True))[1] is True
    clock.advance(1)
    assert (await store.once("a", "r", value, keep=lambda _: True))[1] is False
    for key in "bcde":
        await store.once(key, "r", value, keep=lambda _: True)
    assert len(store) == 3
    assert (await store.once("e", "r", value, keep=lambda _: True))[1] is True


@pytest.mark.looptime
async def test_ghost_success_behind_a_timeout_then_a_retry_with_the_key(pstnsim_provider_factory) -> None:
    """The create is applied, the reply hangs past the client's deadline (virtual time); the retry replays."""
    provider = await pstnsim_provider_factory()
    provider.faults.add({"match": {"operation": "create_binding"},
                         "action": {"kind": "ghost_success", "then": "timeout", "seconds": 30}, "when": {"first": 1}})
    body, headers = {"mode": "AXB", "a": A, "b": B}, {"Idempotency-Key": "op-7"}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as s:
        with pytest.raises(asyncio.TimeoutError):
            await s.post(provider.url + "/v1/bindings", json=body, headers=headers)
        [applied] = provider.ledger.bindings()
        async with s.post(provider.url + "/v1/bindings", json=body, headers=headers) as response:
            assert (response.status, response.headers.get(REPLAYED)) == (201, "true")
            assert (await response.json())["binding_id"] == applied.binding_id
    assert len(provider.ledger.bindings()) == 1
