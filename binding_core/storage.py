"""What every backend of the core's durable state provides, and which backend a `--db` value names.

Two backends satisfy `OperationStore`: `store.Store` (SQLite, the embedded default) and
`store_pg.PgStore` (PostgreSQL, several replicas on one database). Both are synchronous
and short: a method is one transaction, never spans an await, so it runs in the event loop
(and under virtual time) the same way on either. psycopg is imported only when a
postgresql URL is opened, so the default install needs no database server and no driver.
"""

from __future__ import annotations

import importlib.util
import random
import sqlite3
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from .records import Operation

POSTGRES_SCHEMES = ("postgresql", "postgres")
POSTGRES_EXTRA_HINT = "install the postgres extra: pip install 'pstnsim[postgres]'"


class StoreUnavailable(Exception):
    """The database server could not be reached, cut the connection or refused the statement.

    The transaction was rolled back, or (when the connection broke during its commit) its fate is
    unknown: callers treat it like a failed attempt, as they do a busy SQLite file.
    """


# What a store method may raise besides StateConflict / LostClaim when its database fails.
STORE_ERRORS: tuple[type[BaseException], ...] = (sqlite3.Error, StoreUnavailable)


class NumberState(Protocol):
    """Per-number statuses with per-mode versions (compare-and-set), the transitions history, the database tag.
    See store.Store for each method's contract."""

    def close(self) -> None: ...

    def database_id(self, rng: random.Random, now: float) -> str: ...

    def view(self, x: str) -> dict[str, Any]: ...

    def numbers(self) -> list[dict[str, Any]]: ...

    def transitions(self, x: str | None = None, after: int = 0, limit: int = 10000) -> list[dict[str, Any]]: ...

    def count_transitions(self, x: str | None = None) -> int: ...


class OperationLedger(Protocol):
    """Operations as durable rows: accepted and settled together with the number's status, leased to one
    holder at a time, re-queued with their attempt count, their one alert claimed in the same transaction.

    `claim` is the fence that makes a second delivery of one operation harmless, whoever delivers it: today
    the worker finds work with `due`/`next_wakeup` (the table is the queue), or a broker delivers operation
    ids, written to the outbox (see Outbox) in the same transaction as the change, and the consumer still
    `claim`s before acting and acks only after `complete` or `reschedule` committed."""

    def begin(self, x: str, mode: str, kind: str, *, a: str | None = None, b: str | None = None,
              path: str = "async", now: float, owner: str | None = None, lease: float = 0.0) -> Operation: ...

    def claim(self, op_id: str, owner: str, *, now: float, lease: float,
              doubt_until: float | None = None) -> Operation | None: ...

    def complete(self, op: Operation, owner: str, *, status: str, binding_id: str | None, outcome: str,
                 now: float, state: str = "done", error: str | None = None) -> Operation: ...

    def reschedule(self, op: Operation, owner: str, *, next_attempt_at: float, error: str, now: float,
                   count_attempt: bool = True, phase: str | None = None, alert_at: int | None = None,
                   in_doubt_until: float | None = None) -> tuple[Operation, dict[str, Any] | None]: ...

    def release(self, op: Operation, owner: str, *, now: float, in_doubt_until: float) -> None: ...

    def fence_sweep(self, op: Operation, owner: str, *, version: int, now: float) -> bool: ...

    def finish_sweep(self, op: Operation, owner: str, *, outcome: str, deleted: list[str], now: float) -> Operation: ...

    def operation(self, op_id: str) -> Operation: ...

    def operations(self, state: str | None = None, limit: int = 1000, after: int = 0) -> list[Operation]: ...

    def count_operations(self, state: str | None = None) -> int: ...

    def counts(self) -> dict[str, int]: ...


class TableQueue(Protocol):
    """Finding due work by looking at the operations table (the queue in the database, both backends)."""

    def due(self, now: float, limit: int) -> list[str]: ...

    def next_wakeup(self) -> float | None: ...


