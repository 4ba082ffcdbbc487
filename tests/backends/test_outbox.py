"""The outbox on both backends: every change that makes an operation claimable later writes its broker message
in the same transaction (and only with the outbox on), relays take rows one at a time under a lease, and a
database made before the outbox existed is upgraded with its data kept.

Each test runs on SQLite and on PostgreSQL (a database of its own; skipped without a server, failed under
CI=true)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from binding_core.records import LostClaim, StateConflict
from binding_core.storage import STORE_ERRORS, open_store

X, B, A = "17100000001", "13800000001", "13900000001"
LEASE = 10.0


@pytest.fixture
def open_on(target):
    """`open_on(outbox=True)`: one more store (connection) on the test's database, closed at teardown."""
    opened = []

    def open_(outbox: bool = True):
        opened.append(open_store(target, outbox=outbox))
        return opened[-1]

    yield open_
    for s in opened:
        s.close()


def messages(store) -> list[tuple[str, float, str]]:
    """Every row of the outbox as (op_id, deliver_at, kind), in the order they were written (seq)."""
    rows = store.claim_outbox("reader", now=1e9, lease=1.0, limit=1000)
    return [(r["op_id"], r["deliver_at"], r["kind"]) for r in sorted(rows, key=lambda r: r["seq"])]


def every_kind_of_write(store) -> dict[str, str]:
    """begin (claimed and not), claim, reschedule, release, and a complete that queues a sweep; the op ids."""
    held = store.begin(X, "XB", "bind", b=B, now=1.0, owner="w1", lease=LEASE)  # message at 11
    waiting = store.begin(X, "AXB", "bind", a=A, b=B, now=2.0)  # message at 2: claimable at once
    claimed = store.claim(waiting.id, "w2", now=3.0, lease=LEASE)  # message at 13
    store.reschedule(held, "w1", next_attempt_at=30.0, error="timeout", now=4.0, in_doubt_until=40.0)  # at 30
    store.release(claimed, "w2", now=5.0, in_doubt_until=6.0)  # at 5
    again = store.claim(held.id, "w1", now=30.0, lease=LEASE)  # at 40
    store.complete(again, "w1", status="BIND", binding_id="bd_1", outcome="bound", now=31.0)  # sweep at 40
    sweep = store.operations()[-1]
    assert (sweep.kind, sweep.origin) == ("sweep", held.id)
    return {"held": held.id, "waiting": waiting.id, "sweep": sweep.id}


def test_each_write_that_makes_an_operation_claimable_later_writes_its_message_due_then(open_on):
    store = open_on()
    ids = every_kind_of_write(store)
    held, waiting = ids["held"], ids["waiting"]
    assert messages(store) == [
        (held, 11.0, "run"),  # begin by a holder: the watchdog, due when its lease runs out
        (waiting, 2.0, "run"),  # begin with no holder: due at once
        (waiting, 13.0, "run"),  # claim: the watchdog for the new holder
        (held, 30.0, "run"),  # reschedule: due at the next attempt
        (waiting, 5.0, "run"),  # release: due at once
        (held, 40.0, "run"),  # claim
        (ids["sweep"], 40.0, "run"),  # the sweep queued by complete: due when the bind's doubt ends
    ]


def test_nothing_is_written_to_the_outbox_when_it_is_off(open_on):
    store = open_on(outbox=False)
    every_kind_of_write(store)
    assert store.count_outbox() == 0
    assert store.next_outbox_at() is None


def test_a_change_refused_or_lost_writes_no_message(open_on):
    store = open_on()
    op = store.begin(X, "XB", "bind", b=B, now=1.0, owner="w1", lease=LEASE)
    store.delete_outbox([r["seq"] for r in store.claim_outbox("r", now=1.0, lease=1.0, limit=10)])
    with pytest.raises(StateConflict):
        store.begin(X, "XB", "bind", b="13800000002", now=2.0)
    assert store.claim(op.id, "w2", now=2.0, lease=LEASE) is None  # w1's lease still runs
    taken = store.claim(op.id, "w2", now=12.0, lease=LEASE)  # w1's ran out: w2 takes over (one message)
    assert taken is not None
    assert store.count_outbox() == 1
    with pytest.raises(LostClaim):
        store.reschedule(op, "w1", next_attempt_at=20.0, error="late", now=13.0)
    with pytest.raises(LostClaim):
        store.complete(op, "w1", status="BIND", binding_id="bd_1", outcome="bound", now=13.0)
    store.release(op, "w1", now=13.0, in_doubt_until=14.0)  # not w1's any more: changes nothing
    assert messages(store) == [(op.id, 22.0, "run")]


