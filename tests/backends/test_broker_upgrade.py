"""Work queued before the broker was on (the table was the queue) still runs once replicas use a broker:
each replica re-announces the unfinished operations when it starts."""

from __future__ import annotations

import time

from binding_core.storage import open_store

from .conftest import Cluster, outbox_size, poll

B = "13800000000"


async def test_an_operation_queued_in_the_table_runs_when_a_replica_starts_with_a_broker(broker_cluster: Cluster):
    cluster = broker_cluster
    await cluster.start_provider()
    [x] = await cluster.numbers(1)
    store = open_store(cluster.db_url)  # no outbox: as a core without a broker writes it
    try:
        queued = store.begin(x, "XB", "bind", b=B, path="async", now=time.time())
        assert store.count_outbox() == 0
    finally:
        store.close()

    replica = await cluster.replica("with-broker")

    await poll(lambda: cluster.xb_bound(replica, x), "the operation queued in the table to be delivered and bound")
    [op] = [op for op in cluster.operations(x) if op["kind"] == "bind"]
    [held] = await cluster.active_bindings(x)
    assert (op["id"], op["state"], op["binding_id"]) == (queued.id, "done", held["binding_id"])

    async def outbox_empty() -> bool:
        return outbox_size(cluster.db_url) == 0
    await poll(outbox_empty, "the relay to publish the re-announcement")
