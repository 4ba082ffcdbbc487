"""The store on its own: CAS per mode, versions +1 per change, legal history, leased claims, exactly-once alerts.

The contract runs on both backends (SQLite and PostgreSQL, each test on a database of its own); the
PostgreSQL runs skip without a server, except under CI=true where they fail (binding_core.testing)."""

from __future__ import annotations

import random

import pytest

from binding_core.records import LostClaim, StateConflict
from binding_core.storage import open_store
from binding_core.store import Store
from binding_core.transitions import check_history

X, B, A = "17100000001", "13800000001", "13900000001"


@pytest.fixture(params=["sqlite", "postgresql"])
def open_shared(request, tmp_path):
    """`open_shared()`: one more store (connection) on this test's database, closed at teardown."""
    target = tmp_path / "core.db" if request.param == "sqlite" else request.getfixturevalue("pstnsim_postgres_url")
    opened = []

    def open_():
        opened.append(open_store(target))
        return opened[-1]

    yield open_
    for s in opened:
        s.close()


@pytest.fixture
def store(open_shared):
    return open_shared()


def test_an_unseen_number_is_not_bound_in_both_modes(store):
    view = store.view(X)
    assert view["xb"]["status"] == view["axb"]["status"] == "NOT_BIND"
    assert view["xb"]["version"] == view["axb"]["version"] == 0
    assert store.transitions() == []


def test_a_bind_enters_operation_and_a_second_one_conflicts_with_the_current_status(store):
    op = store.begin(X, "XB", "bind", b=B, now=1.0)
    assert op.state == "pending" and op.version == 1
    with pytest.raises(StateConflict) as conflict:
        store.begin(X, "XB", "bind", b="13800000002", now=2.0)
    assert conflict.value.view["xb"]["status"] == "OPERATION"
    assert conflict.value.view["xb"]["b"] == B  # the loser did not overwrite anything
    assert len(store.operations()) == 1


def test_the_other_mode_has_its_own_lock(store):
    store.begin(X, "XB", "bind", b=B, now=1.0)
    op = store.begin(X, "AXB", "bind", a=A, b=B, now=1.0)
    assert op.mode == "AXB"
    view = store.view(X)
    assert view["xb"]["status"] == view["axb"]["status"] == "OPERATION"


def test_unbind_needs_bind(store):
    with pytest.raises(StateConflict):
        store.begin(X, "XB", "unbind", now=1.0)


def test_complete_commits_status_and_binding_id_together_with_versions_rising_by_one(store):
    op = store.begin(X, "XB", "bind", b=B, now=1.0, owner="w1", lease=10)
    done = store.complete(op, "w1", status="BIND", binding_id="bnd_1", outcome="bound", now=2.0)
    assert done.state == "done" and done.binding_id == "bnd_1"
    view = store.view(X)["xb"]
    assert (view["status"], view["binding_id"], view["b"], view["version"]) == ("BIND", "bnd_1", B, 2)
    unbind = store.begin(X, "XB", "unbind", now=3.0, owner="w1", lease=10)
    assert unbind.binding_id == "bnd_1"
    store.complete(unbind, "w1", status="NOT_BIND", binding_id=None, outcome="unbound", now=4.0)
    view = store.view(X)["xb"]
    assert (view["status"], view["binding_id"], view["b"], view["version"]) == ("NOT_BIND", None, None, 4)
    history = store.transitions()
    assert [(t["from_status"], t["to_status"], t["version"]) for t in history] == [
        ("NOT_BIND", "OPERATION", 1), ("OPERATION", "BIND", 2), ("BIND", "OPERATION", 3), ("OPERATION", "NOT_BIND", 4),
    ]
    assert all(t["operation_id"] for t in history)
    assert check_history(history) == []


def test_only_the_claim_holder_can_complete(store):
    op = store.begin(X, "XB", "bind", b=B, now=1.0, owner="w1", lease=10)
    with pytest.raises(LostClaim):
        store.complete(op, "w2", status="BIND", binding_id="bnd_1", outcome="bound", now=2.0)
    assert store.view(X)["xb"]["status"] == "OPERATION"
    assert len(store.transitions()) == 1


def test_two_processes_claim_by_compare_and_set_and_a_dead_holder_s_lease_expires(open_shared):
    first, second = open_shared(), open_shared()
    op = first.begin(X, "XB", "bind", b=B, now=1.0)
    assert first.due(1.0, 10) == [op.id]
    assert first.claim(op.id, "w1", now=1.0, lease=10) is not None
    assert second.claim(op.id, "w2", now=5.0, lease=10) is None  # w1 holds it
    taken = second.claim(op.id, "w2", now=11.0, lease=10)  # w1's lease ran out (it died)
    assert taken is not None and taken.claims == 2 and taken.lease_owner == "w2"
    with pytest.raises(LostClaim):
        first.complete(op, "w1", status="BIND", binding_id="bnd_1", outcome="bound", now=12.0)
    second.complete(taken, "w2", status="BIND", binding_id="bnd_1", outcome="bound", now=12.0)
    assert first.view(X)["xb"]["status"] == "BIND"


def test_begins_from_four_connections_on_one_database_let_exactly_one_in(open_shared):
    stores = [open_shared() for _ in range(4)]
    wins, conflicts = 0, 0
    for i, s in enumerate(stores):
        try:
            s.begin(X, "XB", "bind", b=f"1380000000{i}", now=1.0)
            wins += 1
        except StateConflict:
            conflicts += 1
    assert (wins, conflicts) == (1, 3)


