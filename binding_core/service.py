"""The one entry point for bind and unbind requests; gray numbers take the new path, the rest the old one.

New (asynchronous) path: validate, move the mode to OPERATION and queue the
operation in one transaction, start its first attempt at once in the
background, answer 202 with the operation id.

Old (synchronous) path, the seed's first version: the same validation and
OPERATION, then one provider call inside the request with the provider timeout,
no retry; the caller gets the result or the error. When that one call's outcome
is unknown (timeout, 5xx) the caller gets the error and the row is handed to the
queue to be settled to what the provider holds once that call can no longer
land (the in-doubt window), so it never stays OPERATION.
"""

from __future__ import annotations

from dataclasses import dataclass

from .clock import Clock
from .gray import GrayRouter
from .provider.base import NOT_FOUND_CODES, AuthFailed, NotSent, Ok, ProviderClient, Refused, Unknown
from .records import LostClaim, Operation
from .storage import STORE_ERRORS, OperationStore
from .transitions import BIND, NOT_BIND
from .worker import Worker


@dataclass(frozen=True)
class Accepted:
    """New path: queued, first attempt started."""

    operation: Operation


@dataclass(frozen=True)
class Finished:
    """Old path: the provider answered and the row is settled (`error` set when it refused)."""

    operation: Operation
    error: Refused | None = None


@dataclass(frozen=True)
class Unsettled:
    """Old path: the provider's answer was lost or never sent; `status` is the HTTP status to answer with."""

    operation: Operation
    reason: str
    status: int
    code: str | None = None  # the API's error code when the status alone does not say it


class BindingService:
    def __init__(self, store: OperationStore, worker: Worker, provider: ProviderClient, gray: GrayRouter, clock: Clock) -> None:
        self.store = store
        self.worker = worker
        self.provider = provider
        self.gray = gray
        self.clock = clock

    async def request(
        self, x: str, mode: str, kind: str, *, a: str | None = None, b: str | None = None
    ) -> Accepted | Finished | Unsettled:
        """Raises store.StateConflict when the mode is not in the status `kind` needs (or changed meanwhile)."""
        path = "async" if self.gray.is_gray(x) else "sync"
        op = self.store.begin(
            x, mode, kind, a=a, b=b, path=path, now=self.clock.now(), owner=self.worker.owner, lease=self.worker.lease
        )
        if path == "async":
            self.worker.run_now(op)
            return Accepted(op)
        return await self._old_path(op)

    async def _old_path(self, op: Operation) -> Finished | Unsettled:
        worker = self.worker
        if op.kind == "bind":
            outcome = await self.provider.create_binding(op.mode, op.x, op.b or "", op.a, idempotency_key=worker.key(op))
            done = (BIND, outcome.value.binding_id) if isinstance(outcome, Ok) else None
            refused_status = NOT_BIND
        else:
            outcome = await self.provider.delete_binding(op.binding_id or "", idempotency_key=worker.key(op))
            gone = isinstance(outcome, Ok) or (isinstance(outcome, Refused) and outcome.code in NOT_FOUND_CODES)
            done = (NOT_BIND, None) if gone else None
            refused_status = BIND
        worker.ensure_running()  # a core stopped (or crashed in-process) meanwhile writes nothing more
        now = self.clock.now()
        try:
            if done is not None:
                status, binding_id = done
                finished = self.store.complete(
                    op, worker.owner, status=status, binding_id=binding_id,
                    outcome="bound" if status == BIND else "unbound", now=now,
                )
                return Finished(finished)
            if isinstance(outcome, (Refused, NotSent, AuthFailed)):
                # Nothing changed at the provider: settle back at once.
                error = outcome.describe()
                finished = self.store.complete(
                    op, worker.owner, status=refused_status, binding_id=op.binding_id if refused_status == BIND else None,
                    outcome="refused", error=error, now=now,
                )
                if isinstance(outcome, NotSent):
                    return Unsettled(finished, error, 503)
                if isinstance(outcome, AuthFailed):  # the operator's problem: loud, and the caller may retry
                    await worker.alert_now(finished, error)
                    return Unsettled(finished, f"the provider refused the core's credentials: {error}", 502,
                                     "PROVIDER_AUTH_FAILED")
                return Finished(finished, outcome)
        except (*STORE_ERRORS, LostClaim) as exc:
            outcome = Unknown(f"commit failed: {exc}", may_apply=False)
        assert isinstance(outcome, Unknown)
        # Unknown outcome: the worker settles the row by asking the provider.
        in_doubt_until = now + worker.in_doubt_window if outcome.may_apply else None
        try:
            op, _ = self.store.reschedule(
                op, worker.owner, next_attempt_at=in_doubt_until or now, error=outcome.describe(), now=now,
                count_attempt=True, phase="settle", in_doubt_until=in_doubt_until,
            )
        except (*STORE_ERRORS, LostClaim):
            pass  # the claim's lease expires and the worker settles it then
        worker.wake()
        return Unsettled(op, outcome.describe(), 504 if outcome.timed_out else 502)
