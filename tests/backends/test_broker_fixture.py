"""The RabbitMQ fixtures (binding_core.testing): without a reachable broker a test skips with the reason, but
under CI=true it fails, saying how to start RabbitMQ; a test's namespace is gone afterwards, messages and all."""

from __future__ import annotations

import aio_pika
import pytest

from binding_core.broker.topology import Names, declare
from binding_core.testing import broker_namespace, usable_rabbitmq

UNREACHABLE = "amqp://guest:guest@127.0.0.1:1/"


@pytest.mark.parametrize("ci, outcome", [(None, pytest.skip.Exception), ("true", pytest.fail.Exception)])
def test_an_unreachable_broker_skips_locally_and_fails_under_ci(monkeypatch, ci, outcome):
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome) as stopped:
        usable_rabbitmq(UNREACHABLE)
    assert "RabbitMQ is not usable" in str(stopped.value)
    assert "rabbitmq-server -detached" in str(stopped.value)  # how to start it


async def test_a_namespace_is_deleted_afterwards_with_its_messages(pstnsim_rabbitmq_url):
    async with await aio_pika.connect(pstnsim_rabbitmq_url) as connection:
        with broker_namespace(pstnsim_rabbitmq_url) as namespace:
            assert namespace.startswith("pstnsim-t-")
            topology = await declare(await connection.channel(), namespace, delivery_limit=5)
            await topology.exchange.publish(aio_pika.Message(b'{"op": "op_1", "at": 0}'), "work")
        for queue in Names(namespace).queues():
            channel = await connection.channel()
            with pytest.raises(aio_pika.exceptions.ChannelNotFoundEntity):
                await channel.declare_queue(queue, passive=True)
