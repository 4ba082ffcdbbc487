"""The consumer of the operations queue: claim, call the provider, commit result and status in one transaction.

Correct by design, not by timing:
- a claim is a compare-and-set with a lease, so two processes never run one
  operation at once; an operation whose holder died is claimed again when its
  lease runs out (recovery at start-up is just the normal loop);
- before re-sending a bind that an earlier attempt may have applied (claimed
  more than once), the provider is asked and an existing binding is adopted;
  every attempt also carries an Idempotency-Key derived from the operation id;
- an unbind answered "not found" is done;
- a refusal of our credentials (AuthFailed: a wrong secret, key or app id) is
  an operator's problem, not an answer: it raises the operation's alert at once
  and the operation stays pending, retried with backoff without using up its
  attempts, until the provider accepts the core's calls again;
- a failed commit is a failed attempt: the next one asks the provider first;
- when attempts run out the operation is dead-lettered (one alert) and the row
  is settled to what the provider really holds, by query, retried until known;
- a call that got no answer (timeout, 5xx, reset, a crash or stop mid-call) may
  still take effect at the provider later, up to its request deadline: the
  operation is "in doubt" for `in_doubt_window` after it. A dead operation is
  settled only once the doubt has passed, and a bind that finished while in
  doubt leaves a sweep behind that deletes the strays a late call created.
All waiting is on the event loop's clock.

Where work comes from is the one thing that differs with a broker: without one the worker finds due
operations by scanning the table (`_find_due_work`); with one (binding_core.broker) the scan is off and
the broker's consumer hands over operation ids (`run_delivered`), acking only after the attempt's commit.
The attempt itself is the same code either way.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from typing import Any, Callable

from .alerts import AlertOutbox, AlertSink, alert_json
from .clock import Clock
from .provider.base import (
    CONFLICT_CODES, NOT_FOUND_CODES, AuthFailed, NotSent, Ok, Outcome, ProviderBinding, ProviderClient, Refused,
    Unknown,
)
from .queue import RetryPolicy
from .records import LostClaim, Operation
from .storage import STORE_ERRORS, OperationStore
from .transitions import BIND, NOT_BIND, OPERATION

log = logging.getLogger("binding_core.worker")

# Test-only: the process SIGKILLs itself when it reaches this point (see docs/core.md).
CRASHPOINT_ENV = "PSTNSIM_CORE_CRASHPOINT"
CRASHPOINTS = ("before_provider_call", "after_provider_response", "after_reschedule", "before_ack")


class Worker:
    def __init__(
        self,
        store: OperationStore,
        provider: ProviderClient,
        policy: RetryPolicy,
        clock: Clock,
        *,
        owner: str,
        lease: float,
        key_prefix: str,
        sinks: list[AlertSink],
        concurrency: int = 32,
        poll_interval: float = 5.0,
        in_doubt_window: float = 60.0,
        crashpoint: str | None = None,
        scan_table: bool = True,
    ) -> None:
        self.store = store
        self.provider = provider
        self.policy = policy
        self.clock = clock
        self.owner = owner
        self.lease = lease
        self.key_prefix = key_prefix
        self.sinks = sinks
        # Alerts go to every sink; a sink that failed is retried alone, with backoff, from the loop.
        self.outbox = AlertOutbox(sinks, self._mark_delivered)
        self._alert_task: asyncio.Task[None] | None = None
        self.concurrency = concurrency
        self.poll_interval = poll_interval
        self.in_doubt_window = in_doubt_window
        self.crashpoint = crashpoint if crashpoint is not None else os.environ.get(CRASHPOINT_ENV)
        self._inflight: dict[str, asyncio.Task[None]] = {}
        self._claimed: dict[str, Operation] = {}
        self._wake = asyncio.Event()
        self._changed = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        # Set on stop/abort. Python 3.11's wait_for can swallow a cancellation that races with its
        # inner future, so the loop and every write also check this flag: nothing is written after it.
        self._stopping = False
        # False when a broker delivers the work (its consumer calls run_delivered): no table scan then, and
        # alerts are claimed (claim_undelivered_alerts) so two replicas never post one at once.
        self.scan_table = scan_table
        # Called after every write that may have added an outbox row (the broker's relay wakes on it).
        self.after_write: Callable[[], None] = lambda: None
        self._posting: set[int] = set()  # alert seqs this process is posting (or retrying) right now
        self._alerts_claimed_at = float("-inf")  # loop time of the last claim_undelivered_alerts

    # ---- lifecycle -------------------------------------------------------

    async def start(self) -> None:
        if self.scan_table:
            for row in self.store.undelivered_alerts():
                await self._deliver(row)
        else:
            await self._claim_alerts()
        self._loop_task = asyncio.create_task(self._loop(), name="binding_core.worker")

    async def stop(self) -> None:
        """Graceful: cancel attempts in flight and hand their operations back to the queue at once."""
        claimed = list(self._claimed.values())  # taken first: a cancelled attempt forgets its claim as it ends
        await self._cancel_all()
        now = self.clock.now()
        for op in claimed:
            try:
                self.store.release(op, self.owner, now=now, in_doubt_until=now + self.in_doubt_window)
            except STORE_ERRORS as exc:
                log.error("could not release %s on stop (its lease will expire): %s", op.id, exc)
        self._claimed.clear()
        self.after_write()

    async def abort(self) -> None:
        """Like a crash: stop everything and write nothing (claims are left to expire)."""
        await self._cancel_all()
        self._claimed.clear()

    async def _cancel_all(self) -> None:
        self._stopping = True
        self._wake.set()
        tasks = [t for t in [self._loop_task, self._alert_task, *self._inflight.values()] if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._loop_task = None
        self._inflight.clear()

    # ---- scheduling ------------------------------------------------------

    def run_now(self, op: Operation) -> None:
        """Start the first attempt of an operation this process created already claimed."""
        self._claimed[op.id] = op
        self.after_write()  # begin wrote the operation's watchdog message
        self._spawn(op.id, self._attempt(op))

    def wake(self) -> None:
        self._wake.set()
        self.after_write()

    async def wait_settled(self, timeout: float) -> bool:
        """Wait (loop clock) until no operation is pending or running; False if `timeout` passes first."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            counts = self.store.counts()
            if counts["pending"] == 0 and counts["running"] == 0:
                return True
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), timeout=min(remaining, self.poll_interval))
            except asyncio.TimeoutError:
                pass

    async def _loop(self) -> None:
        while not self._stopping:
            self._wake.clear()
            delay = self.poll_interval
            try:
                if self.scan_table:
                    delay = min(delay, self._find_due_work())
                else:
                    await self._claim_alerts()
                delay = min(delay, self._retry_alerts())
            except STORE_ERRORS as exc:
                log.error("queue scan failed, trying again in %ss: %s", self.poll_interval, exc)
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=delay)
            except asyncio.TimeoutError:
                pass

    def _find_due_work(self) -> float:
        """The table queue: start attempts for due operations; how long until the next one is due."""
        now = self.clock.now()
        free = self.concurrency - len(self._inflight)
        if free > 0:
            for op_id in self.store.due(now, free + len(self._inflight)):
                if op_id not in self._inflight and len(self._inflight) < self.concurrency:
                    self._spawn(op_id, self._claim_and_run(op_id))
        wakeup = self.store.next_wakeup()
        return wakeup - now if wakeup is not None and wakeup > now else self.poll_interval

    def _spawn(self, op_id: str, work: Any, key: str | None = None) -> "asyncio.Task[None] | None":
        if self._stopping:
            work.close()
            return None
        key = key or op_id
        task = asyncio.create_task(work, name=f"binding_core.op.{op_id}")
        self._inflight[key] = task

        def finished(_: asyncio.Task[None]) -> None:
            if self._inflight.get(key) is task:
                del self._inflight[key]
            self._changed.set()
            self._wake.set()

        task.add_done_callback(finished)
        return task

    def _claim(self, op_id: str) -> Operation | None:
        """Claim `op_id` for one attempt (None: done, not due, or held by a live lease). Raises STORE_ERRORS."""
        self.ensure_running()
        now = self.clock.now()
        op = self.store.claim(op_id, self.owner, now=now, lease=self.lease, doubt_until=now + self.in_doubt_window)
        if op is not None:
            self._claimed[op.id] = op
            self.after_write()  # the claim wrote this holder's watchdog message
        return op

    async def _claim_and_run(self, op_id: str) -> None:
        try:
            op = self._claim(op_id)
        except STORE_ERRORS as exc:
            log.warning("claim of %s failed: %s", op_id, exc)
            return
        if op is None:
            return  # another worker got it, or it is not due any more
        await self._attempt(op)

    async def run_delivered(self, op_id: str) -> Operation | None:
        """A broker delivered `op_id`: claim it and run one attempt to its commit (complete or reschedule).

        Returns the claimed operation once the attempt is over, or None when the claim found nothing to do.
        Store errors while claiming propagate (the consumer returns the message to the broker). The attempt
        runs as the worker's own task, so a consumer cancelled by a lost connection does not cut it off;
        stop() cancels it like any attempt (and this raises CancelledError then)."""
        op = self._claim(op_id)
        if op is None:
            return None
        key = op_id if op_id not in self._inflight else f"{op_id}#{op.claims}"  # our own stale attempt runs on
        task = self._spawn(op_id, self._attempt(op), key=key)
        if task is None:
            raise asyncio.CancelledError("the worker is stopping")
        await asyncio.shield(task)
        return op

    async def settle_dead_letter(self, op_id: str, reason: str) -> float | None:
        """The broker gave up on `op_id`'s message (delivery limit): move the operation to settling now, with
        its one alert, and let the normal path settle it by query. Returns None when handled (or already
        finished), else the epoch time it can be claimed (the caller delivers the dead letter again then).
        Raises STORE_ERRORS."""
        op = self._claim(op_id)
        if op is None:
            current = self.store.operation(op_id)
            if current.state in ("done", "dead"):
                return None
            return max(current.next_attempt_at, current.lease_until or 0.0)
        try:
            now = self.clock.now()
            if op.kind == "sweep":
                # A sweep never counts attempts nor alerts: it just looks again.
                self._reschedule(op, now, reason, count=False)
            else:
                # Settled only once no call of ours can land any more (as when attempts run out).
                alert = self._reschedule(op, max(now, op.in_doubt_until or now), reason, count=False,
                                         phase="settle", alert_now=True)
                if alert is not None:
                    await self._deliver(alert)
        finally:
            self._claimed.pop(op.id, None)
        return None

    # ---- one attempt -----------------------------------------------------

    async def _attempt(self, op: Operation) -> None:
        try:
            if op.kind == "sweep":
                await self._sweep(op)
            elif op.phase == "settle" or (op.path == "sync" and op.claims > 1):
                await self._settle(op)
            elif op.kind == "bind":
                await self._bind(op)
            else:
                await self._unbind(op)
        except LostClaim as exc:
            log.warning("lost the claim on %s: %s", op.id, exc)
        finally:
            self._claimed.pop(op.id, None)

    def key(self, op: Operation, suffix: str = "") -> str:
        return f"{self.key_prefix}-{op.id}{suffix}"

    async def _bind(self, op: Operation) -> None:
        maybe_applied = op.claims > 1
        if maybe_applied:
            found = await self.provider.find_bindings(op.mode, op.x, op.b, op.a)
            if not isinstance(found, Ok):
                return await self._failed(op, found)
            if found.value:
                return await self._adopt(op, found.value)
        self._crash("before_provider_call")
        outcome = await self.provider.create_binding(op.mode, op.x, op.b or "", op.a, idempotency_key=self.key(op))
        self._crash("after_provider_response")
        if isinstance(outcome, Ok):
            return await self._commit(op, BIND, outcome.value.binding_id, "bound")
        if isinstance(outcome, Refused) and outcome.code in CONFLICT_CODES:
            return await self._conflicted(op, outcome, maybe_applied)
        if isinstance(outcome, Refused):
            return await self._commit(op, NOT_BIND, None, "refused", error=outcome.describe())
        await self._failed(op, outcome)  # Unknown or NotSent

    async def _conflicted(self, op: Operation, conflict: Refused, maybe_applied: bool) -> None:
        """X is taken. If by a binding with exactly our numbers (our earlier attempt, or a late call of an
        earlier bind of the same numbers) it is what was asked for: adopt it. If by something else, refuse;
        but after an attempt that may have been applied, it may be ours not yet visible: try again."""
        found = await self.provider.find_bindings(op.mode, op.x, op.b, op.a)
        if isinstance(found, Ok) and found.value:
            return await self._adopt(op, found.value)
        if maybe_applied or not isinstance(found, Ok):
            return await self._failed(op, conflict)
        await self._commit(op, NOT_BIND, None, "refused", error=conflict.describe())

    async def _adopt(self, op: Operation, found: list[ProviderBinding]) -> None:
        """Take the provider's binding as ours; delete any duplicates (never leave an orphan behind)."""
        keep, *extra = found
        for duplicate in extra:
            gone = await self.provider.delete_binding(duplicate.binding_id, idempotency_key=self.key(op, f"-dup-{duplicate.binding_id}"))
            if not (isinstance(gone, Ok) or (isinstance(gone, Refused) and gone.code in NOT_FOUND_CODES)):
                return await self._failed(op, gone)  # the next attempt finds both again and retries the delete
        self._crash("after_provider_response")
        await self._commit(op, BIND, keep.binding_id, "bound")

    async def _unbind(self, op: Operation) -> None:
        self._crash("before_provider_call")
        outcome = await self.provider.delete_binding(op.binding_id or "", idempotency_key=self.key(op))
        self._crash("after_provider_response")
        if isinstance(outcome, Ok) or (isinstance(outcome, Refused) and outcome.code in NOT_FOUND_CODES):
            return await self._commit(op, NOT_BIND, None, "unbound")
        if isinstance(outcome, Refused) and not self._in_doubt(op):
            return await self._commit(op, BIND, op.binding_id, "refused", error=outcome.describe())
        # Unknown, NotSent, or refused while an earlier delete may still land: only settling can tell.
        await self._failed(op, outcome)

    async def _settle(self, op: Operation) -> None:
        """Find out what the provider holds and settle the row to it (dead-lettered or sync operations)."""
        final = "dead" if op.path == "async" else "done"
        if op.phase != "settle" and self._in_doubt(op):
            # An old-path call cut off by a crash may still land: what the provider holds is not final yet.
            # (Entering the settle phase waits for this already; a lookup lost while settling is left to the
            # sweep that completing in doubt queues, or settling could wait a window per failed probe.)
            self._reschedule(op, op.in_doubt_until or 0.0, op.last_error or "waiting for late calls", count=False,
                             phase="settle")
            return
        if op.kind == "bind":
            found = await self.provider.find_bindings(op.mode, op.x, op.b, op.a)
            if isinstance(found, Ok):
                if found.value:
                    return await self._commit(op, BIND, found.value[0].binding_id, "settled", state=final)
                return await self._commit(op, NOT_BIND, None, "settled", state=final)
            failure = found
        else:
            held = await self.provider.get_binding(op.binding_id or "")
            if isinstance(held, Ok):
                status = NOT_BIND if held.value is None else BIND
                return await self._commit(op, status, op.binding_id if status == BIND else None, "settled", state=final)
            failure = held
        await self._retry_later(op, failure, "settling")

    async def _sweep(self, op: Operation) -> None:
        """After a bind that finished in doubt: delete bindings with its numbers that the row does not hold.

        Runs once the doubt has passed (nothing more of that bind can land). Never changes the row:
        it looks, checks no operation ran on the mode meanwhile, fences binds off, then deletes.
        """
        if self._in_doubt(op):
            self._reschedule(op, op.in_doubt_until or 0.0, op.last_error or "waiting for late calls", count=False)
            return
        held = self.store.view(op.x)[op.mode.lower()]
        if held["status"] == OPERATION:
            # Another operation owns the mode now; it may yet adopt what it finds. Look after it ends.
            self._reschedule(op, self.clock.now() + self.policy.settle_delay(op.claims), "waiting for "
                             f"{held['operation_id']} to finish", count=False, phase="look")
            return
        found = await self.provider.find_bindings(op.mode, op.x, op.b, op.a)
        if not isinstance(found, Ok):
            return await self._retry_later(op, found, "sweeping", phase="look")
        strays = [f.binding_id for f in found.value if f.binding_id != held["binding_id"]]
        self.ensure_running()
        if strays and not self.store.fence_sweep(op, self.owner, version=held["version"], now=self.clock.now()):
            self._reschedule(op, self.clock.now(), "the mode changed while sweeping; looking again",
                             count=False, phase="look")
            return
        for stray in strays:
            gone = await self.provider.delete_binding(stray, idempotency_key=self.key(op, f"-{stray}"))
            if not (isinstance(gone, Ok) or (isinstance(gone, Refused) and gone.code in NOT_FOUND_CODES)):
                # A delete that may still land keeps binds fenced off until its doubt has passed too.
                return await self._retry_later(op, gone, f"deleting stray {stray}",
                                               phase="delete" if isinstance(gone, Unknown) else "look")
            log.warning("deleted stray binding %s on %s %s (a late call of %s)", stray, op.mode, op.x, op.origin)
        self.ensure_running()
        self.store.finish_sweep(op, self.owner, outcome="swept" if strays else "clean", deleted=strays,
                                now=self.clock.now())

    async def _retry_later(self, op: Operation, failure: Refused | Unknown | NotSent | AuthFailed, doing: str, *,
                           phase: str | None = None) -> None:
        """Settles and sweeps never give up (the row must not stay OPERATION, a stray must not stay)."""
        if isinstance(failure, AuthFailed):
            return await self._auth_refused(op, failure, doing=f"{doing}: ", phase=phase)
        now = self.clock.now()
        next_at = now + self.policy.settle_delay(op.claims)
        if isinstance(failure, NotSent):
            next_at = max(next_at, self._breaker_retry_at() or next_at)
        self._reschedule(op, next_at, f"{doing}: {failure.describe()}", count=False, phase=phase,
                         in_doubt=isinstance(failure, Unknown) and failure.may_apply)

    # ---- outcomes --------------------------------------------------------

    def ensure_running(self) -> None:
        """Raise CancelledError once the worker is stopping: callers must not write after that."""
        if self._stopping:
            raise asyncio.CancelledError("the worker is stopping")

    async def _commit(
        self, op: Operation, status: str, binding_id: str | None, outcome: str, *, state: str = "done", error: str | None = None
    ) -> None:
        self.ensure_running()
        try:
            self.store.complete(
                op, self.owner, status=status, binding_id=binding_id, outcome=outcome, state=state,
                error=error, now=self.clock.now(),
            )
            self.after_write()  # completing in doubt queued a sweep
        except STORE_ERRORS as exc:
            # Retried like a failed call: the next attempt asks the provider before doing anything again.
            await self._failed(op, Unknown(f"commit failed: {exc}", may_apply=False))

    def _in_doubt(self, op: Operation) -> bool:
        return op.in_doubt_until is not None and op.in_doubt_until > self.clock.now()

    async def _failed(self, op: Operation, failure: "Outcome[object]") -> None:
        assert not isinstance(failure, Ok)
        if isinstance(failure, AuthFailed):
            return await self._auth_refused(op, failure)
        reason = failure.describe()
        in_doubt = isinstance(failure, Unknown) and failure.may_apply
        decision = self.policy.after_failure(op.attempts + 1)
        now = self.clock.now()
        if decision.retry:
            next_at = now + decision.delay
            retry_at = self._breaker_retry_at()
            if isinstance(failure, NotSent) and retry_at is not None:
                # Nothing can go out before the breaker lets a probe through: don't burn attempts on it.
                next_at = max(next_at, retry_at)
            alert = self._reschedule(op, next_at, reason, count=True, in_doubt=in_doubt)
        else:
            # Dead-lettered: settled by query, once no call of ours can land any more.
            settle_at = max(now + self.in_doubt_window if in_doubt else now, op.in_doubt_until or now)
            alert = self._reschedule(op, settle_at, reason, count=True, phase="settle", in_doubt=in_doubt)
        if alert is not None:
            await self._deliver(alert)
        self._crash("after_reschedule")

    async def _auth_refused(self, op: Operation, failure: AuthFailed, *, doing: str = "",
                            phase: str | None = None) -> None:
        """The provider refused our credentials: nothing was applied and nothing will be until an operator
        fixes them. Alert now (once per operation), keep the operation pending without counting an attempt
        (it must not be dead-lettered or settled as refused), try again with backoff."""
        now = self.clock.now()
        alert = self._reschedule(op, now + self.policy.settle_delay(op.claims), doing + failure.describe(),
                                 count=False, phase=phase, alert_now=True)
        if alert is not None:
            await self._deliver(alert)

    def _breaker_retry_at(self) -> float | None:
        breaker = getattr(self.provider, "breaker", None)
        return breaker.retry_at() if breaker is not None else None

    def _reschedule(self, op: Operation, next_at: float, reason: str, *, count: bool, phase: str | None = None,
                    in_doubt: bool = False, alert_now: bool = False) -> dict | None:
        self.ensure_running()
        now = self.clock.now()
        try:
            _, alert = self.store.reschedule(
                op, self.owner, next_attempt_at=next_at, error=reason, now=now,
                count_attempt=count, phase=phase,
                alert_at=0 if alert_now else (self.policy.alert_at if count else None),
                in_doubt_until=now + self.in_doubt_window if in_doubt else None,
            )
        except STORE_ERRORS as exc:
            log.error("could not re-queue %s (its lease will expire and it will run again): %s", op.id, exc)
            return None
        self._wake.set()
        self.after_write()
        return alert

    async def alert_now(self, op: Operation, reason: str) -> None:
        """Raise the operation's one alert now (the old path's refusal of our credentials)."""
        try:
            alert = self.store.raise_alert(op, reason, now=self.clock.now())
        except STORE_ERRORS as exc:
            log.error("could not record the alert for %s: %s", op.id, exc)
            return
        if alert is not None:
            await self._deliver(alert)

    async def _deliver(self, row: dict[str, Any]) -> None:
        self._posting.add(row["seq"])  # until every sink took it (_mark_delivered), retries included
        await self.outbox.post(alert_json(row))

    async def _claim_alerts(self) -> None:
        """With a broker: post the undelivered alerts nobody else is posting (one whose poster died comes
        back once its delivery lease ran out). Looks at most once per poll_interval; our own claims come
        back renewed, and those we are posting or retrying already are skipped."""
        loop_now = asyncio.get_running_loop().time()
        if loop_now - self._alerts_claimed_at < self.poll_interval:
            return
        self._alerts_claimed_at = loop_now
        rows = self.store.claim_undelivered_alerts(self.owner, now=self.clock.now(), lease=self.lease)
        for row in rows:
            if row["seq"] not in self._posting:
                await self._deliver(row)

    def _mark_delivered(self, seq: int) -> None:
        self._posting.discard(seq)
        try:
            self.store.mark_delivered(seq)
        except STORE_ERRORS as exc:
            log.error("alert %s sent but not marked delivered (sent again after a restart): %s", seq, exc)

    def _retry_alerts(self) -> float:
        """Start the due alert retries in the background (a slow webhook must not hold the queue up);
        how long the loop may sleep before the next one is due."""
        retry_at = self.outbox.next_retry_at()
        if retry_at is None:
            return self.poll_interval
        wait = retry_at - asyncio.get_running_loop().time()
        if wait <= 0 and (self._alert_task is None or self._alert_task.done()):
            self._alert_task = asyncio.create_task(self.outbox.retry_due(), name="binding_core.alerts")
            self._alert_task.add_done_callback(lambda _: self._wake.set())
        return max(wait, 0.0) if wait > 0 else self.poll_interval

    def crash(self, point: str) -> None:
        """The test-only crash point `point` (PSTNSIM_CORE_CRASHPOINT): SIGKILL this process if it is the one set."""
        self._crash(point)

    def _crash(self, point: str) -> None:
        if self.crashpoint == point:
            log.critical("crash point %s reached: SIGKILL", point)
            os.kill(os.getpid(), signal.SIGKILL)
