"""The core's durable state on PostgreSQL: the same contract as store.Store, for several replicas on one database.

Why psycopg 3, synchronously: the store's methods are short transactions that never span an await,
and the worker, service and API call them synchronously on either backend. psycopg 3 is the
maintained successor of psycopg2 with a sync and an async API on one codebase (asyncpg is async
only), so the core keeps one code path for SQLite and PostgreSQL and runs under virtual time
unchanged; a later async store can use the same driver.

How the guarantees hold across processes (READ COMMITTED):
- a status change is `UPDATE ... WHERE version = <read>` on the mode's version (compare-and-set), after
  `SELECT ... FOR UPDATE` on the number's row, so concurrent accepts on one X serialize and one wins;
- a claim locks the operation's row with `FOR UPDATE SKIP LOCKED` (a row another replica is claiming
  is skipped, never waited for) and takes a lease (lease_owner, lease_until);
- every write by a holder (complete, reschedule, fence, finish) requires `lease_owner = me AND
  lease_until > now`: a holder paused or cut off past its lease cannot commit, even if nobody took over;
- the alert is claimed by `UPDATE ... SET alerted = 1 WHERE alerted = 0` plus a unique alert per
  operation, so it is recorded exactly once whichever replica reaches the threshold;
- a transaction that numbers rows (operations, transitions, alerts) takes one advisory lock, after its
  row locks, before drawing a number: numbers are then handed out in commit order, and a reader paging
  with `after=` never skips a row that commits later with a smaller number.
- the outbox (storage.Outbox) is written in the transaction of the change that needs the message, and
  relays take rows with `FOR UPDATE SKIP LOCKED` plus a relay lease, so two relays never take one row at
  once; likewise replicas take undelivered alerts with a delivery lease.
A lock wait is bounded (lock_timeout) and a transaction left open by a stopped process is ended by
the server (idle_in_transaction_session_timeout); a broken connection is replaced on the next call.
"""

from __future__ import annotations

import random
from contextlib import contextmanager
from typing import Any, Iterator

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row

from . import schema_pg
from .records import LostClaim, Operation, StateConflict
from .storage import StoreUnavailable
from .store import delivery_hold, number_view
from .transitions import BIND, MODES, OPERATION, REQUIRED_STATUS, check_move

_PREFIX = {"XB": "xb_", "AXB": "axb_"}

# Session settings (milliseconds). A lock held by another replica is waited for this long at most, like
# SQLite's busy timeout; a transaction left open (its process stopped) is ended by the server after 5 s.
SESSION_OPTIONS = "-c lock_timeout=2000 -c statement_timeout=10000 -c idle_in_transaction_session_timeout=5000"
CONNECT_TIMEOUT = 5  # seconds
# pg_advisory_xact_lock key serializing the transactions that number rows (see the module docstring).
SEQ_LOCK = 0x7073746E7365  # "pstnse"


def session_options(url: str) -> str:
    """SESSION_OPTIONS, then the URL's own `options` (so `?options=-c%20synchronous_commit%3Doff` and the
    like still apply, and may override ours)."""
    own = conninfo_to_dict(url).get("options")
    return f"{SESSION_OPTIONS} {own}" if own else SESSION_OPTIONS