def test_a_change_whose_message_cannot_be_written_is_rolled_back_with_it(open_on, target):
    store = open_on()
    refuse_outbox_rows(store, target)
    with pytest.raises(STORE_ERRORS):
        store.begin(X, "XB", "bind", b=B, now=1.0, owner="w1", lease=LEASE)
    assert store.view(X)["xb"]["status"] == "NOT_BIND"
    assert store.operations() == [] and store.transitions() == []


def refuse_outbox_rows(store, target) -> None:
    """A trigger that fails every insert into the outbox, the way a full disk or a dropped link would."""
    if isinstance(target, str):
        import psycopg

        with psycopg.connect(target, autocommit=True) as conn:
            conn.execute("""CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
                            BEGIN RAISE EXCEPTION 'outbox refused'; END $$""")
            conn.execute("CREATE TRIGGER refuse BEFORE INSERT ON outbox FOR EACH ROW EXECUTE FUNCTION refuse()")
    else:
        store.db.execute("CREATE TRIGGER refuse BEFORE INSERT ON outbox BEGIN SELECT RAISE(ABORT, 'outbox refused'); END")


def test_relays_taking_rows_at_once_never_take_the_same_row(open_on, target):
    writer = open_on()
    for i in range(120):
        writer.begin(f"171{i:08d}", "XB", "bind", b=B, now=1.0)
    relays = 4
    start = threading.Barrier(relays)

    def relay(i: int) -> list[int]:
        store = open_store(target, outbox=True)  # a connection of its own, opened in its thread (SQLite's must be)
        try:
            start.wait()
            taken: list[int] = []
            while rows := store.claim_outbox(f"relay-{i}", now=2.0, lease=60.0, limit=7):
                taken.extend(r["seq"] for r in rows)
            return taken
        finally:
            store.close()

    with ThreadPoolExecutor(relays) as pool:
        taken = list(pool.map(relay, range(relays)))
    every = [seq for t in taken for seq in t]
    assert len(every) == len(set(every)) == 120  # each row taken by exactly one relay
    assert writer.count_outbox() == 120  # taken, not deleted: they stay until the broker confirmed them
    assert writer.claim_outbox("late", now=3.0, lease=60.0, limit=1000) == []


def test_a_row_whose_relay_lease_ran_out_is_taken_again_and_deleted_rows_are_gone(open_on):
    store = open_on()
    assert store.next_outbox_at() is None
    first = store.begin(X, "XB", "bind", b=B, now=1.0)
    second = store.begin(X, "AXB", "bind", a=A, b=B, now=2.0)
    assert store.next_outbox_at() == 1.0  # free rows: claimable since they were written
    [r1] = store.claim_outbox("relay-1", now=3.0, lease=5.0, limit=1)  # soonest due first
    assert r1["op_id"] == first.id
    assert store.next_outbox_at() == 2.0
    [r2] = store.claim_outbox("relay-1", now=3.0, lease=5.0, limit=10)
    assert r2["op_id"] == second.id
    assert store.next_outbox_at() == 8.0  # both taken until relay-1's lease runs out
    assert store.claim_outbox("relay-2", now=7.9, lease=5.0, limit=10) == []
    store.delete_outbox([r2["seq"]])  # relay-1 published the second and saw it confirmed, then died
    again = store.claim_outbox("relay-2", now=8.0, lease=5.0, limit=10)
    assert again == [{"seq": r1["seq"], "op_id": first.id, "deliver_at": 1.0, "kind": "run"}]  # published twice
    store.delete_outbox([r1["seq"]])
    assert store.count_outbox() == 0 and store.next_outbox_at() is None
    store.delete_outbox([])  # nothing to delete is fine


