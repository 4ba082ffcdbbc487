"""The broker's delivery limit: a message returned too often (here by a consumer that always gives it back,
as a replica crashing on it would) is dead-lettered, and a replica turns the dead letter into the operation's
one alert and settles the operation by asking the provider."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from .conftest import DEADLINE, BrokerHand, Cluster, poll, query

B = "13800000001"
QUEUES = ("work", "delay.250", "delay.1000", "delay.4000", "delay.15000", "delay.60000")


async def test_a_message_returned_past_the_delivery_limit_is_dead_lettered_alerted_once_and_settled_by_query(
        broker_cluster: Cluster):
    cluster = broker_cluster
    await cluster.start_provider()
    first = await cluster.replica("first")
    [x] = await cluster.numbers(1)
    # Every create hangs past the core's timeout without applying: no attempt can finish the bind.
    await cluster.add_fault({"match": {"operation": "create_binding", "x": x}, "action": {"kind": "timeout", "seconds": 3}})
    async with BrokerHand(cluster.broker_url, cluster.namespace) as hand:
        returned: list[str] = []

        async def give_back(message: Any) -> None:
            returned.append(message.body.decode())
            await message.nack(requeue=True)

        channel = await hand.connection.channel()
        work = await channel.declare_queue(f"{cluster.namespace}.work", passive=True)
        await work.consume(give_back)
        async with cluster.http.post(f"{first.url}/v1/numbers/{x}/xb", json={"b": B}) as response:
            assert response.status == 202
            op_id = (await response.json())["operation_id"]
        # A graceful stop hands the operation back (a message due now); from then on only give_back consumes.
        first.proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(first.proc.wait(), DEADLINE) == 0

        async def all_dead_lettered() -> bool:
            return (await hand.ready("dead") >= 1
                    and all([await hand.ready(queue) == 0 for queue in QUEUES])
                    and query(cluster.db_url, "SELECT count(*) AS n FROM outbox")[0]["n"] == 0)
        await poll(all_dead_lettered, "every message of the operation to be dead-lettered")
        await channel.close()
    assert [body for body in returned if op_id not in body] == []
    [op] = cluster.operations(x)
    assert op["state"] == "pending"  # nobody could finish it: it waits for a message that never comes

    second = await cluster.replica("second")

    async def settled() -> bool:
        [op] = cluster.operations(x)
        return op["state"] == "dead"
    await poll(settled, "the dead letter to settle the operation")
    [op] = cluster.operations(x)
    assert (op["outcome"], op["binding_id"]) == ("settled", None)
    assert await cluster.active_bindings(x) == []
    assert [(t["from_status"], t["to_status"]) for t in cluster.transitions(x)] == [
        ("NOT_BIND", "OPERATION"), ("OPERATION", "NOT_BIND")]
    alerts = query(cluster.db_url, "SELECT * FROM alerts WHERE operation_id = %s", [op_id])
    assert len(alerts) == 1 and alerts[0]["last_error"] == "delivery limit reached (6 deliveries)", alerts
    await poll(lambda: _true(query(cluster.db_url, "SELECT delivered FROM alerts")[0]["delivered"] == 1),
               "the alert to be delivered")
    assert f"message for {op_id} dead-lettered by the broker" in second.log_text()
    assert second.log_text().count(f"ALERT operation {op_id}") == 1


async def _true(value: bool) -> bool:
    return value
