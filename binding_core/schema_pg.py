"""The core's PostgreSQL schema: the same tables and migrations as schema.py, in PostgreSQL's SQL.

Each migration runs once, in its own transaction, and is recorded in `schema_migrations` by name
(the SQLite side records the same names in sqlite-utils' `_sqlite_migrations`). Replicas starting
together on an empty database take an advisory lock, so exactly one applies each migration.
Times are epoch seconds (double precision), as on SQLite, because the core's clock may be virtual.
"""

from __future__ import annotations

from typing import Any

# pg_advisory_xact_lock key: held while checking and applying migrations.
MIGRATION_LOCK = 0x7073746E73696D  # "pstnsim"

MIGRATIONS: list[tuple[str, str]] = [
    (
        "m001_initial",
        """
        CREATE TABLE numbers (
            x TEXT PRIMARY KEY,
            xb_status TEXT NOT NULL DEFAULT 'NOT_BIND',
            xb_b TEXT,
            xb_binding_id TEXT,
            xb_version INTEGER NOT NULL DEFAULT 0,
            xb_operation_id TEXT,
            axb_status TEXT NOT NULL DEFAULT 'NOT_BIND',
            axb_a TEXT,
            axb_b TEXT,
            axb_binding_id TEXT,
            axb_version INTEGER NOT NULL DEFAULT 0,
            axb_operation_id TEXT,
            updated_at DOUBLE PRECISION
        );
        CREATE TABLE transitions (
            seq BIGSERIAL PRIMARY KEY,
            x TEXT, mode TEXT, from_status TEXT, to_status TEXT, version INTEGER, operation_id TEXT,
            at DOUBLE PRECISION
        );
        CREATE INDEX idx_transitions_x_mode_seq ON transitions (x, mode, seq);
        -- Operation ids are op_<seq>; the sequence hands out seq before the row is written.
        CREATE SEQUENCE operation_seq;
        CREATE TABLE operations (
            seq BIGINT PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            x TEXT NOT NULL,
            mode TEXT NOT NULL,
            kind TEXT NOT NULL,
            a TEXT,
            b TEXT,
            binding_id TEXT,
            path TEXT,
            phase TEXT NOT NULL DEFAULT 'call',
            state TEXT NOT NULL,
            version INTEGER,
            attempts INTEGER NOT NULL DEFAULT 0,
            claims INTEGER NOT NULL DEFAULT 0,
            next_attempt_at DOUBLE PRECISION,
            lease_owner TEXT,
            lease_until DOUBLE PRECISION,
            outcome TEXT,
            last_error TEXT,
            alerted INTEGER NOT NULL DEFAULT 0,
            created_at DOUBLE PRECISION,
            updated_at DOUBLE PRECISION,
            finished_at DOUBLE PRECISION
        );
        CREATE INDEX idx_operations_state_next_attempt_at ON operations (state, next_attempt_at);
        CREATE TABLE alerts (
            seq BIGSERIAL PRIMARY KEY,
            operation_id TEXT UNIQUE,
            x TEXT, mode TEXT, attempts INTEGER, last_error TEXT, at DOUBLE PRECISION,
            delivered INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
        """,
    ),
    (
        "m002_in_doubt",
        """
        ALTER TABLE operations ADD COLUMN in_doubt_until DOUBLE PRECISION;
        ALTER TABLE operations ADD COLUMN origin TEXT;
        CREATE INDEX idx_operations_x_mode_kind_state ON operations (x, mode, kind, state);
        """,
    ),
    (
        "m003_outbox",
        # The outbox (see schema.py's m003_outbox) and the alerts' delivery lease.
        """
        CREATE TABLE outbox (
            seq BIGSERIAL PRIMARY KEY,
            op_id TEXT NOT NULL,
            deliver_at DOUBLE PRECISION NOT NULL,
            kind TEXT NOT NULL,
            relay_owner TEXT,
            relay_until DOUBLE PRECISION,
            created_at DOUBLE PRECISION NOT NULL
        );
        CREATE INDEX idx_outbox_deliver_at ON outbox (deliver_at);
        ALTER TABLE alerts ADD COLUMN delivering_owner TEXT;
        ALTER TABLE alerts ADD COLUMN delivering_until DOUBLE PRECISION;
        """,
    ),
]


def apply(conn: Any, *, stop_before: str | None = None) -> list[str]:
    """Apply the migrations `conn` (a psycopg connection in autocommit mode) has not seen; their names.

    `stop_before` (a migration's name) leaves that one and the later ones pending: how a test makes the
    database an older release would have left, to check the upgrade keeps its data."""
    applied: list[str] = []
    with conn.transaction():
        # A migration may take long on a big table, and the other replicas starting meanwhile wait for it.
        conn.execute("SET LOCAL statement_timeout = 0")
        conn.execute("SET LOCAL lock_timeout = '120s'")
        conn.execute("SELECT pg_advisory_xact_lock(%s)", [MIGRATION_LOCK])
        conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ "
                     "NOT NULL DEFAULT now())")
        done = {row["name"] for row in conn.execute("SELECT name FROM schema_migrations").fetchall()}
        for name, sql in MIGRATIONS:
            if name == stop_before:
                break
            if name in done:
                continue
            with conn.transaction():
                conn.execute(sql)
                conn.execute("INSERT INTO schema_migrations (name) VALUES (%s)", [name])
            applied.append(name)
    return applied