class PgStore:
    backend = "postgresql"
    # Off by default: without a broker nobody would ever empty the outbox table.
    outbox_enabled: bool = False

    def __init__(self, url: str) -> None:
        self.url = url
        self._conn: psycopg.Connection[dict[str, Any]] | None = None
        try:
            schema_pg.apply(self._connection())
        except psycopg.Error as exc:
            raise StoreUnavailable(str(exc).strip()) from exc

    @classmethod
    def open(cls, url: str) -> "PgStore":
        return cls(url)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # ---- connection and transactions ---------------------------------------

    def _connection(self) -> psycopg.Connection[dict[str, Any]]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            if self._conn is not None:
                self._conn.close()
            self._conn = psycopg.connect(self.url, autocommit=True, row_factory=dict_row,
                                         connect_timeout=CONNECT_TIMEOUT, options=session_options(self.url))
        return self._conn

    @contextmanager
    def _atomic(self) -> Iterator[psycopg.Connection[dict[str, Any]]]:
        """One transaction; a database failure surfaces as StoreUnavailable (rolled back)."""
        try:
            conn = self._connection()
            with conn.transaction():
                yield conn
        except psycopg.Error as exc:
            raise StoreUnavailable(str(exc).strip()) from exc

    def _rows(self, sql: str, params: Any = None) -> list[dict[str, Any]]:
        try:
            return self._connection().execute(sql, params).fetchall()
        except psycopg.Error as exc:
            raise StoreUnavailable(str(exc).strip()) from exc

    def _one(self, sql: str, params: Any = None) -> dict[str, Any] | None:
        rows = self._rows(sql, params)
        return rows[0] if rows else None

    # ---- identity --------------------------------------------------------

    def database_id(self, rng: random.Random, now: float) -> str:
        """As Store.database_id; replicas starting together agree on the first one written."""
        row = self._one("SELECT value FROM meta WHERE key = 'database_id'")
        if row:
            return row["value"]
        value = f"{rng.getrandbits(64):016x}-{int(now * 1000):x}"
        with self._atomic() as conn:
            conn.execute("INSERT INTO meta (key, value) VALUES ('database_id', %s) ON CONFLICT (key) DO NOTHING", [value])
            return conn.execute("SELECT value FROM meta WHERE key = 'database_id'").fetchone()["value"]

    # ---- numbers ---------------------------------------------------------

    def view(self, x: str) -> dict[str, Any]:
        return number_view(x, self._one("SELECT * FROM numbers WHERE x = %s", [x]) or {})

    def numbers(self) -> list[dict[str, Any]]:
        return [number_view(row["x"], row) for row in self._rows("SELECT * FROM numbers ORDER BY x")]

    # ---- operations: accept ----------------------------------------------

    def begin(self, x: str, mode: str, kind: str, *, a: str | None = None, b: str | None = None,
              path: str = "async", now: float, owner: str | None = None, lease: float = 0.0) -> Operation:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}")
        p = _PREFIX[mode]
        with self._atomic() as conn:
            conn.execute("INSERT INTO numbers (x, updated_at) VALUES (%s, %s) ON CONFLICT (x) DO NOTHING", [x, now])
            row = conn.execute("SELECT * FROM numbers WHERE x = %s FOR UPDATE", [x]).fetchone()
            status, version = row[p + "status"], row[p + "version"]
            if status != REQUIRED_STATUS[kind]:
                raise StateConflict(number_view(x, row), f"{mode} on {x} is {status}; a {kind} needs {REQUIRED_STATUS[kind]}")
            if kind == "bind":
                self._refuse_during_sweep(conn, x, mode, row)
            _number_in_commit_order(conn)
            seq = conn.execute("SELECT nextval('operation_seq') AS seq").fetchone()["seq"]
            op_id = f"op_{seq:08d}"
            if kind == "bind":
                a_new, b_new, binding_id = (a if mode == "AXB" else None), b, None
            else:
                a_new, b_new, binding_id = row.get(p + "a"), row[p + "b"], row[p + "binding_id"]
            sets = [f"{p}status = %s", f"{p}version = {p}version + 1", f"{p}operation_id = %s", f"{p}b = %s",
                    "updated_at = %s"]
            values: list[Any] = [OPERATION, op_id, b_new, now]
            if mode == "AXB":
                sets.append("axb_a = %s")
                values.append(a_new)
            cursor = conn.execute(
                f"UPDATE numbers SET {', '.join(sets)} WHERE x = %s AND {p}version = %s AND {p}status = %s",
                [*values, x, version, status],
            )
            if cursor.rowcount != 1:
                raise StateConflict(self.view(x), f"{mode} on {x} changed concurrently")
            _transition(conn, x, mode, status, OPERATION, version + 1, op_id, now)
            claimed = owner is not None
            conn.execute(
                """INSERT INTO operations (seq, id, x, mode, kind, a, b, binding_id, path, phase, state, version,
                   attempts, claims, next_attempt_at, lease_owner, lease_until, alerted, created_at, updated_at)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, 'call', %s, %s, 0, %s, %s, %s, %s, 0, %s, %s)""",
                [seq, op_id, x, mode, kind, a_new, b_new, binding_id, path,
                 "running" if claimed else "pending", version + 1, 1 if claimed else 0, now,
                 owner, now + lease if claimed else None, now, now],
            )
            # Claimed: the watchdog, due when the lease runs out; otherwise claimable at once.
            self._enqueue(conn, op_id, now + lease if claimed else now, now)
        return self.operation(op_id)

    # ---- operations: claim -----------------------------------------------

    def claim(self, op_id: str, owner: str, *, now: float, lease: float, doubt_until: float | None = None) -> Operation | None:
        with self._atomic() as conn:
            row = conn.execute(
                """UPDATE operations SET state = 'running', lease_owner = %(owner)s, lease_until = %(until)s,
                   claims = claims + 1,
                   in_doubt_until = CASE WHEN state = 'running' AND %(doubt)s::float8 IS NOT NULL
                                         THEN GREATEST(in_doubt_until, %(doubt)s::float8) ELSE in_doubt_until END,
                   updated_at = %(now)s
                   WHERE id = (SELECT id FROM operations WHERE id = %(id)s AND next_attempt_at <= %(now)s
                                 AND (state = 'pending' OR (state = 'running' AND lease_until <= %(now)s))
                               FOR UPDATE SKIP LOCKED)
                   RETURNING *""",
                {"owner": owner, "until": now + lease, "doubt": doubt_until, "now": now, "id": op_id},
            ).fetchone()
            if row is not None:
                self._enqueue(conn, op_id, now + lease, now)  # the watchdog for this holder
        return Operation.from_row(row) if row else None

    def due(self, now: float, limit: int) -> list[str]:
        rows = self._rows(
            """SELECT id FROM operations
               WHERE (state = 'pending' AND next_attempt_at <= %(now)s) OR (state = 'running' AND lease_until <= %(now)s)
               ORDER BY next_attempt_at, seq LIMIT %(limit)s""",
            {"now": now, "limit": limit},
        )
        return [row["id"] for row in rows]

    def next_wakeup(self) -> float | None:
        row = self._one(
            """SELECT LEAST((SELECT MIN(next_attempt_at) FROM operations WHERE state = 'pending'),
                            (SELECT MIN(lease_until) FROM operations WHERE state = 'running')) AS t"""
        )
        return row["t"] if row else None

    # ---- operations: finish ----------------------------------------------

    def complete(self, op: Operation, owner: str, *, status: str, binding_id: str | None, outcome: str, now: float,
                 state: str = "done", error: str | None = None) -> Operation:
        p = _PREFIX[op.mode]
        check_move(OPERATION, status)
        with self._atomic() as conn:
            cursor = conn.execute(
                """UPDATE operations SET state = %s, outcome = %s, binding_id = COALESCE(%s, binding_id),
                   last_error = COALESCE(%s, last_error), lease_owner = NULL, lease_until = NULL,
                   finished_at = %s, updated_at = %s
                   WHERE id = %s AND state = 'running' AND lease_owner = %s AND lease_until > %s""",
                [state, outcome, binding_id, error, now, now, op.id, owner, now],
            )
            if cursor.rowcount != 1:
                raise LostClaim(op.id)
            bound = status == BIND
            sets = [f"{p}status = %(status)s", f"{p}version = {p}version + 1", f"{p}operation_id = NULL",
                    f"{p}binding_id = %(binding_id)s", f"{p}b = CASE WHEN %(bound)s THEN {p}b ELSE NULL END",
                    "updated_at = %(now)s"]
            if op.mode == "AXB":
                sets.append("axb_a = CASE WHEN %(bound)s THEN axb_a ELSE NULL END")
            cursor = conn.execute(
                f"""UPDATE numbers SET {', '.join(sets)}
                    WHERE x = %(x)s AND {p}status = %(operation)s AND {p}version = %(version)s
                      AND {p}operation_id = %(op_id)s""",
                {"status": status, "binding_id": binding_id if bound else None, "bound": bound, "now": now,
                 "x": op.x, "operation": OPERATION, "version": op.version, "op_id": op.id},
            )
            if cursor.rowcount != 1:
                raise LostClaim(f"{op.id}: {op.mode} on {op.x} is no longer held by this operation")
            _number_in_commit_order(conn)
            _transition(conn, op.x, op.mode, OPERATION, status, op.version + 1, op.id, now)
            if op.kind == "bind":
                self._queue_sweep(conn, op.id, now)
        return self.operation(op.id)

    def reschedule(self, op: Operation, owner: str, *, next_attempt_at: float, error: str, now: float,
                   count_attempt: bool = True, phase: str | None = None, alert_at: int | None = None,
                   in_doubt_until: float | None = None) -> tuple[Operation, dict[str, Any] | None]:
        alert: dict[str, Any] | None = None
        with self._atomic() as conn:
            row = conn.execute(
                """UPDATE operations SET state = 'pending', attempts = attempts + %(count)s, next_attempt_at = %(next)s,
                   last_error = %(error)s, phase = COALESCE(%(phase)s, phase), lease_owner = NULL, lease_until = NULL,
                   updated_at = %(now)s,
                   in_doubt_until = CASE WHEN %(doubt)s::float8 IS NULL THEN in_doubt_until
                                         ELSE GREATEST(in_doubt_until, %(doubt)s::float8) END
                   WHERE id = %(id)s AND state = 'running' AND lease_owner = %(owner)s AND lease_until > %(now)s
                   RETURNING attempts""",
                {"count": 1 if count_attempt else 0, "next": next_attempt_at, "error": error, "phase": phase,
                 "now": now, "doubt": in_doubt_until, "id": op.id, "owner": owner},
            ).fetchone()
            if row is None:
                raise LostClaim(op.id)
            self._enqueue(conn, op.id, next_attempt_at, now)
            if alert_at is not None and row["attempts"] >= alert_at:
                alert = _claim_alert(conn, op, row["attempts"], error, now, delivery_hold(op, owner))
        return self.operation(op.id), alert

    def raise_alert(self, op: Operation, error: str, *, now: float) -> dict[str, Any] | None:
        with self._atomic() as conn:
            row = conn.execute("SELECT attempts FROM operations WHERE id = %s", [op.id]).fetchone()
            return _claim_alert(conn, op, row["attempts"], error, now, delivery_hold(op, op.lease_owner)) if row else None

    def release(self, op: Operation, owner: str, *, now: float, in_doubt_until: float) -> None:
        with self._atomic() as conn:
            cursor = conn.execute(
                """UPDATE operations SET state = 'pending', lease_owner = NULL, lease_until = NULL,
                   next_attempt_at = LEAST(next_attempt_at, %(now)s), updated_at = %(now)s,
                   in_doubt_until = GREATEST(in_doubt_until, %(doubt)s::float8)
                   WHERE id = %(id)s AND state = 'running' AND lease_owner = %(owner)s""",
                {"now": now, "doubt": in_doubt_until, "id": op.id, "owner": owner},
            )
            if cursor.rowcount == 1:
                self._enqueue(conn, op.id, now, now)

    # ---- sweeps ------------------------------------------------------------

    def _queue_sweep(self, conn: psycopg.Connection[Any], origin_id: str, now: float) -> None:
        origin = conn.execute("SELECT * FROM operations WHERE id = %s", [origin_id]).fetchone()
        if origin is None or origin["in_doubt_until"] is None or origin["in_doubt_until"] <= now:
            return
        seq = conn.execute("SELECT nextval('operation_seq') AS seq").fetchone()["seq"]
        conn.execute(
            """INSERT INTO operations (seq, id, x, mode, kind, a, b, path, phase, state, attempts, claims,
               next_attempt_at, alerted, created_at, updated_at, origin)
               VALUES (%s, %s, %s, %s, 'sweep', %s, %s, %s, 'look', 'pending', 0, 0, %s, 0, %s, %s, %s)""",
            [seq, f"op_{seq:08d}", origin["x"], origin["mode"], origin["a"], origin["b"], origin["path"],
             origin["in_doubt_until"], now, now, origin_id],
        )
        self._enqueue(conn, f"op_{seq:08d}", origin["in_doubt_until"], now)

    def _refuse_during_sweep(self, conn: psycopg.Connection[Any], x: str, mode: str, row: dict[str, Any]) -> None:
        found = conn.execute(
            """SELECT id FROM operations WHERE x = %s AND mode = %s AND kind = 'sweep' AND phase = 'delete'
               AND state IN ('pending', 'running') LIMIT 1""",
            [x, mode],
        ).fetchone()
        if found is not None:
            raise StateConflict(number_view(x, row), f"{mode} on {x}: {found['id']} is deleting stray bindings; "
                                               "try again shortly")

    def fence_sweep(self, op: Operation, owner: str, *, version: int, now: float) -> bool:
        p = _PREFIX[op.mode]
        with self._atomic() as conn:
            # The number's row lock orders this against begin(): a bind either sees the fence or moved the version.
            row = conn.execute(f"SELECT {p}status AS status, {p}version AS version FROM numbers WHERE x = %s FOR UPDATE",
                               [op.x]).fetchone()
            if row is None or row["version"] != version or row["status"] == OPERATION:
                return False
            cursor = conn.execute(
                """UPDATE operations SET phase = 'delete', updated_at = %s
                   WHERE id = %s AND state = 'running' AND lease_owner = %s AND lease_until > %s""",
                [now, op.id, owner, now],
            )
            if cursor.rowcount != 1:
                raise LostClaim(op.id)
        return True

    def finish_sweep(self, op: Operation, owner: str, *, outcome: str, deleted: list[str], now: float) -> Operation:
        with self._atomic() as conn:
            cursor = conn.execute(
                """UPDATE operations SET state = 'done', outcome = %s, binding_id = %s, lease_owner = NULL,
                   lease_until = NULL, finished_at = %s, updated_at = %s
                   WHERE id = %s AND state = 'running' AND lease_owner = %s AND lease_until > %s""",
                [outcome, ",".join(deleted) or None, now, now, op.id, owner, now],
            )
            if cursor.rowcount != 1:
                raise LostClaim(op.id)
        return self.operation(op.id)

    # ---- reads -----------------------------------------------------------

    def operation(self, op_id: str) -> Operation:
        row = self._one("SELECT * FROM operations WHERE id = %s", [op_id])
        if row is None:
            raise KeyError(op_id)
        return Operation.from_row(row)

    def operations(self, state: str | None = None, limit: int = 1000, after: int = 0) -> list[Operation]:
        where, params = ("AND state = %s", [state]) if state else ("", [])
        rows = self._rows(f"SELECT * FROM operations WHERE seq > %s {where} ORDER BY seq LIMIT %s",
                          [after, *params, limit])
        return [Operation.from_row(row) for row in rows]

    def count_operations(self, state: str | None = None) -> int:
        where, params = ("WHERE state = %s", [state]) if state else ("", [])
        return self._one(f"SELECT COUNT(*) AS n FROM operations {where}", params)["n"]  # type: ignore[index]

    def counts(self) -> dict[str, int]:
        counts = {"pending": 0, "running": 0, "done": 0, "dead": 0}
        for row in self._rows("SELECT state, COUNT(*) AS n FROM operations GROUP BY state"):
            counts[row["state"]] = row["n"]
        return counts

    def transitions(self, x: str | None = None, after: int = 0, limit: int = 10000) -> list[dict[str, Any]]:
        where = "WHERE seq > %s" + (" AND x = %s" if x else "")
        params: list[Any] = [after] + ([x] if x else [])
        return self._rows(f"SELECT * FROM transitions {where} ORDER BY seq LIMIT %s", [*params, limit])

    def count_transitions(self, x: str | None = None) -> int:
        where, params = ("WHERE x = %s", [x]) if x else ("", [])
        return self._one(f"SELECT COUNT(*) AS n FROM transitions {where}", params)["n"]  # type: ignore[index]

    def alerts(self, after: int = 0, limit: int = -1) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM alerts WHERE seq > %s ORDER BY seq LIMIT %s",
                          [after, None if limit < 0 else limit])

    def count_alerts(self) -> int:
        return self._one("SELECT COUNT(*) AS n FROM alerts")["n"]  # type: ignore[index]

    def undelivered_alerts(self) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM alerts WHERE delivered = 0 ORDER BY seq")

    def claim_undelivered_alerts(self, owner: str, *, now: float, lease: float) -> list[dict[str, Any]]:
        """As Store.claim_undelivered_alerts; an alert another replica is taking right now is skipped."""
        with self._atomic() as conn:
            rows = conn.execute(
                """WITH taken AS (
                       SELECT seq FROM alerts
                       WHERE delivered = 0 AND (delivering_until IS NULL OR delivering_until <= %(now)s
                                                OR delivering_owner = %(owner)s)
                       FOR UPDATE SKIP LOCKED)
                   UPDATE alerts SET delivering_owner = %(owner)s, delivering_until = %(until)s
                   FROM taken WHERE alerts.seq = taken.seq
                   RETURNING alerts.*""",
                {"owner": owner, "until": now + lease, "now": now},
            ).fetchall()
        return sorted(rows, key=lambda row: row["seq"])

    def mark_delivered(self, alert_seq: int) -> None:
        with self._atomic() as conn:
            conn.execute("UPDATE alerts SET delivered = 1 WHERE seq = %s", [alert_seq])

    # ---- the outbox (storage.Outbox) ----------------------------------------

    def claim_outbox(self, relay: str, *, now: float, lease: float, limit: int) -> list[dict[str, Any]]:
        """As Store.claim_outbox. SKIP LOCKED: rows another relay is taking are passed over, never waited for,
        and the lock re-checks the relay lease, so a row is in one relay's hands at a time."""
        with self._atomic() as conn:
            rows = conn.execute(
                """WITH taken AS (
                       SELECT seq FROM outbox WHERE relay_until IS NULL OR relay_until <= %(now)s
                       ORDER BY deliver_at, seq LIMIT %(limit)s FOR UPDATE SKIP LOCKED)
                   UPDATE outbox SET relay_owner = %(relay)s, relay_until = %(until)s
                   FROM taken WHERE outbox.seq = taken.seq
                   RETURNING outbox.seq, outbox.op_id, outbox.deliver_at, outbox.kind""",
                {"relay": relay, "until": now + lease, "now": now, "limit": limit},
            ).fetchall()
        return sorted(rows, key=lambda row: (row["deliver_at"], row["seq"]))

    def delete_outbox(self, seqs: list[int]) -> None:
        with self._atomic() as conn:
            conn.execute("DELETE FROM outbox WHERE seq = ANY(%s)", [list(seqs)])

    def count_outbox(self) -> int:
        return self._one("SELECT COUNT(*) AS n FROM outbox")["n"]  # type: ignore[index]

    def next_outbox_at(self) -> float | None:
        row = self._one("SELECT MIN(COALESCE(relay_until, created_at)) AS t FROM outbox")
        return row["t"] if row else None

    def fill_outbox(self, *, now: float) -> int:
        """As Store.fill_outbox."""
        with self._atomic() as conn:
            cursor = conn.execute(
                """INSERT INTO outbox (op_id, deliver_at, kind, created_at)
                   SELECT id, CASE WHEN state = 'pending' THEN next_attempt_at ELSE lease_until END, 'run', %s
                   FROM operations WHERE state IN ('pending', 'running') ORDER BY seq""",
                [now],
            )
        return cursor.rowcount

    def _enqueue(self, conn: psycopg.Connection[Any], op_id: str, deliver_at: float, now: float) -> None:
        """Inside a write: the operation's 'run' message, when the outbox is on."""
        if self.outbox_enabled:
            conn.execute("INSERT INTO outbox (op_id, deliver_at, kind, created_at) VALUES (%s, %s, 'run', %s)",
                         [op_id, deliver_at, now])


