"""Several `pstnsim core` replicas on one PostgreSQL database: real processes, the real simulator, real time.

One operation has one holder at a time (a race on one X lets exactly one request in), a replica killed
between the provider's answer and its commit leaves the operation to another that finishes it once,
and a replica paused past its lease cannot commit when it resumes."""

from __future__ import annotations

import asyncio
import signal

import aiohttp

from binding_core.transitions import check_history

from .conftest import DEADLINE, Cluster, poll, query

B = "13800000001"


async def bind(http: aiohttp.ClientSession, url: str, x: str, b: str) -> int:
    async with http.post(f"{url}/v1/numbers/{x}/xb", json={"b": b}) as response:
        return response.status


def moves(cluster: Cluster, x: str) -> list[tuple[str, str, int]]:
    return [(t["from_status"], t["to_status"], t["version"]) for t in cluster.transitions(x)]


async def test_two_replicas_racing_on_one_x_let_exactly_one_bind_in(cluster: Cluster):
    await cluster.start_provider()
    first, second = await cluster.replica("a"), await cluster.replica("b")
    [x] = await cluster.numbers(1)
    statuses = await asyncio.gather(*(bind(cluster.http, replica.url, x, f"1380000{i:04d}")
                                      for i in range(8) for replica in (first, second)))
    assert sorted(statuses) == [202] + [409] * 15
    await poll(lambda: _async_true(all(op["state"] == "done" for op in cluster.operations(x))), "the bind to finish")
    [op] = cluster.operations(x)
    [held] = await cluster.active_bindings(x)
    assert (op["outcome"], op["binding_id"]) == ("bound", held["binding_id"])
    assert moves(cluster, x) == [("NOT_BIND", "OPERATION", 1), ("OPERATION", "BIND", 2)]


async def test_a_replica_killed_before_its_commit_leaves_the_operation_to_another_which_finishes_it_once(cluster: Cluster):
    await cluster.start_provider()
    doomed = await cluster.replica("doomed", env={"PSTNSIM_CORE_CRASHPOINT": "after_provider_response"})
    survivor = await cluster.replica("survivor")
    [x] = await cluster.numbers(1)
    try:
        assert await bind(cluster.http, doomed.url, x, B) == 202
    except aiohttp.ClientError:
        pass  # it may die while answering
    assert await asyncio.wait_for(doomed.proc.wait(), DEADLINE) == -signal.SIGKILL
    await poll(lambda: _async_true(all(op["state"] == "done" for op in cluster.operations(x))),
               "the survivor to take the operation over")
    [op, sweep] = cluster.operations(x)  # taken over in doubt: a sweep looked for strays afterwards
    [held] = await cluster.active_bindings(x)
    assert (op["outcome"], op["binding_id"], op["claims"]) == ("bound", held["binding_id"], 2)
    assert (sweep["kind"], sweep["outcome"]) == ("sweep", "clean")
    assert len(await cluster.provider_calls("create_binding", x)) == 1  # adopted, never sent twice
    assert moves(cluster, x) == [("NOT_BIND", "OPERATION", 1), ("OPERATION", "BIND", 2)]
    async with cluster.http.get(f"{survivor.url}/v1/numbers/{x}") as response:
        assert (await response.json())["xb"]["binding_id"] == held["binding_id"]


async def test_a_replica_paused_past_its_lease_cannot_commit_when_it_resumes(cluster: Cluster):
    await cluster.start_provider()
    paused = await cluster.replica("paused")
    [x] = await cluster.numbers(1)
    # The provider applies the create and holds its answer: the paused replica's call is on the wire.
    await cluster.add_fault({"match": {"operation": "create_binding", "x": x},
                             "action": {"kind": "ghost_success", "then": "timeout", "seconds": 20},
                             "when": {"first": 1}})
    assert await bind(cluster.http, paused.url, x, B) == 202
    await poll(lambda: _has_binding(cluster, x), "the create to be applied")
    paused.proc.send_signal(signal.SIGSTOP)
    other = await cluster.replica("other")  # starts after the pause: only it can take the operation over
    await poll(lambda: _async_true(all(op["state"] == "done" for op in cluster.operations(x))),
               "the other replica to take over once the lease ran out")
    settled = moves(cluster, x)
    paused.proc.send_signal(signal.SIGCONT)
    async def refused() -> bool:
        return f"lost the claim on {cluster.operations(x)[0]['id']}" in paused.log_text()
    await poll(refused, "the resumed replica to find its claim gone")
    async with cluster.http.get(f"{paused.url}/health") as response:
        assert response.status == 200  # it serves on
    assert moves(cluster, x) == settled == [("NOT_BIND", "OPERATION", 1), ("OPERATION", "BIND", 2)]
    [op] = [op for op in cluster.operations(x) if op["kind"] == "bind"]
    [held] = await cluster.active_bindings(x)
    assert (op["outcome"], op["binding_id"], op["claims"]) == ("bound", held["binding_id"], 2)
    async with cluster.http.get(f"{other.url}/v1/transitions") as response:
        assert check_history((await response.json())["transitions"]) == []


async def test_replicas_whose_database_connections_are_cut_reconnect_and_every_accepted_bind_finishes_once(
        cluster: Cluster):
    await cluster.start_provider()
    replicas = [await cluster.replica("a"), await cluster.replica("b")]
    numbers = await cluster.numbers(12)

    def cut() -> int:
        """pg_terminate_backend on every session of the replicas (all but this query's own)."""
        return len(query(cluster.db_url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                         "WHERE datname = current_database() AND pid <> pg_backend_pid()"))

    async def bind_during_cuts(i: int, x: str) -> int:
        if i % 3 == 0:
            cut()
        try:
            return await bind(cluster.http, replicas[i % 2].url, x, B)
        except aiohttp.ClientError:
            return 0

    statuses = dict(zip(numbers, await asyncio.gather(*(bind_during_cuts(i, x) for i, x in enumerate(numbers)))))
    assert cut() >= 1  # the replicas had reconnected
    assert set(statuses.values()) <= {202, 503, 500, 0}, statuses  # 503 STORE_BUSY: the accept was cut off
    await poll(lambda: _async_true(all(op["state"] == "done" for x in numbers for op in cluster.operations(x))),
               "every accepted bind to finish")
    for x, status in statuses.items():
        held = await cluster.active_bindings(x)
        binds = [op for op in cluster.operations(x) if op["kind"] == "bind"]
        assert len(binds) <= 1 and len(held) == len(binds), (x, status, binds, held)  # none twice, no orphan
        if status == 202:
            assert (binds[0]["outcome"], binds[0]["binding_id"]) == ("bound", held[0]["binding_id"])
        assert moves(cluster, x) in ([], [("NOT_BIND", "OPERATION", 1), ("OPERATION", "BIND", 2)])
    assert list(statuses.values()).count(202) >= len(numbers) // 2, statuses


async def _async_true(value: bool) -> bool:
    return value


async def _has_binding(cluster: Cluster, x: str) -> bool:
    return bool(await cluster.active_bindings(x))
