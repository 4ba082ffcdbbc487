"""Defects that only show with several core replicas on one database, planted as patches of the bundled core.

Each is a mistake real teams make when a single-process queue grows into replicas: the code is correct while
one process owns every operation, and wrong once two can reach the same one. A cluster chaos run plants the
bug in every replica (replica_launcher.py applies the patches, then runs `pstnsim core`); the same scenario
passes on the bundled core. Every patch wraps the bundled function where it can, so the rest of its work
(the broker's outbox rows written with a claim, for example) is unchanged.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Callable, Iterator
from unittest import mock

from binding_core import store_pg as core_store_pg
from binding_core import worker as core_worker
from binding_core.records import Operation

_claim = core_store_pg.PgStore.claim
_due = core_store_pg.PgStore.due


@dataclass(frozen=True)
class ReplicaBug:
    name: str
    description: str
    # The checks a cluster run is expected to fail at least one of (it may fail others too).
    caught_by: tuple[str, ...]
    patches: Callable[[], list[Any]]  # mock.patch.object(...) objects, not yet started

    @contextlib.contextmanager
    def applied(self) -> Iterator[None]:
        with contextlib.ExitStack() as stack:
            for patcher in self.patches():
                stack.enter_context(patcher)
            yield


# ---- claims that are not exclusive -------------------------------------------------------------


def _take_over(store: core_store_pg.PgStore, op_id: str, now: float) -> None:
    """End whatever lease the operation has, so the bundled claim that follows takes it (as if it had expired)."""
    with store._atomic() as conn:
        conn.execute("UPDATE operations SET lease_until = %s WHERE id = %s AND state = 'running' AND lease_until > %s",
                     [now, op_id, now])


def _claim_ignoring_the_lease(self: core_store_pg.PgStore, op_id: str, owner: str, *, now: float, lease: float,
                              doubt_until: float | None = None) -> Operation | None:
    """Claim any operation that is not finished: 'running' is taken to mean 'was running when its process died',
    which is true while there is one process."""
    _take_over(self, op_id, now)
    return _claim(self, op_id, owner, now=now, lease=lease, doubt_until=doubt_until)


def _due_with_running(self: core_store_pg.PgStore, now: float, limit: int) -> list[str]:
    """Due work includes every running operation: after a restart the process picks up what it was doing."""
    due = _due(self, now, limit)
    rows = self._rows("SELECT id FROM operations WHERE state = 'running' AND next_attempt_at <= %s "
                      "ORDER BY next_attempt_at, seq LIMIT %s", [now, limit])
    return due + [r["id"] for r in rows if r["id"] not in due][: max(0, limit - len(due))]


def _claim_trusting_the_scan(self: core_store_pg.PgStore, op_id: str, owner: str, *, now: float, lease: float,
                             doubt_until: float | None = None) -> Operation | None:
    """Claim by id what the due-work scan just returned, without asking again whether it is still free: the scan
    said so a moment ago (and with one process nobody can have taken it since)."""
    row = self._one("SELECT state FROM operations WHERE id = %s", [op_id])
    if row is None or row["state"] in ("done", "dead"):
        return None
    _take_over(self, op_id, now)
    return _claim(self, op_id, owner, now=now, lease=lease, doubt_until=doubt_until)


# ---- recovery written for one process ------------------------------------------------------------------


_start = core_worker.Worker.start


async def _start_resetting_running(self: core_worker.Worker) -> None:
    """At start-up, every running operation is put back to pending "because whoever ran it died": true of the
    one process that just restarted, false of the other replicas' live claims."""
    with self.store._atomic() as conn:  # type: ignore[attr-defined]
        conn.execute("UPDATE operations SET state = 'pending', lease_owner = NULL, lease_until = NULL "
                     "WHERE state = 'running'")
    await _start(self)


# ---- a broker trusted to deliver each message once ------------------------------------------------------


_run_delivered = core_worker.Worker.run_delivered


async def _run_delivered_as_ours(self: core_worker.Worker, op_id: str) -> Operation | None:
    """A message the broker delivered is this consumer's to run, even if the operation is running: the broker
    hands a message to one consumer only, so whoever ran it before must have died (its own attempts in flight
    aside). Duplicates and redeliveries of a message another replica is still working on say otherwise."""
    current = self.store.operation(op_id)
    if current.state == "running" and op_id not in self._inflight:
        _take_over(self.store, op_id, self.clock.now())  # type: ignore[arg-type]
    return await _run_delivered(self, op_id)


REPLICA_BUGS: tuple[ReplicaBug, ...] = (
    ReplicaBug(
        "steal_live_claims",
        "the due-work scan lists running operations and a claim ignores the holder's live lease",
        ("one_holder_at_a_time",),
        lambda: [mock.patch.object(core_store_pg.PgStore, "claim", _claim_ignoring_the_lease),
                 mock.patch.object(core_store_pg.PgStore, "due", _due_with_running)],
    ),
    ReplicaBug(
        "claim_trusts_scan",
        "a claim updates the operation the scan returned without re-checking it is still free (no compare-and-set)",
        ("one_holder_at_a_time",),
        lambda: [mock.patch.object(core_store_pg.PgStore, "claim", _claim_trusting_the_scan)],
    ),
    ReplicaBug(
        "reset_running_on_start",
        "a replica starting up puts every running operation back to pending, the other replicas' live claims too",
        ("one_holder_at_a_time",),
        lambda: [mock.patch.object(core_worker.Worker, "start", _start_resetting_running)],
    ),
)

# Bugs of the core on a broker (`--broker`): they show only in runs whose replicas consume from RabbitMQ.
BROKER_BUGS: tuple[ReplicaBug, ...] = (
    ReplicaBug(
        "delivered_means_ours",
        "a consumer runs a delivered operation even while another replica holds it (duplicate or redelivered message)",
        # Two holders of one attempt: their calls overlap, and only one of them can count a failed call.
        ("one_holder_at_a_time", "failed_calls_counted"),
        lambda: [mock.patch.object(core_worker.Worker, "run_delivered", _run_delivered_as_ours)],
    ),
)

BY_NAME = {bug.name: bug for bug in (*REPLICA_BUGS, *BROKER_BUGS)}
