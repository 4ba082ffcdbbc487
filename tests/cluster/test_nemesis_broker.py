"""The broker faults on a real RabbitMQ, with a consumer standing in for a replica: a duplicated message arrives
twice, a redelivered one again, and one pushed past the delivery limit lands in NS.dead.

Each test declares its own namespace's topology (as the core declares it) and deletes it afterwards."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import AsyncIterator

import pytest

from scenarios.cluster.nemesis import Action, run_nemesis

DELIVERY_LIMIT = 5
DEADLINE = 15.0


class Namespace:
    """A namespace's topology on the broker (exchange NS, quorum NS.work with the delivery limit, fanout NS.dlx
    -> NS.dead) and a stand-in replica: a plain consumer of NS.work that records and acks what it gets."""

    def __init__(self, url: str, connection, name: str) -> None:
        self.url = url
        self.connection = connection
        self.name = name
        self.received: list = []
        self.arrived = asyncio.Event()
        # aio-pika (the rabbitmq extra) is imported only once the fixture has found it installed
        import aio_pika

        from scenarios.cluster import broker_tools

        self.amqp = aio_pika
        self.tools = broker_tools

    async def declare(self) -> None:
        """The topology exactly as every replica declares it."""
        from binding_core.broker.topology import declare

        self.channel = await self.connection.channel()
        topology = await declare(self.channel, self.name, delivery_limit=DELIVERY_LIMIT)
        self.exchange, self.work, self.dead = topology.exchange, topology.work, topology.dead

    async def start_replica(self) -> None:
        channel = await self.connection.channel()
        await channel.set_qos(prefetch_count=10)
        queue = await channel.declare_queue(f"{self.name}.work", passive=True)

        async def on_message(message) -> None:
            self.received.append(message)
            self.arrived.set()
            await message.ack()

        await queue.consume(on_message)

    async def publish(self, op: str, *, key: str = "work") -> str:
        """A run message for `op`, straight to NS.work or (key "delay.<ms>") through a delay queue."""
        message_id = uuid.uuid4().hex
        body = json.dumps({"op": op, "at": 0, "kind": "run"}).encode()
        message = self.amqp.Message(body, message_id=message_id, content_type="application/json",
                                    delivery_mode=self.amqp.DeliveryMode.PERSISTENT)
        await self.exchange.publish(message, key)
        return message_id

    async def consumers(self) -> int:
        queue = await self.channel.declare_queue(f"{self.name}.work", passive=True)
        return queue.declaration_result.consumer_count

    async def wait_consumers(self, n: int, *, exactly: bool = False) -> None:
        """Until NS.work has `n` consumers (at least, or exactly), polled with a deadline: the broker counts a
        consumer a moment after it joined or left."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DEADLINE
        while True:
            count = await self.consumers()
            if count == n or (count > n and not exactly):
                return
            assert loop.time() < deadline, f"{count} consumers on {self.name}.work, not {n}, after {DEADLINE} s"
            await asyncio.sleep(0.02)

    async def wait_received(self, n: int) -> None:
        async def enough() -> None:
            while len(self.received) < n:
                self.arrived.clear()
                await self.arrived.wait()

        await asyncio.wait_for(enough(), DEADLINE)


@pytest.fixture
async def ns(pstnsim_rabbitmq_url: str) -> AsyncIterator[Namespace]:
    """A namespace of the test's own on the broker ($PSTNSIM_TEST_RABBITMQ; the fixture skips, or fails under
    CI=true, when it is unusable), deleted afterwards, messages and all."""
    from binding_core.broker.topology import delete_topology

    import aio_pika

    connection = await aio_pika.connect(pstnsim_rabbitmq_url, timeout=5)
    namespace = Namespace(pstnsim_rabbitmq_url, connection, f"pstnsim-nemesis-t-{uuid.uuid4().hex[:12]}")
    try:
        await namespace.declare()
        yield namespace
    finally:
        await connection.close()
        await delete_topology(pstnsim_rabbitmq_url, namespace.name)


@pytest.fixture
async def spawn(ns: Namespace) -> AsyncIterator:
    """`spawn(coro)` runs the nemesis beside the test; a task still running at the end (the test failed) is
    cancelled before the namespace goes."""
    tasks: list[asyncio.Task] = []

    def start(coro) -> asyncio.Task:
        tasks.append(asyncio.create_task(coro))
        return tasks[-1]

    yield start
    for task in tasks:
        task.cancel()
    await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), DEADLINE)


async def test_duplicate_delivers_one_message_twice(ns: Namespace, spawn) -> None:
    await ns.start_replica()
    nemesis = spawn(ns.tools.duplicate(ns.url, ns.name, messages=1, wait=DEADLINE))
    await ns.wait_consumers(2)
    message_id = await ns.publish("op-dup")
    await ns.wait_received(2)
    result = await asyncio.wait_for(nemesis, DEADLINE)
    assert result["outcome"] == "done"
    assert [(m["message_id"], m["op"], m["kind"]) for m in result["messages"]] == [(message_id, "op-dup", "run")]
    first, second = ns.received
    assert first.body == second.body and first.message_id == second.message_id == message_id
    # one is the copy, the other the original coming back
    assert sorted(bool((m.headers or {}).get(ns.tools.COPY_HEADER)) for m in ns.received) == [False, True]
    assert any(m.redelivered for m in ns.received)