class AlertRecords(Protocol):
    """Alert rows (one per operation, written by OperationLedger) and their delivery to the sinks."""

    def raise_alert(self, op: Operation, error: str, *, now: float) -> dict[str, Any] | None: ...

    def alerts(self, after: int = 0, limit: int = -1) -> list[dict[str, Any]]: ...

    def count_alerts(self) -> int: ...

    def undelivered_alerts(self) -> list[dict[str, Any]]: ...

    def claim_undelivered_alerts(self, owner: str, *, now: float, lease: float) -> list[dict[str, Any]]: ...

    def mark_delivered(self, alert_seq: int) -> None: ...


class Outbox(Protocol):
    """Messages for a broker, written in the same transaction as the change that needs them.

    With `outbox_enabled`, begin / claim / reschedule / release and the sweep queued by complete each add
    a 'run' row for their operation, due when it next becomes claimable (for a claim: when its lease runs
    out, a watchdog should the holder die). A relay takes rows for a lease, publishes them, and deletes
    them once the broker confirmed; a relay that died in between leaves rows taken again later, so a
    message may be published twice, which the consumer's `claim` makes harmless. `fill_outbox` writes a
    message for work queued while the outbox was off (an upgraded database, a move to a broker).
    """

    outbox_enabled: bool

    def claim_outbox(self, relay: str, *, now: float, lease: float, limit: int) -> list[dict[str, Any]]: ...

    def delete_outbox(self, seqs: list[int]) -> None: ...

    def count_outbox(self) -> int: ...

    def next_outbox_at(self) -> float | None: ...

    def fill_outbox(self, *, now: float) -> int: ...


class OperationStore(NumberState, OperationLedger, TableQueue, AlertRecords, Outbox, Protocol):
    """Everything the core keeps in its database; store.Store (SQLite) and store_pg.PgStore (PostgreSQL)."""


def is_postgres_url(target: str | Path | None) -> bool:
    return isinstance(target, str) and urlsplit(target).scheme in POSTGRES_SCHEMES


def sqlite_path(target: str) -> str:
    """The file a `sqlite:///...` URL names (SQLAlchemy's form: three slashes and a relative path, four and an
    absolute one); a value without a scheme is already a path. Raises ValueError for anything else."""
    if "://" not in target:
        return target
    scheme, _, rest = target.partition("://")
    if scheme != "sqlite":
        known = ", ".join(["sqlite", *POSTGRES_SCHEMES])
        raise ValueError(f"unknown database URL scheme {scheme!r} in {target!r}; known: {known} (or a bare file path)")
    if not rest.startswith("/") or rest == "/":
        raise ValueError(f"{target!r}: a SQLite URL names a file, e.g. sqlite:///core.db or sqlite:////var/lib/core.db")
    return rest[1:]


def postgres_driver_problem() -> str | None:
    """Why a postgresql URL cannot be opened in this environment (None: the driver is installed)."""
    if importlib.util.find_spec("psycopg") is None:
        return f"a postgresql:// database needs the psycopg driver; {POSTGRES_EXTRA_HINT}"
    return None


def redacted(target: str | Path | None) -> str:
    """The database as it may be printed: a URL's password replaced by ***."""
    if target is None:
        return ":memory:"
    text = str(target)
    parts = urlsplit(text)
    if parts.password is None:
        return text
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def open_store(target: str | Path | None, *, outbox: bool = False) -> OperationStore:
    """The store `target` names: None (in-memory SQLite), a file path, `sqlite:///path`, or `postgresql://...`.

    `outbox`: write the broker's messages to the outbox table with every change that needs one (see Outbox)."""
    store: OperationStore
    if is_postgres_url(target):
        problem = postgres_driver_problem()
        if problem is not None:
            raise StoreUnavailable(problem)
        from .store_pg import PgStore  # psycopg is imported here and nowhere on the SQLite path

        store = PgStore.open(str(target))
    else:
        from .store import Store

        store = Store.open(sqlite_path(target) if isinstance(target, str) else target)
    store.outbox_enabled = outbox
    return store
