"""Realistic defects planted in the bundled core, to measure what the harness catches.

Each bug is a patched copy of one core function (the smallest change that makes
the mistake a real team makes) applied with `unittest.mock.patch.object`, and
names the default-suite scenario expected to catch it. Used by
tests/planted_bugs and benchmarks/harness_power.py.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator
from unittest import mock

from binding_core import gray as core_gray
from binding_core import queue as core_queue
from binding_core import service as core_service
from binding_core import store as core_store
from binding_core import worker as core_worker
from binding_core.provider import volcengine as core_volcengine
from binding_core.provider.base import CONFLICT_CODES, NOT_FOUND_CODES, Ok, Refused, Unknown
from binding_core.queue import RetryDecision
from binding_core.records import Operation, StateConflict
from binding_core.transitions import BIND, GOAL_STATUS, NOT_BIND, OPERATION, REQUIRED_STATUS

EXAMPLES = Path(__file__).resolve().parents[2] / "scenarios" / "examples"
_PREFIX = {"XB": "xb_", "AXB": "axb_"}


@dataclass(frozen=True)
class PlantedBug:
    name: str
    description: str
    scenario: Path  # the default-suite scenario expected to catch it
    patches: Callable[[], list[Any]]  # mock.patch.object(...) objects, not yet started
    dialect: str = "native"  # the wire it shows on (a late create is absorbed by native idempotency keys)

    @contextlib.contextmanager
    def applied(self) -> Iterator[None]:
        with contextlib.ExitStack() as stack:
            for patcher in self.patches():
                stack.enter_context(patcher)
            yield


# ---- store: accepting an operation ------------------------------------------------


def _begin_unlocked(self: core_store.Store, x: str, mode: str, kind: str, *, a: str | None = None,
                    b: str | None = None, path: str = "async", now: float, owner: str | None = None,
                    lease: float = 0.0, keep_status: bool = False) -> Operation:
    """Store.begin as a careless team writes it: no compare-and-set on the version (and, with
    `keep_status`, no OPERATION state: the row keeps its status until the provider answers)."""
    p = _PREFIX[mode]
    with self.db.atomic():
        self.db.execute("INSERT OR IGNORE INTO numbers (x, updated_at) VALUES (?, ?)", [x, now])
        row = self._one("SELECT * FROM numbers WHERE x = ?", [x])
        status, version = row[p + "status"], row[p + "version"]
        seq = self._one("SELECT COALESCE(MAX(seq), 0) + 1 AS seq FROM operations")["seq"]
        op_id = f"op_{seq:08d}"
        if kind == "bind":
            a_new, b_new, binding_id = (a if mode == "AXB" else None), b, None
        else:
            a_new, b_new, binding_id = row.get(p + "a"), row[p + "b"], row[p + "binding_id"]
        new_status = status if keep_status else OPERATION
        new_version = version if keep_status else version + 1
        sets = [f"{p}status = ?", f"{p}version = ?", f"{p}operation_id = ?", f"{p}b = ?", "updated_at = ?"]
        values: list[Any] = [new_status, new_version, op_id, b_new if not keep_status else row[p + "b"], now]
        if mode == "AXB" and not keep_status:
            sets.append("axb_a = ?")
            values.append(a_new)
        self.db.execute(f"UPDATE numbers SET {', '.join(sets)} WHERE x = ?", [*values, x])  # BUG: no version CAS
        if not keep_status:
            self.db.execute(
                "INSERT INTO transitions (x, mode, from_status, to_status, version, operation_id, at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [x, mode, status, OPERATION, new_version, op_id, now],
            )
        claimed = owner is not None
        self.db.execute(
            """INSERT INTO operations (seq, id, x, mode, kind, a, b, binding_id, path, phase, state, version,
               attempts, claims, next_attempt_at, lease_owner, lease_until, alerted, created_at, updated_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'call', ?, ?, 0, ?, ?, ?, ?, 0, ?, ?)""",
            [seq, op_id, x, mode, kind, a_new, b_new, binding_id, path, "running" if claimed else "pending",
             new_version, 1 if claimed else 0, now, owner, now + lease if claimed else None, now, now],
        )
    return self.operation(op_id)


async def _request_read_then_write(self: core_service.BindingService, x: str, mode: str, kind: str, *,
                                   a: str | None = None, b: str | None = None) -> Any:
    """Read the status, ask the provider whether X is free, then write without the version check."""
    view = self.store.view(x)[mode.lower()]
    if view["status"] != REQUIRED_STATUS[kind]:
        raise StateConflict(self.store.view(x), f"{mode} on {x} is {view['status']}")
    await self.provider.find_bindings(mode, x)  # the pre-check: an await between the read and the write
    path = "async" if self.gray.is_gray(x) else "sync"
    op = _begin_unlocked(self.store, x, mode, kind, a=a, b=b, path=path, now=self.clock.now(),
                         owner=self.worker.owner, lease=self.worker.lease)
    if path == "async":
        self.worker.run_now(op)
        return core_service.Accepted(op)
    return await self._old_path(op)


def _begin_without_operation(self: core_store.Store, *args: Any, **kwargs: Any) -> Operation:
    view = self.view(args[0])[args[1].lower()]
    if view["status"] != REQUIRED_STATUS[args[2]]:
        raise StateConflict(self.view(args[0]), "wrong status")
    return _begin_unlocked(self, *args, keep_status=True, **kwargs)


def _complete_without_operation(self: core_store.Store, op: Operation, owner: str, *, status: str,
                                binding_id: str | None, outcome: str, now: float, state: str = "done",
                                error: str | None = None) -> Operation:
    """Settle without OPERATION: write the new status over whatever the row holds."""
    p = _PREFIX[op.mode]
    with self.db.atomic():
        self.db.execute(
            """UPDATE operations SET state = ?, outcome = ?, binding_id = COALESCE(?, binding_id),
               last_error = COALESCE(?, last_error), lease_owner = NULL, lease_until = NULL, finished_at = ?,
               updated_at = ? WHERE id = ?""",
            [state, outcome, binding_id, error, now, now, op.id],
        )
        row = self._one("SELECT * FROM numbers WHERE x = ?", [op.x])
        bound = status == BIND
        self.db.execute(
            f"""UPDATE numbers SET {p}status = ?, {p}version = {p}version + 1, {p}binding_id = ?,
                {p}b = ?, {p}operation_id = NULL {', axb_a = ?' if op.mode == 'AXB' else ''} WHERE x = ?""",
            [status, binding_id if bound else None, op.b if bound else None,
             *([op.a if bound else None] if op.mode == "AXB" else []), op.x],
        )
        if row[p + "status"] != status:
            self.db.execute(
                "INSERT INTO transitions (x, mode, from_status, to_status, version, operation_id, at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [op.x, op.mode, row[p + "status"], status, row[p + "version"] + 1, op.id, now],
            )
    return self.operation(op.id)


# ---- worker: one attempt --------------------------------------------------------------


async def _bind_blind_resend(self: core_worker.Worker, op: Operation) -> None:
    """Re-send a bind after an unknown outcome without asking the provider, with a fresh request id."""
    outcome = await self.provider.create_binding(op.mode, op.x, op.b or "", op.a,
                                                 idempotency_key=self.key(op, f"-try{op.claims}"))
    if isinstance(outcome, Ok):
        return await self._commit(op, BIND, outcome.value.binding_id, "bound")
    if isinstance(outcome, Refused):
        return await self._commit(op, NOT_BIND, None, "refused", error=outcome.describe())
    await self._failed(op, outcome)


_original_bind = core_worker.Worker._bind


async def _bind_timeout_is_failure(self: core_worker.Worker, op: Operation) -> None:
    """A timed-out create is recorded as a failure: the row goes back to NOT_BIND."""
    maybe_applied = op.claims > 1
    if maybe_applied:
        return await _original_bind(self, op)
    outcome = await self.provider.create_binding(op.mode, op.x, op.b or "", op.a, idempotency_key=self.key(op))
    if isinstance(outcome, Ok):
        return await self._commit(op, BIND, outcome.value.binding_id, "bound")
    if isinstance(outcome, Refused) or (isinstance(outcome, Unknown) and outcome.timed_out):
        return await self._commit(op, NOT_BIND, None, "refused", error=outcome.describe())
    await self._failed(op, outcome)


async def _unbind_not_found_is_error(self: core_worker.Worker, op: Operation) -> None:
    """'Binding not found' on delete is treated as a refusal: the row goes back to BIND."""
    outcome = await self.provider.delete_binding(op.binding_id or "", idempotency_key=self.key(op))
    if isinstance(outcome, Ok):
        return await self._commit(op, NOT_BIND, None, "unbound")
    if isinstance(outcome, Refused):
        return await self._commit(op, BIND, op.binding_id, "refused", error=outcome.describe())
    await self._failed(op, outcome)


async def _commit_in_two_steps(self: core_worker.Worker, op: Operation, status: str, binding_id: str | None,
                               outcome: str, *, state: str = "done", error: str | None = None) -> None:
    """The status is committed first; the operation is closed after a confirming read, in its own transaction."""
    store = self.store
    p = _PREFIX[op.mode]
    now = self.clock.now()
    bound = status == BIND
    with store.db.atomic():
        store.db.execute(
            f"""UPDATE numbers SET {p}status = ?, {p}version = {p}version + 1, {p}operation_id = NULL,
                {p}binding_id = ?, {p}b = CASE WHEN ? THEN {p}b ELSE NULL END
                {', axb_a = CASE WHEN ? THEN axb_a ELSE NULL END' if op.mode == 'AXB' else ''}
                WHERE x = ? AND {p}status = ? AND {p}version = ? AND {p}operation_id = ?""",
            [status, binding_id if bound else None, bound, *([bound] if op.mode == "AXB" else []),
             op.x, OPERATION, op.version, op.id],
        )
        store._transition(op.x, op.mode, OPERATION, status, op.version + 1, op.id, now)
    await self.provider.find_bindings(op.mode, op.x)  # "confirm" before closing the operation
    with store.db.atomic():
        store.db.execute(
            """UPDATE operations SET state = ?, outcome = ?, binding_id = COALESCE(?, binding_id),
               last_error = COALESCE(?, last_error), lease_owner = NULL, lease_until = NULL, finished_at = ?,
               updated_at = ? WHERE id = ? AND state = 'running' AND lease_owner = ?""",
            [state, outcome, binding_id, error, self.clock.now(), self.clock.now(), op.id, self.owner],
        )


def _due_pending_only(self: core_store.Store, now: float, limit: int) -> list[str]:
    """Recovery looks only at pending rows: an operation the dead process had claimed is never taken again."""
    rows = self.db.query(
        "SELECT id FROM operations WHERE state = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at, seq LIMIT ?",
        [now, limit],
    )
    return [row["id"] for row in rows]


def _next_wakeup_pending_only(self: core_store.Store) -> float | None:
    row = self._one("SELECT MIN(next_attempt_at) AS t FROM operations WHERE state = 'pending'")
    return row["t"] if row else None


# ---- retry policy -----------------------------------------------------------------------


def _alert_at_off_by_one(self: core_queue.RetryPolicy) -> int:
    return min(self.settings.alert_threshold, self.settings.max_attempts) + 1  # BUG: '>' where '>=' was meant


def _after_failure_uncapped(self: core_queue.RetryPolicy, failed_attempts: int) -> RetryDecision:
    return RetryDecision(retry=True, delay=self.backoff(failed_attempts), alert=failed_attempts >= self.alert_at)


# ---- worker: calls that land late ----------------------------------------------------


def _no_in_doubt_window() -> Any:
    """Trust a query right after a lost call: the window is 0 whatever the configuration says."""
    return mock.patch.object(core_worker.Worker, "in_doubt_window", property(lambda self: 0.0, lambda self, v: None),
                             create=True)


def _queue_no_sweep(self: core_store.Store, origin_id: str, now: float) -> None:
    """A bind that finished while a lost call could still land leaves nothing behind to clean up after it."""


# ---- provider client: a vendor SDK trusted ------------------------------------------------

_original_volc_create = core_volcengine.VolcengineClient.create_binding
# An Unknown the client made from a JSON `ResponseMetadata.Error` (throttled, 5xx with the gateway's envelope):
# the vendor SDK returns that body as a dict instead of raising.
_VMS_ERROR_REASON = re.compile(r"^\w+: (HTTP \d{3} [A-Za-z.]+|FlowLimitExceeded|RequestLimitExceeded): ")


async def _create_through_the_sdk(self: core_volcengine.VolcengineClient, mode: str, x: str, b: str,
                                  a: str | None = None, *, idempotency_key: str) -> Any:
    """Binding as `VmsService.bind_axb` / `bind_axn` do it, and trusting what they return.

    The SDK's `@retry(tries=2, delay=0)` re-sends a bind at once when the call raised (a timeout, a reset, a
    body that is not JSON) -- after a ghost success that second bind collides with the first one's binding
    -- and hands back any JSON answer, errors included, as a dict the team reads as "not bound"."""
    for _attempt in (1, 2):  # BUG: the SDK's own immediate resend of a bind whose outcome is unknown
        outcome = await _original_volc_create(self, mode, x, b, a, idempotency_key=idempotency_key)
        raised = isinstance(outcome, Unknown) and not _VMS_ERROR_REASON.match(outcome.reason)
        if not raised:
            break
    if isinstance(outcome, Unknown) and not raised:
        return Refused("VMS_ERROR", outcome.reason, 500)  # BUG: the error dict trusted as a definite failure
    if isinstance(outcome, Refused) and outcome.code in CONFLICT_CODES:
        return Refused("VMS_BindConflict", outcome.message, outcome.status)  # BUG: as the dict says: not bound
    return outcome


def _p(target: Any, name: str, new: Any) -> Any:
    return mock.patch.object(target, name, new)


BUGS: tuple[PlantedBug, ...] = (
    PlantedBug("no_version_check", "status read, provider pre-check, then written without the version compare-and-set",
               EXAMPLES / "xb_storm_5xx.toml",
               lambda: [_p(core_service.BindingService, "request", _request_read_then_write)]),
    PlantedBug("no_operation_state", "no OPERATION status: the row keeps its old status while the call is in flight",
               EXAMPLES / "xb_axb_same_x_timeouts.toml",
               lambda: [_p(core_store.Store, "begin", _begin_without_operation),
                        _p(core_store.Store, "complete", _complete_without_operation)]),
    PlantedBug("blind_resend", "a bind is re-sent after an unknown outcome without asking the provider",
               EXAMPLES / "axb_ghost_success.toml",
               lambda: [_p(core_worker.Worker, "_bind", _bind_blind_resend)]),
    PlantedBug("timeout_as_failure", "a timed-out create is recorded as a failure (row back to NOT_BIND)",
               EXAMPLES / "brownout_429_latency.toml",
               lambda: [_p(core_worker.Worker, "_bind", _bind_timeout_is_failure)]),
    PlantedBug("unbind_not_found_error", "an unbind answered 'not found' is treated as an error (row back to BIND)",
               EXAMPLES / "axb_ghost_success.toml",
               lambda: [_p(core_worker.Worker, "_unbind", _unbind_not_found_is_error)]),
    PlantedBug("alert_off_by_one", "the alert fires one attempt after the threshold",
               EXAMPLES / "xb_storm_5xx.toml",
               lambda: [_p(core_queue.RetryPolicy, "alert_at", property(_alert_at_off_by_one))]),
    PlantedBug("status_outside_transaction", "the status change and the operation's completion commit separately",
               EXAMPLES / "crash_restart_loop.toml",
               lambda: [_p(core_worker.Worker, "_commit", _commit_in_two_steps)]),
    PlantedBug("recovery_skips_inflight", "after a restart, operations the dead process had claimed are never resumed",
               EXAMPLES / "crash_restart_loop.toml",
               lambda: [_p(core_store.Store, "due", _due_pending_only),
                        _p(core_store.Store, "next_wakeup", _next_wakeup_pending_only)]),
    PlantedBug("retries_without_cap", "failed attempts are retried forever (no max_attempts)",
               EXAMPLES / "xb_storm_5xx.toml",
               lambda: [_p(core_queue.RetryPolicy, "after_failure", _after_failure_uncapped)]),
    PlantedBug("trusts_query_after_lost_call", "a dead operation is settled by a query at once, while its lost "
               "create may still land", EXAMPLES / "late_landing.toml", lambda: [_no_in_doubt_window()]),
    PlantedBug("no_sweep", "a bind bound on a retry leaves no sweep: its lost first create lands after the unbind",
               EXAMPLES / "sweep_race.toml", lambda: [_p(core_store.Store, "_queue_sweep", _queue_no_sweep)],
               dialect="aliyun"),
    PlantedBug("trusts_sdk_retrying_bind", "binds through the Volcengine SDK's @retry(tries=2) bind and trusts its "
               "answer: a lost reply is re-sent at once, and an error dict (or the resend's conflict) read as not bound",
               EXAMPLES / "axb_ghost_success.toml",
               lambda: [_p(core_volcengine.VolcengineClient, "create_binding", _create_through_the_sdk)],
               dialect="volcengine"),
)

# ---- issue 13, alerts, gray routing, attempts across restarts, the old path --------------------------

_original_reschedule = core_store.Store.reschedule


def _reschedule_alerting_again(self: core_store.Store, op: Operation, owner: str, **kwargs: Any) -> Any:
    """Every failed attempt at or past the threshold hands the operation's alert to the sinks again (the row
    stays one per operation: only the deliveries show it)."""
    current, alert = _original_reschedule(self, op, owner, **kwargs)
    alert_at = kwargs.get("alert_at")
    if alert is None and alert_at is not None and current.alerted and current.attempts >= alert_at:
        alert = self._one("SELECT * FROM alerts WHERE operation_id = ?", [op.id])  # BUG: "still failing, tell again"
    return current, alert


_original_is_gray = core_gray.GrayRouter.is_gray


def _is_gray_decided_once(self: core_gray.GrayRouter, x: str) -> bool:
    """A number's path is decided the first time it is seen and cached for the process's life."""
    decided = self.__dict__.setdefault("_decided", {})
    if x not in decided:
        decided[x] = _original_is_gray(self, x)
    return decided[x]  # BUG: later gray switches never reach numbers already seen


_original_worker_start = core_worker.Worker.start


async def _start_forgetting_attempts(self: core_worker.Worker) -> None:
    """The attempt count lives in the process: a restarted core starts every open operation from zero."""
    self.store.db.execute("UPDATE operations SET attempts = 0 WHERE state IN ('pending', 'running')")  # BUG
    await _original_worker_start(self)


_original_old_path = core_service.BindingService._old_path


async def _old_path_rolls_back(self: core_service.BindingService, op: Operation) -> Any:
    """The old synchronous path reads any failed create (a 5xx, a reset, a timeout) as "not bound" and rolls the
    row back to NOT_BIND at once, though the provider may have applied it (a ghost success, a late landing)."""
    if op.kind != "bind":
        return await _original_old_path(self, op)
    worker = self.worker
    outcome = await self.provider.create_binding(op.mode, op.x, op.b or "", op.a, idempotency_key=worker.key(op))
    worker.ensure_running()
    now = self.clock.now()
    if isinstance(outcome, Ok):
        done = self.store.complete(op, worker.owner, status=BIND, binding_id=outcome.value.binding_id,
                                   outcome="bound", now=now)
        return core_service.Finished(done, self.store.view(op.x))
    error = outcome.describe()
    rolled_back = self.store.complete(op, worker.owner, status=NOT_BIND, binding_id=None, outcome="refused",
                                      error=error, now=now)  # BUG: an unknown outcome taken for a refusal
    return core_service.Unsettled(rolled_back, error, 502)


BUGS += (
    PlantedBug("alerts_resent_past_threshold", "every failed attempt past the alert threshold tells the sinks again",
               EXAMPLES / "outage_across_crashes.toml",
               lambda: [_p(core_store.Store, "reschedule", _reschedule_alerting_again)]),
    PlantedBug("gray_decided_once", "a number's path (old sync / new async) is decided once and cached: later gray "
               "switches are ignored", EXAMPLES / "old_path_ghost_success.toml",
               lambda: [_p(core_gray.GrayRouter, "is_gray", _is_gray_decided_once)]),
    PlantedBug("attempts_reset_on_restart", "the attempt counter starts from zero after a restart: an operation that "
               "keeps failing gets max_attempts more calls per crash", EXAMPLES / "outage_across_crashes.toml",
               lambda: [_p(core_worker.Worker, "start", _start_forgetting_attempts)]),
    PlantedBug("old_path_rollback", "the old synchronous path rolls a bind back to NOT_BIND on any failed create, a "
               "ghost success or a late landing included", EXAMPLES / "old_path_ghost_success.toml",
               lambda: [_p(core_service.BindingService, "_old_path", _old_path_rolls_back)]),
)

# ---- issue 13, the sweep's race --------------------------------------------------------------------------


async def _sweep_without_recheck(self: core_worker.Worker, op: Operation) -> None:
    """Worker._sweep as a team writes it first: look the bind's numbers up, delete every binding the row did not
    hold when the sweep looked. No re-check that X was not bound again meanwhile (no fence on the row's version):
    a re-bind of the same numbers between the lookup and the delete adopts the binding the sweep then deletes."""
    if self._in_doubt(op):
        self._reschedule(op, op.in_doubt_until or 0.0, op.last_error or "waiting for late calls", count=False)
        return
    held = self.store.view(op.x)[op.mode.lower()]
    if held["status"] == OPERATION:
        self._reschedule(op, self.clock.now() + self.policy.settle_delay(op.claims), "waiting", count=False,
                         phase="look")
        return
    found = await self.provider.find_bindings(op.mode, op.x, op.b, op.a)
    if not isinstance(found, Ok):
        return await self._retry_later(op, found, "sweeping", phase="look")
    strays = [f.binding_id for f in found.value if f.binding_id != held["binding_id"]]
    for stray in strays:  # BUG: the row may have been bound again (to one of these) since `held` was read
        gone = await self.provider.delete_binding(stray, idempotency_key=self.key(op, f"-{stray}"))
        if not (isinstance(gone, Ok) or (isinstance(gone, Refused) and gone.code in NOT_FOUND_CODES)):
            return await self._retry_later(op, gone, f"deleting stray {stray}", phase="look")
    self.ensure_running()
    self.store.finish_sweep(op, self.owner, outcome="swept" if strays else "clean", deleted=strays,
                            now=self.clock.now())


BUGS += (
    PlantedBug("sweep_deletes_without_recheck", "a sweep deletes the strays its lookup found without checking that "
               "the number was not bound again meanwhile", EXAMPLES / "sweep_race.toml",
               lambda: [_p(core_worker.Worker, "_sweep", _sweep_without_recheck)], dialect="aliyun"),
)


# ---- breaker, backoff timing, refusals (checks: breaker_opens_after_threshold, retry_gaps_within_policy,
# no_spurious_refusal) ------------------------------------------------------------------------------------

from binding_core.provider import breaker as core_breaker  # noqa: E402


def _record_without_reset(self: core_breaker.CircuitBreaker, failed: bool) -> None:
    """A success closes the circuit but leaves the failure count as it was: failures add up across successes."""
    self._probe_in_flight = False
    if not failed:
        self.opened_at = None  # BUG: `self.failures = 0` forgotten
        return
    self.failures += 1
    if self.opened_at is not None or self.failures >= self.threshold:
        if self.opened_at is None:
            self.trips += 1
        self.opened_at = self.clock.now()


def _admit_without_probe(self: core_breaker.CircuitBreaker) -> bool:
    """Half-open never implemented: once open, the circuit admits nothing until a call succeeds (none can)."""
    return self.state == core_breaker.CLOSED  # BUG: no probe after the cool-down


def _backoff_uncapped(self: core_queue.RetryPolicy, failed_attempts: int) -> float:
    """Full jitter over base_delay * 2**(n-1), without the min() against max_delay."""
    return self.rng.uniform(0.0, self.settings.base_delay * 2 ** max(0, failed_attempts - 1))


_original_queue_sweep = core_store.Store._queue_sweep


def _queue_sweep_due_now(self: core_store.Store, origin_id: str, now: float) -> None:
    """The sweep is queued due at once, not when the bind's doubt ends: it looks before a late create can land."""
    _original_queue_sweep(self, origin_id, now)
    self.db.execute("UPDATE operations SET next_attempt_at = ? WHERE origin = ? AND kind = 'sweep' AND state = "
                    "'pending'", [now, origin_id])  # BUG: due now, not at the origin's in_doubt_until


_original_begin = core_store.Store.begin


def _begin_locks_the_number(self: core_store.Store, x: str, mode: str, kind: str, **kwargs: Any) -> Operation:
    """An AXB request is refused while the number's XB row is in OPERATION (the whole number treated as busy)."""
    if mode == "AXB" and self.view(x)["xb"]["status"] == OPERATION:  # BUG: XB's state decides an AXB request
        raise StateConflict(self.view(x), f"{x} is busy")
    return _original_begin(self, x, mode, kind, **kwargs)


BUGS += (
    PlantedBug("breaker_counts_scattered_failures", "the circuit breaker never resets its failure count on a "
               "success: scattered failures add up and open it early", EXAMPLES / "breaker_defaults.toml",
               lambda: [_p(core_breaker.CircuitBreaker, "record", _record_without_reset)]),
    PlantedBug("breaker_never_probes", "the circuit breaker never lets a probe through after its cool-down: once "
               "open it stays open", EXAMPLES / "breaker_defaults.toml",
               lambda: [_p(core_breaker.CircuitBreaker, "admit", _admit_without_probe)]),
    PlantedBug("backoff_ignores_cap", "the backoff grows as base_delay * 2**attempts without the max_delay cap",
               EXAMPLES / "backoff_cap.toml",
               lambda: [_p(core_queue.RetryPolicy, "backoff", _backoff_uncapped)]),
    PlantedBug("sweep_without_delay", "a sweep after a bind that finished in doubt is due at once, not when the "
               "doubt ends", EXAMPLES / "backoff_cap.toml",
               lambda: [_p(core_store.Store, "_queue_sweep", _queue_sweep_due_now)]),
    PlantedBug("axb_refused_by_xb_state", "an AXB request is refused (409) while the same number's XB row is in "
               "OPERATION", EXAMPLES / "xb_axb_same_x_timeouts.toml",
               lambda: [_p(core_store.Store, "begin", _begin_locks_the_number)]),
)

BY_NAME = {bug.name: bug for bug in BUGS}
# Silence "imported but unused" for names kept for readers of the patched copies.
_ = (CONFLICT_CODES, NOT_FOUND_CODES, GOAL_STATUS)
