"""What the store hands out and raises: an operation row as a value, the two conflicts, and how a
database file is opened (autocommit, WAL, a busy timeout). No queries here: store.py has them."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from sqlite_utils import Database

# SQLite waits this long (milliseconds) for another process's write lock before failing the statement;
# a failed write is retried by the worker like a failed provider call.
BUSY_TIMEOUT_MS = 2000


class StateConflict(Exception):
    """The mode is not in the status this operation needs, or another request changed it first."""

    def __init__(self, view: dict[str, Any], message: str) -> None:
        super().__init__(message)
        self.view = view


class LostClaim(Exception):
    """This worker no longer holds the operation (its lease expired and another worker took it)."""


@dataclass(frozen=True)
class Operation:
    id: str
    x: str
    mode: str
    kind: str
    a: str | None
    b: str | None
    binding_id: str | None
    path: str
    phase: str
    state: str
    version: int
    attempts: int
    claims: int
    next_attempt_at: float
    lease_owner: str | None
    lease_until: float | None
    outcome: str | None
    last_error: str | None
    alerted: bool
    created_at: float
    finished_at: float | None
    in_doubt_until: float | None = None
    origin: str | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "Operation":
        fields = {k: row[k] for k in cls.__dataclass_fields__}
        fields["alerted"] = bool(row["alerted"])
        return cls(**fields)

    def to_dict(self) -> dict[str, Any]:
        return {
            "operation_id": self.id,
            "x": self.x,
            "mode": self.mode,
            "kind": self.kind,
            "a": self.a,
            "b": self.b,
            "binding_id": self.binding_id,
            "path": self.path,
            "phase": self.phase,
            "state": self.state,
            "attempts": self.attempts,
            "next_attempt_at": self.next_attempt_at,
            "outcome": self.outcome,
            "last_error": self.last_error,
            "alerted": self.alerted,
            "created_at": self.created_at,
            "finished_at": self.finished_at,
            "in_doubt_until": self.in_doubt_until,
            "origin": self.origin,
        }


class WritingDatabase(Database):
    """`atomic()` begins with BEGIN IMMEDIATE: the write lock is taken (waiting up to the busy timeout) before
    the transaction reads. A plain BEGIN reads first and asks for the lock at its first write; when another
    process wrote meanwhile, SQLite fails that write at once with "database is locked" (the busy timeout
    cannot help a transaction whose snapshot is stale), e.g. replicas starting together on a new file."""

    @contextlib.contextmanager
    def atomic(self) -> Iterator[Database]:
        if self.conn.in_transaction:
            with super().atomic():  # a savepoint inside the open transaction
                yield self
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            self.rollback()  # a no-op when the error already ended the transaction
            raise
        else:
            try:
                self.conn.execute("COMMIT")
            except BaseException:
                self.rollback()
                raise


def open_database(path: str | Path | None) -> Database:
    """A connection in autocommit mode (transactions only through `atomic()`), WAL when on disk."""
    conn = sqlite3.connect(":memory:" if path is None else str(path), isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    db = WritingDatabase(conn)
    if path is not None:
        _enable_wal(db)
        conn.execute("PRAGMA synchronous = NORMAL")
    return db


def _enable_wal(db: Database) -> None:
    """Switch a file to WAL, retrying "database is locked" for up to the busy timeout: the switch needs the file to
    itself and SQLite fails it at once, without its busy handler, while another process opens the same new file."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    pause = 0.005
    while True:
        try:
            db.enable_wal()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)  # a backoff between tries; no event tells us the other opener is done
        pause = min(pause * 2, 0.1)
