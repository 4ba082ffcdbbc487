"""A publish whose confirm does not come in time must not leave the replica unable to publish: on aio-pika 9.6
/ aiormq 7.2 every later publish on that confirm channel times out too (the relay then stalled until a
reconnect, with the outbox growing), so the publisher closes the channel and the link opens a new session."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from pathlib import Path

import pytest

from binding_core.app import Core
from binding_core.broker.messages import WorkMessage
from binding_core.config import CoreConfig

from .conftest import poll


async def test_after_a_publish_times_out_the_replica_publishes_again_on_a_new_session(
        tmp_path: Path, pstnsim_rabbitmq_url: str, pstnsim_broker_namespace: str):
    config = CoreConfig()
    config = config.replace(broker=replace(config.broker, url=pstnsim_rabbitmq_url, namespace=pstnsim_broker_namespace))
    core = Core(config, provider_url="http://127.0.0.1:9", db_path=tmp_path / "core.db")
    await core.start()
    try:
        link = core.parts.broker
        assert link.sessions_opened == 1
        with pytest.raises(asyncio.TimeoutError):  # no broker confirms within a microsecond
            await link.publisher.publish(WorkMessage("op_00000001", time.time()), timeout=1e-6)

        async def new_session() -> bool:
            return link.sessions_opened == 2 and link.connected()
        await poll(new_session, "the link to open a new session after the stuck channel was closed")
        assert await link.publisher.publish(WorkMessage("op_00000002", time.time()), timeout=5.0) == "work"
    finally:
        await core.stop()
