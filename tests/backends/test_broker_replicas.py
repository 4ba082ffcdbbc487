"""`pstnsim core --broker`: replicas whose retries and watchdogs are RabbitMQ messages (no table scan), as real
processes on one PostgreSQL database and one broker namespace, against the real simulator.

A bind finishes through the broker, retries included; a message delivered several times runs the attempt
once (the claim is the fence); a replica killed mid-attempt, or after its commit but before its ack, leaves
the operation to another that finishes it once."""

from __future__ import annotations

import asyncio
import signal

import aiohttp

from .conftest import DEADLINE, BrokerHand, Cluster, outbox_size, poll

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
    assert await cluster.xb_bound(replica, x)
    await poll(lambda: _true(outbox_size(cluster.db_url) == 0), "the relay to empty the outbox")


async def test_a_run_message_delivered_many_times_to_two_replicas_runs_the_attempt_once(broker_cluster: Cluster):
    cluster = broker_cluster
    await cluster.start_provider()
    debug = ["--log-level", "DEBUG"]
    replicas = [await cluster.replica("a", extra=debug), await cluster.replica("b", extra=debug)]
    [x] = await cluster.numbers(1)
    await cluster.add_fault({"match": {"operation": "create_binding", "x": x},
                             "action": {"kind": "status", "status": 503}, "when": {"first": 1}})
    op_id = await bind(cluster, replicas[0].url, x)

    async def retry_queued() -> bool:
        ops = [op for op in cluster.operations(x) if op["kind"] == "bind"]
        return bool(ops) and (ops[0]["state"], ops[0]["attempts"]) == ("pending", 1)
    await poll(retry_queued, "the first attempt to fail and queue a retry")
    [op] = cluster.operations(x)
    # Five more copies of the retry's message, due when it is: both replicas race for them.
    async with BrokerHand(cluster.broker_url, cluster.namespace) as hand:
        for _ in range(5):
            await hand.publish({"op": op_id, "at": op["next_attempt_at"], "kind": "run"})

    def drops() -> int:
        return sum(r.log_text().count(f"dropped run message for {op_id} ") for r in replicas)
    # The five copies, and the watchdogs of the two claims once their leases ran out, are all dropped.
    await poll(lambda: _true(drops() >= 7), "every copy and watchdog to be dropped")
    [op] = [op for op in cluster.operations(x) if op["kind"] == "bind"]
    [held] = await cluster.active_bindings(x)
    assert (op["state"], op["outcome"], op["binding_id"]) == ("done", "bound", held["binding_id"])
    assert op["claims"] == 2  # the accept's own claim and the retry's: no copy ever got as far as a claim
    assert await create_calls(cluster, x) == [503, 201]
    assert moves(cluster, x) == [("NOT_BIND", "OPERATION"), ("OPERATION", "BIND")]


async def test_a_replica_killed_between_the_provider_answer_and_its_commit_leaves_the_operation_to_another(
        broker_cluster: Cluster):
    cluster = broker_cluster
    await cluster.start_provider()
    doomed = await cluster.replica("doomed", env={"PSTNSIM_CORE_CRASHPOINT": "after_provider_response"})
    [x] = await cluster.numbers(1)
    try:
        await bind(cluster, doomed.url, x)
    except aiohttp.ClientError:
        pass  # it may die while answering
    assert await asyncio.wait_for(doomed.proc.wait(), DEADLINE) == -signal.SIGKILL
    survivor = await cluster.replica("survivor")  # only the broker (the watchdog message) can hand it the work
    await poll(finished(cluster, x), "the survivor to take the operation over")
    [op, sweep] = cluster.operations(x)  # taken over in doubt: a sweep looked for strays afterwards
    [held] = await cluster.active_bindings(x)
    assert (op["outcome"], op["binding_id"], op["claims"]) == ("bound", held["binding_id"], 2)
    assert (sweep["kind"], sweep["outcome"]) == ("sweep", "clean")
    assert await create_calls(cluster, x) == [201]  # adopted, never sent twice
    assert moves(cluster, x) == [("NOT_BIND", "OPERATION"), ("OPERATION", "BIND")]
    async with cluster.http.get(f"{survivor.url}/v1/numbers/{x}") as response:
        assert (await response.json())["xb"]["binding_id"] == held["binding_id"]


async def test_a_replica_killed_after_its_commit_but_before_its_ack_gets_the_message_redelivered_and_dropped(
        broker_cluster: Cluster):
    cluster = broker_cluster
    await cluster.start_provider()
    doomed = await cluster.replica("doomed", env={"PSTNSIM_CORE_CRASHPOINT": "before_ack"})
    [x] = await cluster.numbers(1)
    # The accept's own attempt fails, so the retry is a message the doomed replica consumes, commits and
    # then dies holding, unacked.
    await cluster.add_fault({"match": {"operation": "create_binding", "x": x},
                             "action": {"kind": "status", "status": 503}, "when": {"first": 1}})
    op_id = await bind(cluster, doomed.url, x)
    assert await asyncio.wait_for(doomed.proc.wait(), DEADLINE) == -signal.SIGKILL
    [op] = [op for op in cluster.operations(x) if op["kind"] == "bind"]
    assert (op["state"], op["outcome"]) == ("done", "bound")  # committed before the crash
    survivor = await cluster.replica("survivor", extra=["--log-level", "DEBUG"])
    await poll(lambda: _true(f"dropped run message for {op_id} " in survivor.log_text()),
               "the survivor to get the unacked message again and drop it")
    [op] = [op for op in cluster.operations(x) if op["kind"] == "bind"]
    [held] = await cluster.active_bindings(x)
    assert (op["state"], op["binding_id"], op["claims"]) == ("done", held["binding_id"], 2)
    assert await create_calls(cluster, x) == [503, 201]
    assert moves(cluster, x) == [("NOT_BIND", "OPERATION"), ("OPERATION", "BIND")]


async def _true(value: bool) -> bool:
    return value