async def test_redeliver_returns_the_message_to_a_replica(ns: Namespace, spawn) -> None:
    await ns.start_replica()
    nemesis = spawn(ns.tools.redeliver(ns.url, ns.name, messages=1, wait=DEADLINE))
    await ns.wait_consumers(2)
    message_id = await ns.publish("op-again")
    await ns.wait_received(1)
    result = await asyncio.wait_for(nemesis, DEADLINE)
    assert result["outcome"] == "done"
    (message,) = ns.received
    assert message.message_id == message_id and message.redelivered
    assert message.headers.get("x-delivery-count") == 1


async def test_delivery_limit_dead_letters_the_message_through_run_nemesis(ns: Namespace, spawn) -> None:
    await ns.start_replica()

    class BrokerOnlyCluster:
        replicas: list = []
        db_url, admin_db_url, lease = "", None, 1.0
        broker_url, broker_namespace = ns.url, ns.name

    log: list = []
    run = spawn(run_nemesis(BrokerOnlyCluster(), [Action(0.0, "delivery_limit", None, {"wait": DEADLINE})],
                                          asyncio.get_running_loop().time(), log))
    await ns.wait_consumers(2)
    message_id = await ns.publish("op-doomed")
    await asyncio.wait_for(run, DEADLINE + 5)
    (record,) = log
    assert record["outcome"] == "dead-lettered", record
    assert record["details"]["message_id"] == message_id and record["details"]["op"] == "op-doomed"
    assert record["details"]["deliveries"] == DELIVERY_LIMIT + 1
    dead = await ns.dead.get(timeout=5, fail=False)
    assert dead is not None and dead.message_id == message_id
    assert dead.headers["x-first-death-reason"] == "delivery_limit"
    await dead.ack()
    assert ns.received == []  # the replica never saw it: every return went to the nemesis


async def test_delivery_limit_counts_a_message_that_came_through_a_delay_queue(ns: Namespace, spawn) -> None:
    """Such a message already "died" once (expired in its delay queue): its dead letter's first death is not the
    delivery limit, yet it is the one pushed past it."""
    nemesis = spawn(ns.tools.deliver_past_limit(ns.url, ns.name, wait=DEADLINE))
    await ns.wait_consumers(1)
    message_id = await ns.publish("op-delayed", key="delay.250")
    result = await asyncio.wait_for(nemesis, DEADLINE + 5)
    assert result["outcome"] == "dead-lettered", result
    assert result["message_id"] == message_id and result["deliveries"] == DELIVERY_LIMIT + 1
    dead = await ns.dead.get(timeout=5, fail=False)
    assert dead is not None and dead.message_id == message_id
    assert dead.headers["x-first-death-reason"] == "expired"
    await dead.ack()


async def test_no_message_within_the_wait_is_an_outcome_not_an_error(ns: Namespace) -> None:
    result = await ns.tools.duplicate(ns.url, ns.name, messages=2, wait=0.2)
    assert result == {"outcome": "no message", "messages": []}
    result = await ns.tools.deliver_past_limit(ns.url, ns.name, wait=0.2)
    assert result == {"outcome": "no message"}
    await ns.wait_consumers(0, exactly=True)  # the nemesis left no consumer behind


async def test_a_robust_client_through_the_proxy_reconnects_after_a_cut(ns: Namespace) -> None:
    """What cut_broker does to a replica: its broker connection drops, it reconnects through the proxy and
    its consumer receives again."""
    from urllib.parse import urlsplit

    from scenarios.cluster.tcp_proxy import TcpProxy

    target = urlsplit(ns.url)
    proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 5672)
    port = await proxy.start()
    via = target._replace(netloc=f"{target.username}:{target.password}@127.0.0.1:{port}",
                          query="reconnect_interval=0.1").geturl()
    client = await ns.amqp.connect_robust(via, timeout=5)
    reconnected = asyncio.Event()
    client.reconnect_callbacks.add(lambda *_: reconnected.set())
    try:
        channel = await client.channel()
        queue = await channel.declare_queue(f"{ns.name}.work", passive=True)
        got: asyncio.Queue = asyncio.Queue()

        async def on_message(message) -> None:
            await message.ack()
            got.put_nowait(message.message_id)

        await queue.consume(on_message)
        before = await ns.publish("op-before")
        assert await asyncio.wait_for(got.get(), DEADLINE) == before
        assert await proxy.cut() == 1
        await asyncio.wait_for(reconnected.wait(), DEADLINE)
        after = await ns.publish("op-after")
        assert await asyncio.wait_for(got.get(), DEADLINE) == after
        assert proxy.accepted == 2 and proxy.cuts == 1
    finally:
        await client.close()
        await proxy.stop()
