"""What the PostgreSQL store adds to the shared contract (tests/binding_core/test_store.py runs that on both):
real concurrency from several connections, SKIP LOCKED claims, the lease fence on every holder's write,
the alert claimed in the database, migrations under concurrent start-up, and a cut connection."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

psycopg = pytest.importorskip("psycopg", reason="the postgres extra (psycopg) is not installed")

from binding_core.records import LostClaim, StateConflict
from binding_core.storage import StoreUnavailable, open_store
from binding_core import schema_pg, store_pg
from binding_core.store_pg import PgStore

from .conftest import query

X, B = "17100000001", "13800000001"


@pytest.fixture
def stores(pstnsim_postgres_url):
    """`stores(n)`: n stores (n connections) on the test's database, closed at teardown."""
    opened: list[PgStore] = []

    def open_(n: int) -> list[PgStore]:
        opened.extend(open_store(pstnsim_postgres_url) for _ in range(n))  # type: ignore[misc]
        return opened[-n:]

    yield open_
    for s in opened:
        s.close()


def test_replicas_starting_together_on_an_empty_database_apply_each_migration_once(pstnsim_postgres_url):
    start = threading.Barrier(6)

    def open_at_once() -> PgStore:
        start.wait()
        return PgStore.open(pstnsim_postgres_url)

    with ThreadPoolExecutor(6) as pool:
        opened = list(pool.map(lambda _: open_at_once(), range(6)))
    for s in opened:
        s.close()
    names = [r["name"] for r in query(pstnsim_postgres_url, "SELECT name FROM schema_migrations ORDER BY name")]
    assert names == [name for name, _ in schema_pg.MIGRATIONS]


def test_begins_at_the_same_moment_from_eight_connections_let_exactly_one_in(stores):
    opened = stores(8)
    start = threading.Barrier(len(opened))

    def begin(i: int) -> str:
        start.wait()
        try:
            opened[i].begin(X, "XB", "bind", b=f"1380000000{i}", now=1.0)
            return "in"
        except StateConflict:
            return "conflict"

    with ThreadPoolExecutor(len(opened)) as pool:
        results = list(pool.map(begin, range(len(opened))))
    assert sorted(results) == ["conflict"] * 7 + ["in"]
    view = opened[0].view(X)["xb"]
    assert (view["status"], view["version"]) == ("OPERATION", 1)
    assert len(opened[0].transitions()) == 1 and len(opened[0].operations()) == 1


def test_a_claim_skips_an_operation_another_replica_has_locked_instead_of_waiting(stores, pstnsim_postgres_url):
    [store] = stores(1)
    op = store.begin(X, "XB", "bind", b=B, now=1.0)
    with psycopg.connect(pstnsim_postgres_url) as other:  # a transaction holding the row, as a claim in flight
        other.execute("SELECT id FROM operations WHERE id = %s FOR UPDATE", [op.id])
        assert store.claim(op.id, "w1", now=1.0, lease=10) is None
    assert store.claim(op.id, "w1", now=1.0, lease=10) is not None  # free again once that transaction ended


def _held_by_w1(store, write):
    """An operation w1 holds with a 10 s lease, of the kind `write` applies to; the time its lease ends."""
    op = store.begin(X, "XB", "bind", b=B, now=1.0, owner="w1", lease=10)
    if write in ("complete", "reschedule"):
        return op, 11.0
    # a sweep: the bind got no answer once (in doubt until 5.0), bound on its retry, swept from 5.0
    store.reschedule(op, "w1", next_attempt_at=2.0, error="timeout", now=1.5, in_doubt_until=5.0)
    store.complete(store.claim(op.id, "w1", now=2.0, lease=10), "w1", status="BIND", binding_id="bnd_1",
                   outcome="bound", now=3.0)
    return store.claim(store.operations()[1].id, "w1", now=5.0, lease=10), 15.0


