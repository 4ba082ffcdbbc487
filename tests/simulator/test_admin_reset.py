"""`POST /_admin/reset` puts the provider back as it started: its --faults file's rules, re-armed; rules added at
runtime gone; the seeded ledger. `{"rules": "keep"}` / `{"rules": "clear"}` choose otherwise."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

FAULTS_FILE = """
[[rules]]
id = "ghost-first-create"
match = { operation = "create_binding" }
action = { kind = "ghost_success", then = "status", status = 503 }
when = { first = 1 }
"""
RUNTIME_RULE = {"id": "added", "match": {"operation": "delete_binding"}, "action": {"kind": "status", "status": 500}}


@pytest.fixture
async def admin(pstnsim_provider_factory, tmp_path):
    faults = tmp_path / "faults.toml"
    faults.write_text(FAULTS_FILE)
    provider = await pstnsim_provider_factory(faults_file=faults)
    async with aiohttp.ClientSession(base_url=provider.url) as session:

        async def send(method: str, path: str, body: Any = None) -> tuple[int, Any]:
            async with session.request(method, path, json=body) as response:
                return response.status, (await response.json() if response.status != 204 else None)

        yield send


async def bind(send) -> int:
    status, _ = await send("POST", "/v1/bindings", {"mode": "XB", "b": "13800000002"})
    return status


async def rule_table(send) -> dict[str, tuple[int, int]]:
    _, body = await send("GET", "/_admin/faults")
    return {rule["id"]: (rule["matched"], rule["fired"]) for rule in body["rules"]}


async def test_reset_restores_the_faults_file_rules_rearmed_and_drops_rules_added_since(admin):
    assert await bind(admin) == 503  # the file's rule fires once (first = 1)...
    assert await bind(admin) == 201  # ...and is spent
    assert (await admin("POST", "/_admin/faults", RUNTIME_RULE))[0] == 201
    assert (await admin("DELETE", "/_admin/faults/ghost-first-create"))[0] == 204

    status, body = await admin("POST", "/_admin/reset")

    assert (status, body) == (200, {"reset": True, "rules": 1})
    assert await rule_table(admin) == {"ghost-first-create": (0, 0)}
    _, ledger = await admin("GET", "/_admin/ledger")
    assert ledger["bindings"] == []
    assert await bind(admin) == 503, "the file's rule is armed again"


async def test_reset_keep_keeps_the_current_rules_and_clear_drops_them(admin):
    await admin("POST", "/_admin/faults", RUNTIME_RULE)
    assert await bind(admin) == 503

    assert (await admin("POST", "/_admin/reset", {"rules": "keep"}))[1]["rules"] == 2
    assert await rule_table(admin) == {"ghost-first-create": (0, 0), "added": (0, 0)}
    assert await bind(admin) == 503, "counts re-armed"

    assert (await admin("POST", "/_admin/reset", {"rules": "clear"}))[1]["rules"] == 0
    assert await bind(admin) == 201


async def test_a_bad_reset_body_changes_nothing(admin):
    assert await bind(admin) == 503
    status, body = await admin("POST", "/_admin/reset", {"rules": "some"})
    assert (status, body["code"]) == (400, "INVALID_ARGUMENT")
    assert "initial" in body["message"]
    assert await rule_table(admin) == {"ghost-first-create": (1, 1)}


async def test_the_in_process_reset_does_the_same(pstnsim_provider_factory, tmp_path):
    faults = tmp_path / "faults.toml"
    faults.write_text(FAULTS_FILE)
    provider = await pstnsim_provider_factory(faults_file=faults)
    provider.faults.add(RUNTIME_RULE)
    provider.reset()
    assert [rule.id for rule in provider.faults.rules] == ["ghost-first-create"]
    provider.reset(rules="clear")
    assert provider.faults.rules == []
