"""The core's durable state in SQLite (WAL): per-number statuses, the transitions history, the operations queue.

Every status change is a compare-and-set on its mode's version column and
writes a transitions row in the same transaction; versions rise by exactly one
per change. Methods are synchronous and short (sqlite3 directly, no threads),
so they run in the event loop under virtual time. Two processes may share one
database: claims and completions are compare-and-sets, a lost race is reported,
never overwritten.

With `outbox_enabled` (storage.Outbox), the changes that make an operation claimable later also write
its broker message to the outbox table, in their own transaction: committed together or not at all.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from .records import LostClaim, Operation, StateConflict, open_database
from .schema import migrations
from .transitions import BIND, MODES, NOT_BIND, OPERATION, REQUIRED_STATUS, check_move

_PREFIX = {"XB": "xb_", "AXB": "axb_"}


class Store:
    # Off by default: without a broker nobody would ever empty the outbox table.
    outbox_enabled: bool = False

    def __init__(self, db: Database) -> None:
        self.db = db
        self._apply_migrations()

    @classmethod
    def open(cls, path: str | Path | None) -> "Store":
        return cls(open_database(path))

    def close(self) -> None:
        self.db.close()

    def _apply_migrations(self) -> None:
        # One write transaction around the check and every step: processes opening one new file together take
        # turns (each waits up to the busy timeout), and a later one finds nothing pending.
        with self.db.atomic():
            migrations.apply(self.db)

    # ---- identity --------------------------------------------------------

    def database_id(self, rng: random.Random, now: float) -> str:
        """A tag made once per database; idempotency keys carry it so a fresh database never reuses one.

        Seeded bits plus the creation time (milliseconds): deterministic under a fixed virtual epoch,
        and distinct for databases created at different times with the same seed.
        """
        with self.db.atomic():
            row = self._one("SELECT value FROM meta WHERE key = 'database_id'")
            if row:
                return row["value"]
            value = f"{rng.getrandbits(64):016x}-{int(now * 1000):x}"
            self.db.execute("INSERT INTO meta (key, value) VALUES ('database_id', ?)", [value])
            return value

    # ---- numbers ---------------------------------------------------------

    def view(self, x: str) -> dict[str, Any]:
        """The polling view of X; an X never seen is NOT_BIND in both modes at version 0."""
        return number_view(x, self._one("SELECT * FROM numbers WHERE x = ?", [x]) or {})

    def numbers(self) -> list[dict[str, Any]]:
        return [self.view(row["x"]) for row in self.db.query("SELECT x FROM numbers ORDER BY x")]

    # ---- operations: accept ----------------------------------------------

    def begin(
        self,
        x: str,
        mode: str,
        kind: str,
        *,
        a: str | None = None,
        b: str | None = None,
        path: str = "async",
        now: float,
        owner: str | None = None,
        lease: float = 0.0,
    ) -> Operation:
        """Move the mode to OPERATION (CAS on its version) and queue the operation, in one transaction.

        Raises StateConflict (with the current view) when the mode is not in the
        status the operation needs or another request got there first. With an
        `owner`, the operation is created already claimed by it (its first
        attempt runs at once, in the caller), otherwise it waits for a worker.
        """
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}")
        p = _PREFIX[mode]
        with self.db.atomic():
            self.db.execute("INSERT OR IGNORE INTO numbers (x, updated_at) VALUES (?, ?)", [x, now])
            row = self._one("SELECT * FROM numbers WHERE x = ?", [x])
            status, version = row[p + "status"], row[p + "version"]
            if status != REQUIRED_STATUS[kind]:
                raise StateConflict(self.view(x), f"{mode} on {x} is {status}; a {kind} needs {REQUIRED_STATUS[kind]}")
            if kind == "bind":
                self._refuse_during_sweep(x, mode)
            seq = self._one("SELECT COALESCE(MAX(seq), 0) + 1 AS seq FROM operations")["seq"]
            op_id = f"op_{seq:08d}"
            if kind == "bind":
                a_new, b_new, binding_id = (a if mode == "AXB" else None), b, None
            else:
                a_new, b_new, binding_id = row.get(p + "a"), row[p + "b"], row[p + "binding_id"]
            sets = [f"{p}status = ?", f"{p}version = {p}version + 1", f"{p}operation_id = ?", f"{p}b = ?", "updated_at = ?"]
            values: list[Any] = [OPERATION, op_id, b_new, now]
            if mode == "AXB":
                sets.append("axb_a = ?")
                values.append(a_new)
            cursor = self.db.execute(
                f"UPDATE numbers SET {', '.join(sets)} WHERE x = ? AND {p}version = ? AND {p}status = ?",
                [*values, x, version, status],
            )
            if cursor.rowcount != 1:
                raise StateConflict(self.view(x), f"{mode} on {x} changed concurrently")
            self._transition(x, mode, status, OPERATION, version + 1, op_id, now)
            claimed = owner is not None
            self.db.execute(
                """INSERT INTO operations (seq, id, x, mode, kind, a, b, binding_id, path, phase, state, version,
                   attempts, claims, next_attempt_at, lease_owner, lease_until, alerted, created_at, updated_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'call', ?, ?, 0, ?, ?, ?, ?, 0, ?, ?)""",
                [
                    seq, op_id, x, mode, kind, a_new, b_new, binding_id, path,
                    "running" if claimed else "pending", version + 1, 1 if claimed else 0, now,
                    owner, now + lease if claimed else None, now, now,
                ],
            )
            # Claimed: the watchdog, due when the lease runs out; otherwise claimable at once.
            self._enqueue(op_id, now + lease if claimed else now, now)
        return self.operation(op_id)

    # ---- operations: claim -----------------------------------------------

    def claim(self, op_id: str, owner: str, *, now: float, lease: float, doubt_until: float | None = None) -> Operation | None:
        """Take one operation if it is due and free (pending, or running with an expired lease).

        Taking one over from a holder whose lease ran out puts it in doubt until `doubt_until`:
        that holder may have had a call on the wire when it died.
        """
        with self.db.atomic():
            cursor = self.db.execute(
                """UPDATE operations SET state = 'running', lease_owner = ?, lease_until = ?, claims = claims + 1,
                   in_doubt_until = CASE WHEN state = 'running' AND ? IS NOT NULL
                                         THEN MAX(COALESCE(in_doubt_until, ?), ?) ELSE in_doubt_until END,
                   updated_at = ?
                   WHERE id = ? AND next_attempt_at <= ?
                     AND (state = 'pending' OR (state = 'running' AND lease_until <= ?))""",
                [owner, now + lease, doubt_until, doubt_until, doubt_until, now, op_id, now, now],
            )
            if cursor.rowcount == 1:
                self._enqueue(op_id, now + lease, now)  # the watchdog for this holder
        return self.operation(op_id) if cursor.rowcount == 1 else None

    def due(self, now: float, limit: int) -> list[str]:
        """Ids of operations a worker could claim now, oldest first."""
        rows = self.db.query(
            """SELECT id FROM operations
               WHERE (state = 'pending' AND next_attempt_at <= ?) OR (state = 'running' AND lease_until <= ?)
               ORDER BY next_attempt_at, seq LIMIT ?""",
            [now, now, limit],
        )
        return [row["id"] for row in rows]

    def next_wakeup(self) -> float | None:
        """The earliest time some operation becomes claimable (a due retry or an expiring lease)."""
        row = self._one(
            """SELECT MIN(t) AS t FROM (
                 SELECT MIN(next_attempt_at) AS t FROM operations WHERE state = 'pending'
                 UNION ALL SELECT MIN(lease_until) FROM operations WHERE state = 'running')"""
        )
        return row["t"] if row else None

    # ---- operations: finish ----------------------------------------------

    def complete(
        self,
        op: Operation,
        owner: str,
        *,
        status: str,
        binding_id: str | None,
        outcome: str,
        now: float,
        state: str = "done",
        error: str | None = None,
    ) -> Operation:
        """Settle the mode to `status` and close the operation, in one transaction (CAS on both).

        `binding_id` is the provider binding the mode now holds (None for NOT_BIND).
        Raises LostClaim if another worker took the operation meanwhile.
        """
        p = _PREFIX[op.mode]
        check_move(OPERATION, status)
        with self.db.atomic():
            cursor = self.db.execute(
                """UPDATE operations SET state = ?, outcome = ?, binding_id = COALESCE(?, binding_id),
                   last_error = COALESCE(?, last_error), lease_owner = NULL, lease_until = NULL,
                   finished_at = ?, updated_at = ?
                   WHERE id = ? AND state = 'running' AND lease_owner = ?""",
                [state, outcome, binding_id, error, now, now, op.id, owner],
            )
            if cursor.rowcount != 1:
                raise LostClaim(op.id)
            bound = status == BIND
            sets = [
                f"{p}status = ?",
                f"{p}version = {p}version + 1",
                f"{p}operation_id = NULL",
                f"{p}binding_id = ?",
                f"{p}b = CASE WHEN ? THEN {p}b ELSE NULL END",
                "updated_at = ?",
            ]
            if op.mode == "AXB":
                sets.append("axb_a = CASE WHEN ? THEN axb_a ELSE NULL END")
            values: list[Any] = [status, binding_id if bound else None, bound, now]
            if op.mode == "AXB":
                values.append(bound)
            cursor = self.db.execute(
                f"""UPDATE numbers SET {', '.join(sets)}
                    WHERE x = ? AND {p}status = ? AND {p}version = ? AND {p}operation_id = ?""",
                [*values, op.x, OPERATION, op.version, op.id],
            )
            if cursor.rowcount != 1:
                # The mode moved on without this operation: a defect, never a race (only its holder may settle it).
                raise LostClaim(f"{op.id}: {op.mode} on {op.x} is no longer held by this operation")
            self._transition(op.x, op.mode, OPERATION, status, op.version + 1, op.id, now)
            if op.kind == "bind":
                self._queue_sweep(op.id, now)
        return self.operation(op.id)

    def reschedule(
        self,
        op: Operation,
        owner: str,
        *,
        next_attempt_at: float,
        error: str,
        now: float,
        count_attempt: bool = True,
        phase: str | None = None,
        alert_at: int | None = None,
        in_doubt_until: float | None = None,
    ) -> tuple[Operation, dict[str, Any] | None]:
        """Put a failed attempt back in the queue; raise the operation's one alert when `alert_at` is reached.

        The attempt count, the alert row and the release of the claim commit
        together, so an alert is recorded exactly once even across crashes.
        Returns the operation and the new alert row (or None).
        """
        alert: dict[str, Any] | None = None
        with self.db.atomic():
            cursor = self.db.execute(
                """UPDATE operations SET state = 'pending', attempts = attempts + ?, next_attempt_at = ?,
                   last_error = ?, phase = COALESCE(?, phase), lease_owner = NULL, lease_until = NULL, updated_at = ?,
                   in_doubt_until = CASE WHEN ? IS NULL THEN in_doubt_until ELSE MAX(COALESCE(in_doubt_until, ?), ?) END
                   WHERE id = ? AND state = 'running' AND lease_owner = ?""",
                [1 if count_attempt else 0, next_attempt_at, error, phase, now,
                 in_doubt_until, in_doubt_until, in_doubt_until, op.id, owner],
            )
            if cursor.rowcount != 1:
                raise LostClaim(op.id)
            self._enqueue(op.id, next_attempt_at, now)
            current = self.operation(op.id)
            if alert_at is not None and current.attempts >= alert_at and not current.alerted:
                self.db.execute("UPDATE operations SET alerted = 1 WHERE id = ?", [op.id])
                holder, until = delivery_hold(op, owner)
                self.db.execute(
                    """INSERT INTO alerts (operation_id, x, mode, attempts, last_error, at, delivered, delivering_owner,
                       delivering_until) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?)""",
                    [op.id, op.x, op.mode, current.attempts, error, now, holder, until],
                )
                alert = self._one("SELECT * FROM alerts WHERE operation_id = ?", [op.id])
        return self.operation(op.id), alert

    def raise_alert(self, op: Operation, error: str, *, now: float) -> dict[str, Any] | None:
        """The operation's one alert, outside an attempt (the old path); None if it has one already."""
        with self.db.atomic():
            cursor = self.db.execute("UPDATE operations SET alerted = 1 WHERE id = ? AND alerted = 0", [op.id])
            if cursor.rowcount != 1:
                return None
            current = self.operation(op.id)
            holder, until = delivery_hold(op, op.lease_owner)
            self.db.execute(
                """INSERT INTO alerts (operation_id, x, mode, attempts, last_error, at, delivered, delivering_owner,
                   delivering_until) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?)""",
                [op.id, op.x, op.mode, current.attempts, error, now, holder, until],
            )
            return self._one("SELECT * FROM alerts WHERE operation_id = ?", [op.id])

    def release(self, op: Operation, owner: str, *, now: float, in_doubt_until: float) -> None:
        """Give a claimed operation back to the queue at once (a graceful stop), without counting an attempt.

        Its call may have been cut off on the wire, so it is in doubt until `in_doubt_until`.
        """
        with self.db.atomic():
            cursor = self.db.execute(
                """UPDATE operations SET state = 'pending', lease_owner = NULL, lease_until = NULL,
                   next_attempt_at = MIN(next_attempt_at, ?), updated_at = ?,
                   in_doubt_until = MAX(COALESCE(in_doubt_until, ?), ?)
                   WHERE id = ? AND state = 'running' AND lease_owner = ?""",
                [now, now, in_doubt_until, in_doubt_until, op.id, owner],
            )
            if cursor.rowcount == 1:
                self._enqueue(op.id, now, now)

    # ---- sweeps: cleaning up after calls that may land late ----------------

    def _queue_sweep(self, origin_id: str, now: float) -> None:
        """Inside complete(): when the bind is still in doubt, queue a sweep for when the doubt ends.

        A call that got no answer may still create a binding after the row settled; the sweep looks
        for bindings with this bind's numbers once nothing more can land, and deletes those the row
        does not hold.
        """
        origin = self._one("SELECT * FROM operations WHERE id = ?", [origin_id])
        if origin is None or origin["in_doubt_until"] is None or origin["in_doubt_until"] <= now:
            return
        seq = self._one("SELECT COALESCE(MAX(seq), 0) + 1 AS seq FROM operations")["seq"]
        self.db.execute(
            """INSERT INTO operations (seq, id, x, mode, kind, a, b, path, phase, state, attempts, claims,
               next_attempt_at, alerted, created_at, updated_at, origin)
               VALUES (?, ?, ?, ?, 'sweep', ?, ?, ?, 'look', 'pending', 0, 0, ?, 0, ?, ?, ?)""",
            [seq, f"op_{seq:08d}", origin["x"], origin["mode"], origin["a"], origin["b"], origin["path"],
             origin["in_doubt_until"], now, now, origin_id],
        )
        self._enqueue(f"op_{seq:08d}", origin["in_doubt_until"], now)

    def _refuse_during_sweep(self, x: str, mode: str) -> None:
        """A bind must wait while a sweep deletes strays on (x, mode): the provider could hand it one of them."""
        row = self._one(
            """SELECT id FROM operations WHERE x = ? AND mode = ? AND kind = 'sweep' AND phase = 'delete'
               AND state IN ('pending', 'running') LIMIT 1""",
            [x, mode],
        )
        if row is not None:
            raise StateConflict(self.view(x), f"{mode} on {x}: {row['id']} is deleting stray bindings; try again shortly")

    def fence_sweep(self, op: Operation, owner: str, *, version: int, now: float) -> bool:
        """Enter the delete phase if the mode is still at `version` and not in OPERATION (else False).

        From here until the sweep ends no bind can start on (x, mode), and none ran since the sweep
        looked (the version did not move), so every binding it found other than the row's is a stray.
        """
        p = _PREFIX[op.mode]
        with self.db.atomic():
            row = self._one(f"SELECT {p}status AS status, {p}version AS version FROM numbers WHERE x = ?", [op.x])
            if row is None or row["version"] != version or row["status"] == OPERATION:
                return False
            cursor = self.db.execute(
                """UPDATE operations SET phase = 'delete', updated_at = ?
                   WHERE id = ? AND state = 'running' AND lease_owner = ?""",
                [now, op.id, owner],
            )
            if cursor.rowcount != 1:
                raise LostClaim(op.id)
        return True

    def finish_sweep(self, op: Operation, owner: str, *, outcome: str, deleted: list[str], now: float) -> Operation:
        with self.db.atomic():
            cursor = self.db.execute(
                """UPDATE operations SET state = 'done', outcome = ?, binding_id = ?, lease_owner = NULL,
                   lease_until = NULL, finished_at = ?, updated_at = ?
                   WHERE id = ? AND state = 'running' AND lease_owner = ?""",
                [outcome, ",".join(deleted) or None, now, now, op.id, owner],
            )
            if cursor.rowcount != 1:
                raise LostClaim(op.id)
        return self.operation(op.id)

    # ---- reads -----------------------------------------------------------

    def operation(self, op_id: str) -> Operation:
        row = self._one("SELECT * FROM operations WHERE id = ?", [op_id])
        if row is None:
            raise KeyError(op_id)
        return Operation.from_row(row)

    def operations(self, state: str | None = None, limit: int = 1000, after: int = 0) -> list[Operation]:
        """Oldest first, those queued after the operation numbered `after` (op_<after>)."""
        where, params = ("AND state = ?", [state]) if state else ("", [])
        rows = self.db.query(f"SELECT * FROM operations WHERE seq > ? {where} ORDER BY seq LIMIT ?",
                             [after, *params, limit])
        return [Operation.from_row(row) for row in rows]

    def count_operations(self, state: str | None = None) -> int:
        where, params = ("WHERE state = ?", [state]) if state else ("", [])
        return self._one(f"SELECT COUNT(*) AS n FROM operations {where}", params)["n"]

    def counts(self) -> dict[str, int]:
        counts = {"pending": 0, "running": 0, "done": 0, "dead": 0}
        for row in self.db.query("SELECT state, COUNT(*) AS n FROM operations GROUP BY state"):
            counts[row["state"]] = row["n"]
        return counts

    def transitions(self, x: str | None = None, after: int = 0, limit: int = 10000) -> list[dict[str, Any]]:
        where = "WHERE seq > ?" + (" AND x = ?" if x else "")
        params: list[Any] = [after] + ([x] if x else [])
        return list(self.db.query(f"SELECT * FROM transitions {where} ORDER BY seq LIMIT ?", [*params, limit]))

    def count_transitions(self, x: str | None = None) -> int:
        where, params = ("WHERE x = ?", [x]) if x else ("", [])
        return self._one(f"SELECT COUNT(*) AS n FROM transitions {where}", params)["n"]

    def alerts(self, after: int = 0, limit: int = -1) -> list[dict[str, Any]]:
        """Oldest first, those after alert `after`; `limit` -1: all."""
        return list(self.db.query("SELECT * FROM alerts WHERE seq > ? ORDER BY seq LIMIT ?", [after, limit]))

    def count_alerts(self) -> int:
        return self._one("SELECT COUNT(*) AS n FROM alerts")["n"]

    def undelivered_alerts(self) -> list[dict[str, Any]]:
        """Every alert not yet delivered, whoever may be posting it (see claim_undelivered_alerts)."""
        return list(self.db.query("SELECT * FROM alerts WHERE delivered = 0 ORDER BY seq"))

    def claim_undelivered_alerts(self, owner: str, *, now: float, lease: float) -> list[dict[str, Any]]:
        """Take the undelivered alerts nobody else is posting, for `lease` seconds: oldest first.

        So two replicas never post one alert at the same time. Alerts `owner` already holds come back
        too, their lease extended (a renewal: the caller skips those it is still posting). An alert is
        raised already held by the holder of its operation until that claim's lease runs out, since the
        holder posts it at once. Delivery is still at-least-once: a replica that dies between the POST
        and mark_delivered leaves the alert to be taken, and posted again, once its lease ran out.
        """
        with self.db.atomic():
            self.db.execute(
                """UPDATE alerts SET delivering_owner = ?, delivering_until = ?
                   WHERE delivered = 0 AND (delivering_until IS NULL OR delivering_until <= ? OR delivering_owner = ?)""",
                [owner, now + lease, now, owner],
            )
            # Every undelivered alert `owner` holds was just taken or renewed (the write lock is ours till commit).
            return list(self.db.query("SELECT * FROM alerts WHERE delivered = 0 AND delivering_owner = ? ORDER BY seq",
                                      [owner]))

    def mark_delivered(self, alert_seq: int) -> None:
        with self.db.atomic():
            self.db.execute("UPDATE alerts SET delivered = 1 WHERE seq = ?", [alert_seq])

    # ---- the outbox (storage.Outbox) ----------------------------------------

    def claim_outbox(self, relay: str, *, now: float, lease: float, limit: int) -> list[dict[str, Any]]:
        """Take up to `limit` rows no live relay holds, for `lease` seconds: soonest due first.

        One statement, so SQLite's write lock makes the take exclusive between processes."""
        with self.db.atomic():
            rows = list(self.db.query(
                """UPDATE outbox SET relay_owner = ?, relay_until = ?
                   WHERE seq IN (SELECT seq FROM outbox WHERE relay_until IS NULL OR relay_until <= ?
                                 ORDER BY deliver_at, seq LIMIT ?)
                   RETURNING seq, op_id, deliver_at, kind""",
                [relay, now + lease, now, limit],
            ))
        # RETURNING hands a whole REAL back as an integer: made a float again, as a SELECT would read it.
        taken = [{**row, "deliver_at": float(row["deliver_at"])} for row in rows]
        return sorted(taken, key=lambda row: (row["deliver_at"], row["seq"]))

    def delete_outbox(self, seqs: list[int]) -> None:
        """Remove rows the broker has confirmed (whoever holds them: a confirmed message is out)."""
        with self.db.atomic():
            for start in range(0, len(seqs), 500):
                chunk = list(seqs[start:start + 500])
                self.db.execute(f"DELETE FROM outbox WHERE seq IN ({', '.join('?' * len(chunk))})", chunk)

    def count_outbox(self) -> int:
        return self._one("SELECT COUNT(*) AS n FROM outbox")["n"]

    def next_outbox_at(self) -> float | None:
        """When a relay can next take a row: a free row at once (its creation time), a taken one when its
        relay lease runs out; None for an empty outbox."""
        row = self._one("SELECT MIN(COALESCE(relay_until, created_at)) AS t FROM outbox")
        return row["t"] if row else None

    def fill_outbox(self, *, now: float) -> int:
        """A 'run' row for every pending or running operation, due when it becomes claimable; how many.

        For work queued while the outbox was off (a database upgraded, or moved from the table queue to a
        broker): no message exists for it, and with a broker nobody scans the table. Called at every start
        it duplicates messages already in the broker, which the consumer's claim makes harmless."""
        with self.db.atomic():
            cursor = self.db.execute(
                """INSERT INTO outbox (op_id, deliver_at, kind, created_at)
                   SELECT id, CASE WHEN state = 'pending' THEN next_attempt_at ELSE lease_until END, 'run', ?
                   FROM operations WHERE state IN ('pending', 'running') ORDER BY seq""",
                [now],
            )
        return cursor.rowcount

    # ---- internals -------------------------------------------------------

    def _enqueue(self, op_id: str, deliver_at: float, now: float) -> None:
        """Inside a write: the operation's 'run' message, when the outbox is on."""
        if self.outbox_enabled:
            self.db.execute("INSERT INTO outbox (op_id, deliver_at, kind, created_at) VALUES (?, ?, 'run', ?)",
                            [op_id, deliver_at, now])

    def _transition(self, x: str, mode: str, from_status: str, to_status: str, version: int, op_id: str, now: float) -> None:
        check_move(from_status, to_status)
        self.db.execute(
            "INSERT INTO transitions (x, mode, from_status, to_status, version, operation_id, at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [x, mode, from_status, to_status, version, op_id, now],
        )

    def _one(self, sql: str, params: list[Any] | None = None) -> dict[str, Any] | None:
        for row in self.db.query(sql, params or []):
            return row
        return None


def delivery_hold(op: Operation, owner: str | None) -> tuple[str | None, float | None]:
    """Who holds a new alert for delivery, and until when: the holder that raised it (it posts the alert
    at once) for as long as its claim lasts; nobody when `op` is not a claim of `owner`."""
    if owner is not None and op.lease_owner == owner and op.lease_until is not None:
        return owner, op.lease_until
    return None, None


def number_view(x: str, row: dict[str, Any]) -> dict[str, Any]:
    """The polling view of X from its `numbers` row ({} for an X never seen), the same on every backend."""
    return {
        "x": x,
        "xb": {
            "status": row.get("xb_status", NOT_BIND),
            "b": row.get("xb_b"),
            "binding_id": row.get("xb_binding_id"),
            "version": row.get("xb_version", 0),
            "operation_id": row.get("xb_operation_id"),
        },
        "axb": {
            "status": row.get("axb_status", NOT_BIND),
            "a": row.get("axb_a"),
            "b": row.get("axb_b"),
            "binding_id": row.get("axb_binding_id"),
            "version": row.get("axb_version", 0),
            "operation_id": row.get("axb_operation_id"),
        },
    }
