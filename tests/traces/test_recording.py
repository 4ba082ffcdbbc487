"""`pstnsim provider --trace`: what the provider's own trace says about each fault, beyond the wire."""

from __future__ import annotations

import aiohttp
import pytest

from simulator.config import ProviderConfig
from simulator.server import Provider
from simulator.traces import read_trace

B = "13800000003"


@pytest.mark.parametrize("action, applied, status, failure", [
    ({"kind": "ghost_success", "status": 503}, True, 503, None),
    ({"kind": "status", "status": 500}, False, 500, None),
    ({"kind": "reset"}, False, None, "reset"),
    ({"kind": "ghost_success", "then": "reset"}, True, None, "reset"),
    ({"kind": "truncated_body"}, True, 201, "truncated_body"),
])
async def test_each_fault_is_traced_with_what_the_client_saw_and_whether_it_was_applied(
        tmp_path, action, applied, status, failure):
    trace_file = tmp_path / "trace.jsonl"
    async with Provider(ProviderConfig(seed=7, trace_file=trace_file)) as provider:
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{provider.admin_url}/faults",
                                    json={"match": {"operation": "create_binding"}, "action": action}) as r:
                assert r.status == 201, await r.text()
            try:
                async with session.post(f"{provider.url}/v1/bindings", json={"mode": "XB", "b": B}) as r:
                    await r.read()
            except aiohttp.ClientError:
                pass  # the reset / cut body the fault promised
        made = provider.ledger.bindings()
    [line] = read_trace(trace_file).exchanges
    assert (line.dialect, line.action, line.params) == ("native", "create_binding", {"mode": "XB", "b": B})
    assert line.applied is applied and line.status == status
    assert (line.failure.kind if line.failure else None) == failure
    assert bool(made) is applied
    if applied and action["kind"] == "ghost_success":  # the answer the client never saw names the binding
        assert line.provider_response["status"] == 201
        assert line.provider_response["body"]["binding_id"] == made[0].binding_id
