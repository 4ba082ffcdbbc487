"""The admin API over loopback: fault rules, ledger view, journal, reset, metrics; bad input changes nothing."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import make_mocked_request

from simulator import admin
from simulator.server import Provider
from simulator.testing import provider_config

from .conftest import ToyDialect, add_rule, numbers

RULE = {"id": "r503", "match": {"operation": "bind"}, "action": {"kind": "status", "status": 503}}


async def rules(session, provider) -> list[dict]:
    async with session.get(f"{provider.admin_url}/faults") as response:
        assert response.status == 200
        return (await response.json())["rules"]


async def test_add_list_replace_delete_clear(toy, session):
    provider = await toy()
    await add_rule(session, provider, RULE)
    await add_rule(session, provider, {"action": {"kind": "reset"}, "match": {"x": "1"}})
    assert [r["id"] for r in await rules(session, provider)] == ["r503", "rule-2"]

    async with session.put(f"{provider.admin_url}/faults",
                           json={"rules": [{"id": "only", "action": {"kind": "empty_reply"}}]}) as response:
        assert response.status == 200
    assert [r["id"] for r in await rules(session, provider)] == ["only"]

    async with session.delete(f"{provider.admin_url}/faults/only") as response:
        assert response.status == 204
    async with session.delete(f"{provider.admin_url}/faults/only") as response:
        assert response.status == 404
        assert (await response.json())["code"] == "RULE_NOT_FOUND"

    await add_rule(session, provider, RULE)
    async with session.delete(f"{provider.admin_url}/faults") as response:
        assert response.status == 200
    assert await rules(session, provider) == []


async def test_posting_an_existing_id_replaces_that_rule(toy, session):
    provider = await toy()
    await add_rule(session, provider, RULE)
    await add_rule(session, provider, {**RULE, "action": {"kind": "status", "status": 500}})
    [rule] = await rules(session, provider)
    assert rule["action"] == {"kind": "status", "status": 500}


async def test_listing_shows_how_often_each_rule_fired(toy, session):
    provider = await toy()
    x1, x2 = numbers(provider, 2)
    await add_rule(session, provider, {**RULE, "when": {"first": 1}})
    for x in (x1, x1, x2):
        async with session.post(f"{provider.url}/toy/bind", json={"x": x, "b": "13800000001"}):
            pass
    [rule] = await rules(session, provider)
    assert (rule["matched"], rule["fired"]) == (3, 2)


@pytest.mark.parametrize(
    ("method", "body", "code"),
    [
        ("post", b"{not json", "MALFORMED_JSON"),
        ("post", b"", "MISSING_BODY"),
        ("post", b'{"action": {"kind": "meltdown"}}', "INVALID_RULE"),
        ("post", b'{"action": {"kind": "reset"}, "colour": "red"}', "INVALID_RULE"),
        ("post", b"[1, 2]", "INVALID_RULE"),
        ("put", b'{"rules": [{"action": {"kind": "reset"}}, {"action": {"kind": "bogus"}}]}', "INVALID_RULE"),
        ("put", b'{"rulez": []}', "INVALID_RULE"),
        ("put", b'"rules"', "INVALID_RULE"),
    ],
)
async def test_bad_rules_are_400_and_change_nothing(toy, session, method, body, code):
    provider = await toy()
    await add_rule(session, provider, RULE)
    before = await rules(session, provider)
    async with session.request(method, f"{provider.admin_url}/faults", data=body,
                               headers={"Content-Type": "application/json"}) as response:
        assert response.status == 400
        answer = await response.json()
        assert answer["code"] == code and answer["message"]
    assert await rules(session, provider) == before


async def test_oversize_admin_body_is_413_json(toy, session):
    provider = await toy()
    async with session.post(f"{provider.admin_url}/faults", data=b"x" * (provider.config.max_body_bytes + 1)) as r:
        assert r.status == 413
        assert (await r.json())["code"] == "PAYLOAD_TOO_LARGE"
    assert await rules(session, provider) == []


async def test_unknown_paths_and_methods_answer_json(toy, session):
    provider = await toy()
    async with session.get(f"{provider.url}/no/such/path") as response:
        assert response.status == 404
        assert (await response.json())["code"] == "NOT_FOUND"
    async with session.patch(f"{provider.admin_url}/ledger") as response:
        assert response.status == 405
        assert (await response.json())["code"] == "METHOD_NOT_ALLOWED"
    async with session.get(f"{provider.admin_url}/journal", params={"limit": "zero"}) as response:
        assert response.status == 400
    async with session.get(f"{provider.admin_url}/journal", params={"colour": "red"}) as response:
        assert response.status == 400
        assert (await response.json())["code"] == "UNKNOWN_PARAMETER"


async def test_ledger_view_is_the_ground_truth(toy, session):
    provider = await toy()
    [x] = numbers(provider, 1)
    async with session.post(f"{provider.url}/toy/bind", json={"x": x, "b": "13800000001"}) as response:
        binding_id = (await response.json())["binding_id"]
    async with session.get(f"{provider.admin_url}/ledger") as response:
        view = await response.json()
    assert [(b["binding_id"], b["x"], b["b"]) for b in view["bindings"]] == [(binding_id, x, "13800000001")]
    assert {n["x"] for n in view["numbers"]} == {n.x for n in provider.ledger.numbers()}
    assert view["calls"] == []


async def test_ledger_view_with_released_shows_each_bindings_whole_life(toy, session):
    """A harness compares each binding's life with the client's history, so deleted ones must be there."""
    provider = await toy()
    [x] = numbers(provider, 1)
    async with session.post(f"{provider.url}/toy/bind", json={"x": x, "b": "13800000001"}) as response:
        binding_id = (await response.json())["binding_id"]
    provider.ledger.delete_binding(binding_id)
    async with session.get(f"{provider.admin_url}/ledger") as response:
        assert (await response.json())["bindings"] == []
    async with session.get(f"{provider.admin_url}/ledger", params={"released": "true"}) as response:
        [gone] = (await response.json())["bindings"]
    assert (gone["binding_id"], gone["status"]) == (binding_id, "released")
    assert gone["created_at"] <= gone["ended_at"]
    async with session.get(f"{provider.admin_url}/ledger", params={"released": "yes"}) as response:
        assert response.status == 400 and "released must be true or false" in (await response.json())["message"]


async def test_reset_restores_the_seeded_state_and_restarts_fault_counts(toy, session):
    provider = await toy()
    [x] = numbers(provider, 1)
    pool = provider.ledger.snapshot()["numbers"]
    await add_rule(session, provider, {**RULE, "when": {"first": 1}})
    async with session.post(f"{provider.url}/toy/bind", json={"x": x, "b": "13800000001"}) as response:
        assert response.status == 503
    async with session.post(f"{provider.url}/toy/bind", json={"x": x, "b": "13800000001"}) as response:
        assert response.status == 201

    async with session.post(f"{provider.admin_url}/reset", json={"rules": "keep"}) as response:
        assert response.status == 200
    assert provider.ledger.bindings() == [] and provider.ledger.snapshot()["numbers"] == pool
    assert len(provider.journal) == 0
    async with session.post(f"{provider.url}/toy/bind", json={"x": x, "b": "13800000001"}) as response:
        assert response.status == 503  # the rule was kept and counts from one again

    async with session.post(f"{provider.admin_url}/reset") as response:  # as it started: no rule
        assert response.status == 200
    assert await rules(session, provider) == []

    async with session.post(f"{provider.admin_url}/reset", json={"rules": "clear"}) as response:
        assert response.status == 200
    assert await rules(session, provider) == []
    async with session.post(f"{provider.admin_url}/reset", json={"rules": "maybe"}) as response:
        assert response.status == 400


async def test_admin_is_not_mounted_on_a_public_host_unless_allowed(session):
    # Bound to 0.0.0.0 for the test, reached over loopback.
    async with Provider(provider_config(0, host="0.0.0.0"), dialects=[ToyDialect]) as provider:
        async with session.get(f"http://127.0.0.1:{provider.port}/_admin/faults") as response:
            assert response.status == 404
        async with session.get(f"http://127.0.0.1:{provider.port}/metrics") as response:
            assert response.status == 404
    async with Provider(provider_config(0, host="0.0.0.0", allow_public_admin=True), dialects=[ToyDialect]) as p:
        async with session.get(f"http://127.0.0.1:{p.port}/_admin/faults") as response:
            assert response.status == 200


async def test_admin_refuses_a_non_loopback_peer(toy):
    provider = await toy()
    handler = next(r.handler for r in provider.app.router.routes()
                   if r.method == "GET" and r.resource.canonical == "/_admin/faults")

    class FarTransport:
        def get_extra_info(self, name, default=None):
            return ("203.0.113.9", 40000) if name == "peername" else default

    request = make_mocked_request("GET", "/_admin/faults", app=provider.app, transport=FarTransport())
    response = await handler(request)
    assert response.status == 403
    assert (await _json(response))["code"] == "ADMIN_FORBIDDEN"


def test_loopback_addresses():
    assert all(admin.is_loopback(h) for h in ("127.0.0.1", "127.8.8.8", "::1", "localhost"))
    assert not any(admin.is_loopback(h) for h in ("0.0.0.0", "10.0.0.1", "example.com", None, ""))


async def _json(response):
    import json

    return json.loads(response.body)