def _number_in_commit_order(conn: psycopg.Connection[Any]) -> None:
    """Hold the numbering lock until this transaction ends (taken after its row locks: no lock cycle)."""
    conn.execute("SELECT pg_advisory_xact_lock(%s)", [SEQ_LOCK])


def _transition(conn: psycopg.Connection[Any], x: str, mode: str, from_status: str, to_status: str, version: int,
                op_id: str, now: float) -> None:
    check_move(from_status, to_status)
    conn.execute(
        "INSERT INTO transitions (x, mode, from_status, to_status, version, operation_id, at) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s)",
        [x, mode, from_status, to_status, version, op_id, now],
    )


def _claim_alert(conn: psycopg.Connection[Any], op: Operation, attempts: int, error: str, now: float,
                 hold: tuple[str | None, float | None]) -> dict[str, Any] | None:
    """The operation's one alert, claimed in the database: whoever flips `alerted` first writes it, held for
    delivery as `hold` says (store.delivery_hold)."""
    if conn.execute("UPDATE operations SET alerted = 1 WHERE id = %s AND alerted = 0", [op.id]).rowcount != 1:
        return None
    _number_in_commit_order(conn)
    return conn.execute(
        """INSERT INTO alerts (operation_id, x, mode, attempts, last_error, at, delivered, delivering_owner,
           delivering_until) VALUES (%s, %s, %s, %s, %s, %s, 0, %s, %s)
           ON CONFLICT (operation_id) DO NOTHING RETURNING *""",
        [op.id, op.x, op.mode, attempts, error, now, *hold],
    ).fetchone()