@pytest.mark.parametrize("write", ["complete", "reschedule", "fence_sweep", "finish_sweep"])
def test_a_holder_past_its_lease_cannot_write_even_if_nobody_took_over(stores, write):
    [store] = stores(1)
    op, late = _held_by_w1(store, write)
    before = (store.view(X), store.transitions())
    with pytest.raises(LostClaim):
        if write == "complete":
            store.complete(op, "w1", status="BIND", binding_id="bnd_1", outcome="bound", now=late)
        elif write == "reschedule":
            store.reschedule(op, "w1", next_attempt_at=late, error="timeout", now=late)
        elif write == "fence_sweep":
            store.fence_sweep(op, "w1", version=store.view(X)["xb"]["version"], now=late)
        else:
            store.finish_sweep(op, "w1", outcome="clean", deleted=[], now=late)
    assert (store.view(X), store.transitions()) == before
    assert store.operation(op.id).state == "running" and store.operation(op.id).phase == op.phase
    assert store.due(late, 5) == [op.id]
    assert store.claim(op.id, "w2", now=late, lease=10).claims == op.claims + 1


def test_the_alert_is_claimed_once_whichever_replica_reaches_it(stores):
    first, second = stores(2)
    op = first.begin(X, "XB", "bind", b=B, now=1.0, owner="w1", lease=10)
    assert first.raise_alert(op, "refused our credentials", now=2.0) is not None
    assert second.raise_alert(op, "refused our credentials", now=2.0) is None
    _, alert = first.reschedule(op, "w1", next_attempt_at=3.0, error="HTTP 503", now=2.5, alert_at=0)
    assert alert is None and first.count_alerts() == second.count_alerts() == 1


def test_a_cut_connection_fails_one_call_and_the_next_one_reconnects(stores, pstnsim_postgres_url):
    [store] = stores(1)
    store.begin(X, "XB", "bind", b=B, now=1.0)
    pid = store._connection().info.backend_pid
    query(pstnsim_postgres_url, "SELECT pg_terminate_backend(%s)", [pid])
    with pytest.raises(StoreUnavailable):
        store.view(X)
    assert store.view(X)["xb"]["status"] == "OPERATION"
    assert store._connection().info.backend_pid != pid


def test_settings_in_the_url_s_options_reach_the_session(pstnsim_postgres_url):
    store = open_store(f"{pstnsim_postgres_url}?options=-c%20synchronous_commit%3Doff")
    try:
        settings = {name: store._one(f"SHOW {name}")[name] for name in ("synchronous_commit", "lock_timeout")}
    finally:
        store.close()
    assert settings == {"synchronous_commit": "off", "lock_timeout": "2s"}  # the URL's, and the store's own


def test_rows_are_numbered_in_commit_order_so_a_reader_paging_with_after_never_skips_one(stores, monkeypatch):
    first, second, reader = stores(3)
    inside, release = threading.Event(), threading.Event()
    real_transition = store_pg._transition

    def held_open(conn, x, *args):  # the first accept stops inside its transaction, its number drawn
        if x == X:
            inside.set()
            release.wait(30)
        return real_transition(conn, x, *args)

    monkeypatch.setattr(store_pg, "_transition", held_open)
    with ThreadPoolExecutor(2) as pool:
        early = pool.submit(first.begin, X, "XB", "bind", b=B, now=1.0)
        assert inside.wait(30)
        late = pool.submit(second.begin, "17100000002", "XB", "bind", b=B, now=1.0)
        deadline = time.monotonic() + 30
        while not (late.done() or _waits_for_the_numbering_lock(reader)):  # the one or the other, then look
            assert time.monotonic() < deadline, "the second accept neither finished nor waited"
            time.sleep(0.01)
        seen_meanwhile = [op.id for op in reader.operations()]
        release.set()
        ids = [early.result().id, late.result().id]
    assert seen_meanwhile == []  # op_2 visible before op_1 commits would let `after=op_2` skip op_1
    assert [op.id for op in reader.operations()] == ids == ["op_00000001", "op_00000002"]


def _waits_for_the_numbering_lock(reader: PgStore) -> bool:
    return bool(reader._rows("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                             "AND wait_event_type = 'Lock' AND wait_event = 'advisory'"))