def test_reschedule_counts_attempts_and_raises_exactly_one_alert(store):
    op = store.begin(X, "XB", "bind", b=B, now=1.0, owner="w", lease=10)
    alerts = []
    for attempt in range(1, 6):
        op, alert = store.reschedule(op, "w", next_attempt_at=attempt + 1.0, error=f"HTTP 503 #{attempt}", now=attempt, alert_at=3)
        assert op.attempts == attempt and op.state == "pending"
        if alert:
            alerts.append(alert)
        op = store.claim(op.id, "w", now=attempt + 1.0, lease=10)
    assert [(a["attempts"], a["last_error"]) for a in alerts] == [(3, "HTTP 503 #3")]
    assert len(store.alerts()) == 1 and store.operation(op.id).alerted


def test_release_gives_an_operation_back_without_counting_an_attempt(store):
    op = store.begin(X, "XB", "bind", b=B, now=1.0, owner="w", lease=10)
    store.release(op, "w", now=2.0, in_doubt_until=62.0)
    back = store.operation(op.id)
    assert back.state == "pending" and back.attempts == 0 and store.due(2.0, 5) == [op.id]
    assert back.in_doubt_until == 62.0  # its call may have been cut off on the wire


def test_reopening_applies_no_migration_twice_and_keeps_data(open_shared):
    s = open_shared()
    s.begin(X, "XB", "bind", b=B, now=1.0)
    ident = s.database_id(random.Random(1), now=1.0)
    s.close()
    again = open_shared()
    assert again.view(X)["xb"]["status"] == "OPERATION"
    assert again.database_id(random.Random(2), now=2.0) == ident


def test_fresh_databases_with_the_same_seed_get_different_tags_when_made_at_different_times():
    first, second = Store.open(None), Store.open(None)
    assert first.database_id(random.Random(1), now=1000.0) != second.database_id(random.Random(1), now=1000.5)
    assert Store.open(None).database_id(random.Random(1), now=1000.0) == first.database_id(random.Random(9), now=5.0)


def test_check_history_catches_gaps_and_illegal_moves():
    rows = [
        {"seq": 1, "x": X, "mode": "XB", "from_status": "NOT_BIND", "to_status": "OPERATION", "version": 1},
        {"seq": 2, "x": X, "mode": "XB", "from_status": "OPERATION", "to_status": "BIND", "version": 3},
        {"seq": 3, "x": X, "mode": "XB", "from_status": "BIND", "to_status": "NOT_BIND", "version": 4},
    ]
    problems = check_history(rows)
    assert any("expected 2" in p for p in problems)
    assert any("BIND -> NOT_BIND is illegal" in p for p in problems)


def _bound_in_doubt(store, *, doubt_until: float):
    """A bind whose first attempt got no answer (in doubt until `doubt_until`), then bound on the retry."""
    op = store.begin(X, "XB", "bind", b=B, now=1.0, owner="w", lease=10)
    store.reschedule(op, "w", next_attempt_at=2.0, error="timeout", now=1.5, in_doubt_until=doubt_until)
    op = store.claim(op.id, "w", now=2.0, lease=10)
    return op, store.complete(op, "w", status="BIND", binding_id="bnd_1", outcome="bound", now=3.0)


def test_a_bind_finished_in_doubt_queues_a_sweep_for_when_the_doubt_ends(store):
    op, _ = _bound_in_doubt(store, doubt_until=61.5)
    [_, sweep] = store.operations()
    assert (sweep.kind, sweep.origin, sweep.state, sweep.next_attempt_at) == ("sweep", op.id, "pending", 61.5)
    assert (sweep.x, sweep.mode, sweep.b) == (X, "XB", B)
    assert store.due(61.0, 5) == [] and store.due(61.5, 5) == [sweep.id]


def test_a_bind_finished_after_its_doubt_needs_no_sweep(store):
    _bound_in_doubt(store, doubt_until=2.5)  # the doubt ended before the commit at 3.0
    assert [op.kind for op in store.operations()] == ["bind"]


def test_a_sweep_fences_binds_off_only_if_nothing_ran_since_it_looked(store):
    _bound_in_doubt(store, doubt_until=61.5)
    sweep = store.claim(store.operations()[1].id, "w", now=62.0, lease=10)
    version = store.view(X)["xb"]["version"]
    unbind = store.begin(X, "XB", "unbind", now=62.1)  # something ran since the sweep looked
    assert not store.fence_sweep(sweep, "w", version=version, now=62.2)
    store.complete(store.claim(unbind.id, "w", now=62.3, lease=10), "w", status="NOT_BIND", binding_id=None,
                   outcome="unbound", now=62.4)
    version = store.view(X)["xb"]["version"]
    assert store.fence_sweep(sweep, "w", version=version, now=62.5)
    with pytest.raises(StateConflict, match="deleting stray bindings"):
        store.begin(X, "XB", "bind", b=B, now=62.6)  # the provider could hand this bind a stray being deleted
    store.begin(X, "AXB", "bind", a=A, b=B, now=62.6)  # the other mode is not fenced
    done = store.finish_sweep(sweep, "w", outcome="swept", deleted=["bnd_9"], now=63.0)
    assert (done.state, done.binding_id) == ("done", "bnd_9")
    store.begin(X, "XB", "bind", b=B, now=63.1)  # free again
    assert check_history(store.transitions()) == []
