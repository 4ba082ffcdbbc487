"""`pstnsim core --broker`: replicas whose retries and watchdogs are RabbitMQ messages (no table scan), as real
processes on one PostgreSQL database and one broker namespace, against the real simulator.

A bind finishes through the broker, retries included; a message delivered several times runs the attempt
once (the claim is the fence); a replica killed mid-attempt, or after its commit but before its ack, leaves
the operation to another that finishes it once."""

from __future__ import annotations

import asyncio
import signal

import aiohttp

from .conftest import DEADLINE, Cluster, poll, query

B = "13800000001"


async def bind(cluster: Cluster, url: str, x: str) -> str:
    async with cluster.http.post(f"{url}/v1/numbers/{x}/xb", json={"b": B}) as response:
        assert response.status == 202, await response.text()
        return (await response.json())["operation_id"]


def moves(cluster: Cluster, x: str) -> list[tuple[str, str]]:
    return [(t["from_status"], t["to_status"]) for t in cluster.transitions(x)]


def finished(cluster: Cluster, x: str):
    async def check() -> bool:
        ops = cluster.operations(x)
        return bool(ops) and all(op["state"] in ("done", "dead") for op in ops)
    return check


async def create_calls(cluster: Cluster, x: str) -> list[int]:
    """The HTTP status of every create_binding the provider received for `x`, in order."""
    return [entry["status"] for entry in await cluster.provider_calls("create_binding", x)]


async def test_one_replica_binds_through_the_broker_and_its_retries_come_back_as_messages(broker_cluster: Cluster):
    cluster = broker_cluster
    await cluster.start_provider()
    replica = await cluster.replica("a")
    [x] = await cluster.numbers(1)
    # Two refused creates: the attempts after them are only ever found through the broker (no table scan).
    await cluster.add_fault({"match": {"operation": "create_binding", "x": x},
                             "action": {"kind": "status", "status": 503}, "when": {"first": 2}})
    op_id = await bind(cluster, replica.url, x)
    await poll(finished(cluster, x), "the bind to finish")
    [op] = [op for op in cluster.operations(x) if op["kind"] == "bind"]  # (503s leave a sweep for late calls)
    [held] = await cluster.active_bindings(x)
    assert (op["id"], op["state"], op["outcome"], op["attempts"]) == (op_id, "done", "bound", 2)
    assert op["binding_id"] == held["binding_id"]
    assert await create_calls(cluster, x) == [503, 503, 201]
    assert moves(cluster, x) == [("NOT_BIND", "OPERATION"), ("OPERATION", "BIND")]
    async with cluster.http.get(f"{replica.url}/v1/numbers/{x}") as response:
        assert (await response.json())["xb"]["status"] == "BIND"
    await poll(lambda: _true(query(cluster.db_url, "SELECT count(*) AS n FROM outbox")[0]["n"] == 0),
               "the relay to empty the outbox")


async def _true(value: bool) -> bool:
    return value
