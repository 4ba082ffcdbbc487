"""The outbox relay against a real RabbitMQ: a row whose publish the broker took but whose confirm never came
back (the connection cut in between) is published again once the connection is back, never lost; and a core
on SQLite runs on the broker as on PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from binding_core.broker.connection import connect
from binding_core.broker.publisher import Publisher
from binding_core.broker.relay import Relay
from binding_core.broker.topology import declare
from binding_core.clock import LoopClock
from binding_core.storage import open_store

from .conftest import DEADLINE, BrokerHand, Cluster, outbox_size, poll

B = "13800000001"


class ReplyHoldingProxy:
    """A TCP proxy to the broker that can swallow what the broker sends back (so a publish arrives but its
    confirm does not) and cut every connection."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.hold_replies = False
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> "ReplyHoldingProxy":
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    def url(self, broker_url: str) -> str:
        parts = urlsplit(broker_url)
        netloc = parts.netloc.rsplit("@", 1)
        hostport = f"127.0.0.1:{self.port}"
        return urlunsplit(parts._replace(netloc=f"{netloc[0]}@{hostport}" if len(netloc) == 2 else hostport))

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        self.writers += [writer, up_writer]
        await asyncio.gather(self._pump(reader, up_writer, replies=False), self._pump(up_reader, writer, replies=True),
                             return_exceptions=True)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, replies: bool) -> None:
        try:
            while data := await reader.read(65536):
                if not (replies and self.hold_replies):
                    writer.write(data)
                    await writer.drain()
        finally:
            writer.close()

    def cut(self) -> None:
        for writer in self.writers:
            writer.transport.abort()
        self.writers.clear()

    async def close(self) -> None:
        self.cut()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


async def test_a_publish_cut_off_before_its_confirm_is_published_again_and_never_lost(
        tmp_path, pstnsim_rabbitmq_url: str, pstnsim_broker_namespace: str):
    upstream = urlsplit(pstnsim_rabbitmq_url)
    proxy = await ReplyHoldingProxy((upstream.hostname or "127.0.0.1", upstream.port or 5672)).start()
    store = open_store(tmp_path / "core.db", outbox=True)
    clock = LoopClock()
    op = store.begin("18800000001", "XB", "bind", b=B, now=clock.now())  # queued, not claimed: due at once
    assert store.count_outbox() == 1
    connections = [await connect(proxy.url(pstnsim_rabbitmq_url))]

    async def exchange_on(connection: Any) -> Any:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        return (await declare(channel, pstnsim_broker_namespace, delivery_limit=5)).exchange

    relay: Relay | None = None
    try:
        publisher = Publisher(await exchange_on(connections[0]), clock)
        relay = Relay(store, publisher, clock, name="relay-1", poll_interval=0.1, lease=0.5)
        async with BrokerHand(pstnsim_rabbitmq_url, pstnsim_broker_namespace) as hand:
            proxy.hold_replies = True
            first_round = asyncio.create_task(relay.relay_once())
            await poll(lambda: _is(hand.ready("work"), 1), "the broker to take the message")
            assert not first_round.done()  # waiting for the confirm the proxy holds back
            proxy.cut()
            assert await first_round == 1
            assert (store.count_outbox(), relay.published) == (1, 0)  # not confirmed: the row stays
            # A new session, as the broker link opens after a lost connection; the relay keeps going.
            connections.append(await connect(pstnsim_rabbitmq_url))
            publisher.exchange = await exchange_on(connections[1])
            relay.start()
            await poll(lambda: _is_now(store.count_outbox(), 0), "the row to go out again once reconnected")
            assert relay.published == 1
            assert await hand.ready("work") == 2  # the same message twice (the consumer's claim makes it harmless)
            bodies = await _take_all(hand, "work")
        assert [(body["op"], body["kind"]) for body in bodies] == [(op.id, "run")] * 2
    finally:
        if relay is not None:
            await relay.stop()
        for connection in connections:
            with contextlib.suppress(Exception):
                await connection.close()
        await proxy.close()
        store.close()


async def test_a_core_on_sqlite_binds_through_the_broker(sqlite_broker_cluster: Cluster):
    cluster = sqlite_broker_cluster
    await cluster.start_provider()
    replica = await cluster.replica("a")
    [x] = await cluster.numbers(1)
    await cluster.add_fault({"match": {"operation": "create_binding", "x": x},
                             "action": {"kind": "status", "status": 503}, "when": {"first": 1}})
    async with cluster.http.post(f"{replica.url}/v1/numbers/{x}/xb", json={"b": B}) as response:
        assert response.status == 202
    await poll(lambda: cluster.xb_bound(replica, x), "the retried bind to finish")
    [op] = [op for op in cluster.operations(x) if op["kind"] == "bind"]
    [held] = await cluster.active_bindings(x)
    assert (op["state"], op["attempts"], op["binding_id"]) == ("done", 1, held["binding_id"])
    await poll(lambda: _is_now(outbox_size(cluster.db_url), 0), "the relay to empty the outbox")


async def _take_all(hand: BrokerHand, suffix: str) -> list[dict[str, Any]]:
    channel = await hand.connection.channel()
    queue = await channel.declare_queue(f"{hand.namespace}.{suffix}", passive=True)
    bodies = []
    while (message := await queue.get(fail=False)) is not None:
        bodies.append(json.loads(message.body))
        await message.ack()
    await channel.close()
    return bodies


async def _is(value: Any, expected: Any) -> bool:
    return await value == expected


async def _is_now(value: Any, expected: Any) -> bool:
    return value == expected


async def test_a_replica_whose_broker_connection_is_cut_reconnects_and_its_retries_still_arrive(
        broker_cluster: Cluster):
    cluster = broker_cluster
    assert cluster.broker_url is not None
    upstream = urlsplit(cluster.broker_url)
    proxy = await ReplyHoldingProxy((upstream.hostname or "127.0.0.1", upstream.port or 5672)).start()
    try:
        cluster.broker_url = proxy.url(cluster.broker_url)
        await cluster.start_provider()
        replica = await cluster.replica("a")
        first, second = await cluster.numbers(2)
        for x in (first, second):  # the accept's own attempt fails: the bind finishes only through the broker
            await cluster.add_fault({"match": {"operation": "create_binding", "x": x},
                                     "action": {"kind": "status", "status": 503}, "when": {"first": 1}})

        async with cluster.http.post(f"{replica.url}/v1/numbers/{first}/xb", json={"b": B}) as response:
            assert response.status == 202
        await poll(lambda: cluster.xb_bound(replica, first), "the first bind to finish")
        proxy.cut()  # the replica's connection (publishing and consuming) is gone; it reconnects by itself
        async with cluster.http.post(f"{replica.url}/v1/numbers/{second}/xb", json={"b": B}) as response:
            assert response.status == 202
        await poll(lambda: cluster.xb_bound(replica, second), "the second bind to finish after the reconnect")
        [op] = [op for op in cluster.operations(second) if op["kind"] == "bind"]
        [held] = await cluster.active_bindings(second)
        assert (op["state"], op["attempts"], op["binding_id"]) == ("done", 1, held["binding_id"])
        await poll(lambda: _is_now(outbox_size(cluster.db_url), 0), "the relay to empty the outbox")
        await proxy.close()  # the broker is gone for good: the replica still stops cleanly when told to
        replica.proc.terminate()
        assert await asyncio.wait_for(replica.proc.wait(), DEADLINE) == 0
    finally:
        await proxy.close()