# What a database of the release before the outbox holds: XB bound by a finished bind, AXB in OPERATION
# for a pending bind that failed three times and raised its alert, not yet delivered.
OLD_ROWS = [
    f"""INSERT INTO numbers (x, xb_status, xb_b, xb_binding_id, xb_version, axb_status, axb_a, axb_b, axb_version,
        axb_operation_id, updated_at) VALUES ('{X}', 'BIND', '{B}', 'bd_old', 2, 'OPERATION', '{A}', '{B}', 1,
        'op_00000002', 9.0)""",
    f"""INSERT INTO operations (seq, id, x, mode, kind, b, binding_id, path, phase, state, version, attempts, claims,
        next_attempt_at, outcome, alerted, created_at, updated_at, finished_at) VALUES
        (1, 'op_00000001', '{X}', 'XB', 'bind', '{B}', 'bd_old', 'async', 'call', 'done', 1, 0, 1, 1.0, 'bound', 0,
         1.0, 2.0, 2.0)""",
    f"""INSERT INTO operations (seq, id, x, mode, kind, a, b, path, phase, state, version, attempts, claims,
        next_attempt_at, last_error, alerted, created_at, updated_at) VALUES
        (2, 'op_00000002', '{X}', 'AXB', 'bind', '{A}', '{B}', 'async', 'call', 'pending', 1, 3, 3, 20.0, 'timeout', 1,
         3.0, 9.0)""",
    f"""INSERT INTO alerts (operation_id, x, mode, attempts, last_error, at, delivered) VALUES
        ('op_00000002', '{X}', 'AXB', 3, 'timeout', 9.0, 0)""",
]


def make_old_database(target) -> None:
    """The schema up to m002 and OLD_ROWS, as the release before the outbox left them."""
    if isinstance(target, str):
        import psycopg
        from psycopg.rows import dict_row

        from binding_core import schema_pg

        with psycopg.connect(target, autocommit=True, row_factory=dict_row) as conn:
            assert schema_pg.apply(conn, stop_before="m003_outbox") == ["m001_initial", "m002_in_doubt"]
            for sql in OLD_ROWS:
                conn.execute(sql)
            conn.execute("SELECT setval('operation_seq', 2)")
    else:
        from binding_core.records import open_database
        from binding_core.schema import migrations

        db = open_database(target)
        migrations.apply(db, stop_before="m003_outbox")
        assert [m.name for m in migrations.applied(db)] == ["m001_initial", "m002_in_doubt"]
        for sql in OLD_ROWS:
            db.execute(sql)
        db.close()


def test_a_database_made_before_the_outbox_is_upgraded_with_its_data_kept(target, open_on):
    make_old_database(target)
    store = open_on()
    view = store.view(X)
    assert (view["xb"]["status"], view["xb"]["binding_id"], view["xb"]["version"]) == ("BIND", "bd_old", 2)
    assert (view["axb"]["status"], view["axb"]["operation_id"]) == ("OPERATION", "op_00000002")
    pending = store.operation("op_00000002")
    assert (pending.state, pending.attempts, pending.alerted) == ("pending", 3, True)
    assert store.counts() == {"pending": 1, "running": 0, "done": 1, "dead": 0}
    [alert] = store.undelivered_alerts()
    assert (alert["operation_id"], alert["delivering_owner"]) == ("op_00000002", None)
    assert store.count_outbox() == 0  # the old pending bind has no message: the broker would never bring it
    assert store.fill_outbox(now=10.0) == 1
    assert messages(store) == [("op_00000002", 20.0, "run")]  # due at its next attempt
    # and the upgraded database works as a new one: the old alert can be taken, the pending bind finishes
    assert [a["seq"] for a in store.claim_undelivered_alerts("r1", now=10.0, lease=5.0)] == [alert["seq"]]
    op = store.claim("op_00000002", "w1", now=20.0, lease=LEASE)
    assert op is not None
    store.complete(op, "w1", status="BIND", binding_id="bd_new", outcome="bound", now=21.0)
    assert store.view(X)["axb"]["binding_id"] == "bd_new"
    assert messages(store) == [("op_00000002", 30.0, "run")]
    assert store.begin("17100000002", "XB", "bind", b=B, now=22.0).id == "op_00000003"


def test_filling_the_outbox_writes_a_message_for_every_operation_not_finished(open_on):
    store = open_on(outbox=False)  # work queued while the outbox was off
    held = store.begin(X, "XB", "bind", b=B, now=1.0, owner="w1", lease=LEASE)
    waiting = store.begin(X, "AXB", "bind", a=A, b=B, now=2.0)
    finished = store.begin("17100000002", "XB", "bind", b=B, now=3.0, owner="w1", lease=LEASE)
    store.complete(finished, "w1", status="BIND", binding_id="bd_1", outcome="bound", now=4.0)
    assert store.count_outbox() == 0
    assert store.fill_outbox(now=5.0) == 2
    assert messages(store) == [(held.id, 11.0, "run"), (waiting.id, 2.0, "run")]  # running: when its lease ends
