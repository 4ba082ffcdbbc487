"""The core's SQLite schema, as sqlite-utils migrations (applied in order, each once, in a transaction)."""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("binding_core")


@migrations()
def m001_initial(db: Database) -> None:
    # Per virtual number X: one status, version and provider binding per mode (separate optimistic locks).
    db["numbers"].create(
        {
            "x": str,
            "xb_status": str,
            "xb_b": str,
            "xb_binding_id": str,
            "xb_version": int,
            "xb_operation_id": str,
            "axb_status": str,
            "axb_a": str,
            "axb_b": str,
            "axb_binding_id": str,
            "axb_version": int,
            "axb_operation_id": str,
            "updated_at": float,
        },
        pk="x",
        not_null={"xb_status", "xb_version", "axb_status", "axb_version"},
        defaults={"xb_status": "NOT_BIND", "xb_version": 0, "axb_status": "NOT_BIND", "axb_version": 0},
    )
    # The history the harness checks: one row per status change.
    db["transitions"].create(
        {
            "seq": int,
            "x": str,
            "mode": str,
            "from_status": str,
            "to_status": str,
            "version": int,
            "operation_id": str,
            "at": float,
        },
        pk="seq",
    )
    db["transitions"].create_index(["x", "mode", "seq"])
    # The durable retry queue.
    db["operations"].create(
        {
            "seq": int,
            "id": str,
            "x": str,
            "mode": str,
            "kind": str,  # bind | unbind | sweep (m002)
            "a": str,
            "b": str,
            "binding_id": str,  # unbind: the provider binding to delete; bind: the one made or adopted
            "path": str,  # async | sync
            "phase": str,  # call: reach the goal; settle: find out what the provider holds; sweep: look | delete
            "state": str,  # pending | running | done | dead
            "version": int,  # the mode's version while this operation holds OPERATION
            "attempts": int,  # failed provider attempts
            "claims": int,  # times claimed: > 1 means an earlier attempt may have reached the provider
            "next_attempt_at": float,
            "lease_owner": str,
            "lease_until": float,
            "outcome": str,  # bound | unbound | refused | settled
            "last_error": str,
            "alerted": int,
            "created_at": float,
            "updated_at": float,
            "finished_at": float,
        },
        pk="seq",
        not_null={"id", "x", "mode", "kind", "state", "phase", "attempts", "claims", "alerted"},
        defaults={"attempts": 0, "claims": 0, "alerted": 0, "phase": "call"},
    )
    db["operations"].create_index(["id"], unique=True)
    db["operations"].create_index(["state", "next_attempt_at"])
    db["alerts"].create(
        {
            "seq": int,
            "operation_id": str,
            "x": str,
            "mode": str,
            "attempts": int,
            "last_error": str,
            "at": float,
            "delivered": int,
        },
        pk="seq",
        defaults={"delivered": 0},
    )
    db["alerts"].create_index(["operation_id"], unique=True)
    db["meta"].create({"key": str, "value": str}, pk="key")


@migrations()
def m002_in_doubt(db: Database) -> None:
    # Until when a call of this operation that got no answer may still take effect at the provider.
    db["operations"].add_column("in_doubt_until", float)
    # kind = 'sweep': the bind operation whose possibly-late calls this sweep cleans up after.
    db["operations"].add_column("origin", str)
    db["operations"].create_index(["x", "mode", "kind", "state"])


@migrations()
def m003_outbox(db: Database) -> None:
    # Messages for a broker, written in the same transaction as the change that needs them (the outbox):
    # 'run' op_id at deliver_at. A relay takes rows for a while (relay_owner until relay_until), publishes
    # them and deletes them once the broker confirmed; a row whose relay lease ran out is taken again.
    # AUTOINCREMENT: a seq is never handed out twice, even after the newest row was deleted.
    db.execute(
        """CREATE TABLE outbox (
               seq INTEGER PRIMARY KEY AUTOINCREMENT,
               op_id TEXT NOT NULL,
               deliver_at FLOAT NOT NULL,
               kind TEXT NOT NULL,
               relay_owner TEXT,
               relay_until FLOAT,
               created_at FLOAT NOT NULL
           )"""
    )
    db["outbox"].create_index(["deliver_at"])
    # Which replica is posting an undelivered alert to the sinks, and until when (a delivery lease).
    db["alerts"].add_column("delivering_owner", str)
    db["alerts"].add_column("delivering_until", float)
