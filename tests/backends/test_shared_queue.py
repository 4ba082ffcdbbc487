"""Two cores in one event loop on one PostgreSQL database (separate connections), against the simulator, in
virtual time: they share the queue, each operation changes its row exactly twice whoever ran it, and an
operation that keeps failing raises exactly one alert and is settled once, whichever replica ran which attempt."""

from __future__ import annotations

import random
from typing import Any, AsyncIterator

import aiohttp
import pytest
import pytest_asyncio

from binding_core.app import Core
from binding_core.clock import LoopClock
from binding_core.config import CoreConfig, RetrySettings, WorkerSettings
from binding_core.transitions import check_history
from simulator.clock import FIXED_EPOCH
from simulator.server import Provider
from simulator.testing import provider_config

pytestmark = pytest.mark.looptime

B = "13800000001"
CONFIG = CoreConfig(retry=RetrySettings(max_attempts=4, base_delay=0.5, max_delay=4.0, alert_threshold=3),
                    worker=WorkerSettings(poll_interval=0.5), seed=1)


@pytest_asyncio.fixture
async def replicas(pstnsim_postgres_url: str) -> AsyncIterator[Any]:
    """`provider, cores = await replicas(n)`: started inside the test (looptime), stopped at teardown."""
    started: list[Any] = []

    async def start(n: int) -> tuple[Provider, list[Core]]:
        provider = await Provider(provider_config(5)).start()
        started.append(provider)
        cores = []
        for i in range(n):
            core = await Core(CONFIG, provider_url=provider.url, db_path=pstnsim_postgres_url,
                              clock=LoopClock(epoch=FIXED_EPOCH), rng=random.Random(f"replica {i}")).start()
            started.append(core)
            cores.append(core)
        return provider, cores

    yield start
    for server in reversed(started):
        await server.stop()


def agrees(provider: Provider, core: Core, x: str) -> None:
    view = core.store.view(x)["xb"]
    held = [b.binding_id for b in provider.ledger.bindings(x=x) if b.mode == "XB"]
    assert view["status"] != "OPERATION"
    assert held == ([view["binding_id"]] if view["status"] == "BIND" else [])


def count_claims(cores: list[Core]) -> dict[int, int]:
    """Claims each core's worker won, by the core's index (the store's own claim, counted on the way out)."""
    claimed = {i: 0 for i in range(len(cores))}
    for i, core in enumerate(cores):
        def counting(*args: Any, _real: Any = core.store.claim, _i: int = i, **kwargs: Any) -> Any:
            op = _real(*args, **kwargs)
            claimed[_i] += op is not None
            return op
        core.store.claim = counting  # type: ignore[method-assign]
    return claimed


async def test_two_replicas_share_the_queue_and_each_operation_changes_its_row_exactly_twice(replicas):
    provider, (first, second) = await replicas(2)
    claimed = count_claims([first, second])
    # half the creates fail (applied or not), so retries land in the shared queue for either replica
    provider.faults.add({"match": {"operation": "create_binding"}, "action": {"kind": "ghost_success", "status": 503},
                         "when": {"probability": 0.5}})
    numbers = [n.x for n in provider.ledger.numbers()][:12]
    async with aiohttp.ClientSession() as http:
        for i, x in enumerate(numbers):
            async with http.post(f"{(first, second)[i % 2].url}/v1/numbers/{x}/xb", json={"b": B}) as response:
                assert response.status == 202
    assert await first.wait_settled(3600) and await second.wait_settled(3600)
    assert claimed[0] > 0 and claimed[1] > 0, claimed  # both worked the shared queue
    per_op: dict[str, int] = {}
    for t in first.store.transitions():
        per_op[t["operation_id"]] = per_op.get(t["operation_id"], 0) + 1
    assert set(per_op.values()) == {2} and len(per_op) == len(numbers)
    for x in numbers:
        agrees(provider, second, x)
        assert first.store.view(x)["xb"]["status"] == "BIND"
    assert check_history(second.store.transitions()) == []


async def test_retries_spread_over_replicas_raise_exactly_one_alert_and_settle_once(replicas):
    provider, cores = await replicas(3)
    claimed = count_claims(cores)
    [x] = [n.x for n in provider.ledger.numbers()][:1]
    provider.faults.add({"match": {"operation": "create_binding", "x": x}, "action": {"kind": "status", "status": 503}})
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{cores[0].url}/v1/numbers/{x}/xb", json={"b": B}) as response:
            assert response.status == 202
            op_id = (await response.json())["operation_id"]
    for core in cores:
        assert await core.wait_settled(3600)
    print("retries claimed per replica:", claimed)
    assert sum(n > 0 for n in claimed.values()) >= 2, claimed  # the attempts really were spread
    op = cores[1].store.operation(op_id)
    assert (op.state, op.attempts, op.alerted) == ("dead", CONFIG.retry.max_attempts, True)
    assert [(a["operation_id"], a["attempts"]) for a in cores[2].store.alerts()] == [(op_id, 3)]
    assert sum(len(core.alerts) for core in cores) == 1  # delivered by the one replica that claimed it
    assert [t["to_status"] for t in cores[0].store.transitions(x)] == ["OPERATION", "NOT_BIND"]
    agrees(provider, cores[0], x)


async def test_cores_made_alike_in_one_process_claim_as_different_owners(pstnsim_postgres_url):
    cores = [await Core(CoreConfig(), provider_url="http://127.0.0.1:9", db_path=pstnsim_postgres_url).start()
             for _ in range(2)]
    try:
        owners = {core.parts.worker.owner for core in cores}
    finally:
        for core in cores:
            await core.stop()
    assert len(owners) == 2, owners  # one name on two replicas would let both pass the lease fence
