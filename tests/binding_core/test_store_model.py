"""The store against a model, driven by Hypothesis: any interleaving of accepts, claims by two workers,
lease expiries, completions and re-queues keeps the history legal, versions +1 per change, and at most
one operation holding each (x, mode). The same machine runs on PostgreSQL, where a holder's write also
needs its lease to be still running (a database of the test's own, emptied between examples)."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from binding_core.records import LostClaim, Operation, StateConflict
from binding_core.storage import OperationStore, open_store
from binding_core.store import Store
from binding_core.transitions import BIND, NOT_BIND, OPERATION, check_history

XS = ["17100000001", "17100000002"]
MODES = ["XB", "AXB"]
OWNERS = ["w1", "w2"]
LEASE = 10.0


class StoreMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.store = self.open_store()
        self.now = 0.0
        self.model: dict[tuple[str, str], str] = {(x, m): NOT_BIND for x in XS for m in MODES}
        self.holder: dict[tuple[str, str], str] = {}  # (x, mode) -> operation id holding OPERATION
        self.claims: dict[str, list[str]] = {}  # operation id -> every owner granted it, the holder last

    def open_store(self) -> OperationStore:
        return Store.open(None)

    def still_holds(self, op: Operation, owner: str) -> bool:
        """Whether `owner` may still write `op` (SQLite: nobody took it over since)."""
        return op.state == "running" and op.lease_owner == owner

    def teardown(self) -> None:
        self.store.close()

    @rule(x=st.sampled_from(XS), mode=st.sampled_from(MODES), kind=st.sampled_from(["bind", "unbind"]))
    def accept(self, x: str, mode: str, kind: str) -> None:
        key = (x, mode)
        ok = self.model[key] == (NOT_BIND if kind == "bind" else BIND)
        try:
            op = self.store.begin(x, mode, kind, a="13900000001" if mode == "AXB" else None, b="13800000001", now=self.now)
        except StateConflict as conflict:
            assert not ok, f"{kind} refused on {key} in {self.model[key]}"
            assert conflict.view[mode.lower()]["status"] == self.model[key]
            return
        assert ok, f"{kind} accepted on {key} in {self.model[key]}"
        self.model[key] = OPERATION
        self.holder[key] = op.id

    @rule(owner=st.sampled_from(OWNERS))
    def claim_due(self, owner: str) -> None:
        for op_id in self.store.due(self.now, 10) + list(self.claims):
            before = self.store.operation(op_id)
            taken = self.store.claim(op_id, owner, now=self.now, lease=LEASE)
            # A claim is granted only for a due pending operation or a running one whose lease ran out.
            free = before.state == "pending" and before.next_attempt_at <= self.now
            expired = before.state == "running" and before.lease_until is not None and before.lease_until <= self.now
            assert (taken is not None) == (free or expired), (before, owner, self.now)
            if taken is not None:
                assert taken.claims == before.claims + 1
                self.claims.setdefault(op_id, []).append(owner)

    @rule(seconds=st.sampled_from([1.0, 5.0, 11.0]))
    def time_passes(self, seconds: float) -> None:
        self.now += seconds

    def _pick(self, data: st.DataObject) -> tuple[str, str, bool]:
        """An operation someone claimed, one of its claimants (maybe a stale one), and whether it still holds it."""
        op_id = data.draw(st.sampled_from(sorted(self.claims)))
        owner = data.draw(st.sampled_from(self.claims[op_id]))
        return op_id, owner, self.still_holds(self.store.operation(op_id), owner)

    @precondition(lambda self: self.claims)
    @rule(data=st.data(), success=st.booleans())
    def finish(self, data: st.DataObject, success: bool) -> None:
        op_id, owner, holds = self._pick(data)
        op = self.store.operation(op_id)
        goal = BIND if op.kind == "bind" else NOT_BIND
        status = goal if success else (NOT_BIND if goal == BIND else BIND)
        try:
            self.store.complete(op, owner, status=status, binding_id="bnd" if status == BIND else None,
                                outcome="x", now=self.now)
        except LostClaim:
            assert not holds, f"{owner} holds {op_id} but could not complete it"
            return
        assert holds, f"{owner} completed {op_id} without holding it"
        key = (op.x, op.mode)
        assert self.holder.pop(key) == op_id
        self.model[key] = status
        del self.claims[op_id]

    @precondition(lambda self: self.claims)
    @rule(data=st.data())
    def fail_and_requeue(self, data: st.DataObject) -> None:
        op_id, owner, holds = self._pick(data)
        try:
            self.store.reschedule(self.store.operation(op_id), owner, next_attempt_at=self.now + 2, error="HTTP 503",
                                  now=self.now, alert_at=3)
        except LostClaim:
            assert not holds
            return
        assert holds

    @invariant()
    def agrees_with_the_model(self) -> None:
        for (x, mode), status in self.model.items():
            view = self.store.view(x)[mode.lower()]
            assert view["status"] == status
            assert view["operation_id"] == self.holder.get((x, mode))
        assert check_history(self.store.transitions()) == []
        alerted = [op.id for op in self.store.operations() if op.alerted]
        assert sorted(alerted) == sorted(a["operation_id"] for a in self.store.alerts())
        assert all(a["attempts"] == 3 for a in self.store.alerts())


StoreMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=30, deadline=None, derandomize=True,
                                          database=None)
test_store_agrees_with_its_model = StoreMachine.TestCase


class PgStoreMachine(StoreMachine):
    url = ""  # the test's database, set by the test below

    def open_store(self) -> OperationStore:
        store = open_store(self.url)
        store._connection().execute("TRUNCATE numbers, transitions, operations, alerts, meta RESTART IDENTITY; "  # type: ignore[attr-defined]
                                    "ALTER SEQUENCE operation_seq RESTART")
        return store

    def still_holds(self, op: Operation, owner: str) -> bool:
        """PostgreSQL: and its lease has not run out (a paused holder cannot commit)."""
        return super().still_holds(op, owner) and op.lease_until is not None and op.lease_until > self.now


def test_the_postgresql_store_agrees_with_the_same_model(pstnsim_postgres_url):
    # durable commits are not what this checks; without the fsync each example takes milliseconds
    PgStoreMachine.url = f"{pstnsim_postgres_url}?options=-c%20synchronous_commit%3Doff"
    run_state_machine_as_test(PgStoreMachine, settings=settings(max_examples=20, stateful_step_count=30,
                                                                deadline=None, derandomize=True, database=None))
