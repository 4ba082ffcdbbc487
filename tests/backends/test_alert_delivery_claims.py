"""Alert delivery across replicas: an undelivered alert is taken for a delivery lease, so two replicas (two
stores on one database) never post the same alert at the same time; one whose lease ran out is taken again.

Each test runs on SQLite and on PostgreSQL (a database of its own; skipped without a server, failed under
CI=true)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from binding_core.storage import open_store

B = "13800000001"


@pytest.fixture
def replicas(target):
    """Two stores on the test's database, as two replicas have."""
    opened = [open_store(target), open_store(target)]
    yield opened
    for s in opened:
        s.close()


def raise_alerts(store, count: int, now: float = 1.0) -> list[int]:
    """`count` alerts nobody holds (raised outside an attempt); their seqs."""
    seqs = []
    for i in range(count):
        op = store.begin(f"171{i:08d}", "XB", "bind", b=B, now=now)
        seqs.append(store.raise_alert(op, "provider unreachable", now=now)["seq"])
    return seqs


def seqs(rows) -> list[int]:
    return [row["seq"] for row in rows]


def test_an_alert_taken_by_one_replica_is_not_taken_by_the_other_until_its_lease_runs_out(replicas):
    a, b = replicas
    alerts = raise_alerts(a, 3)
    assert seqs(a.claim_undelivered_alerts("a", now=2.0, lease=5.0)) == alerts
    assert b.claim_undelivered_alerts("b", now=3.0, lease=5.0) == []
    a.mark_delivered(alerts[0])
    # a died before posting the other two: once its lease ran out b takes them (a second POST, at-least-once)
    taken = b.claim_undelivered_alerts("b", now=7.0, lease=5.0)
    assert seqs(taken) == alerts[1:]
    assert {row["delivering_owner"] for row in taken} == {"b"}
    assert seqs(b.undelivered_alerts()) == alerts[1:]  # the plain list still shows every undelivered alert


def test_a_replica_taking_its_own_alerts_again_extends_its_lease(replicas):
    a, b = replicas
    alerts = raise_alerts(a, 2)
    a.claim_undelivered_alerts("a", now=2.0, lease=5.0)
    assert seqs(a.claim_undelivered_alerts("a", now=6.0, lease=5.0)) == alerts  # until 11 now
    assert b.claim_undelivered_alerts("b", now=8.0, lease=5.0) == []
    assert seqs(b.claim_undelivered_alerts("b", now=11.0, lease=5.0)) == alerts


def test_a_delivered_alert_is_never_taken_again(replicas):
    a, b = replicas
    [alert] = raise_alerts(a, 1)
    a.claim_undelivered_alerts("a", now=2.0, lease=5.0)
    a.mark_delivered(alert)
    assert b.claim_undelivered_alerts("b", now=100.0, lease=5.0) == []
    assert a.claim_undelivered_alerts("a", now=100.0, lease=5.0) == []


def test_an_alert_raised_by_an_attempt_is_held_by_its_holder_while_its_claim_lasts(replicas):
    a, b = replicas
    op = a.begin("17100000001", "XB", "bind", b=B, now=1.0, owner="a", lease=10.0)  # a's claim lasts until 11
    _, alert = a.reschedule(op, "a", next_attempt_at=2.0, error="timeout", now=2.0, alert_at=1)
    assert alert is not None and alert["delivering_owner"] == "a"  # a posts it at once
    assert b.claim_undelivered_alerts("b", now=5.0, lease=5.0) == []
    assert seqs(b.claim_undelivered_alerts("b", now=11.0, lease=5.0)) == [alert["seq"]]


def test_replicas_taking_alerts_at_the_same_moment_each_get_different_ones(target, replicas):
    alerts = raise_alerts(replicas[0], 40)
    start = threading.Barrier(4)

    def replica(i: int) -> list[int]:
        store = open_store(target)  # a connection of its own, opened in its thread (SQLite's must be)
        try:
            start.wait()
            return seqs(store.claim_undelivered_alerts(f"r{i}", now=2.0, lease=60.0))
        finally:
            store.close()

    with ThreadPoolExecutor(4) as pool:
        taken = list(pool.map(replica, range(4)))
    every = [seq for t in taken for seq in t]
    assert sorted(every) == alerts  # each alert taken by exactly one replica
