"""Drives a binding service over HTTP and records what it saw: the history, settling, observations.

The same driver works in both modes: in-process (provider and core in this
loop, virtual time) and real time against servers by URL. It only uses the
HTTP contract in docs/harness.md; what needs more (crash, telemetry) lives in
world.py.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from .checkers import CallProbe, Observation, RetryPolicy
from .clients import Answer, CoreClient, ProviderClient, items
from .history import History, Operation, Outcome

MODES = ("XB", "AXB")
OPEN_STATES = ("pending", "running")


@dataclass(frozen=True)
class Step:
    """One operation of a burst: what, on which key, and its start offset in (virtual) seconds."""

    kind: str  # bind | unbind | read
    mode: str
    x: str
    a: str | None
    b: str | None
    offset: float


@dataclass
class Tracked:
    """An operation the core accepted (it has an id): its end is read from the core's operations list."""

    op: Operation
    answered_at: float


@dataclass
class Driver:
    core: CoreClient
    provider: ProviderClient
    policy: RetryPolicy
    history: History = field(default_factory=History)
    tracked: dict[str, Tracked] = field(default_factory=dict)
    managed_xs: set[str] = field(default_factory=set)
    unsettled: list[dict[str, Any]] = field(default_factory=list)
    downtime: float = 0.0
    # How long each accepted operation took to end (virtual seconds), for the reports.
    settle_times: list[float] = field(default_factory=list)
    # The loop the driver runs on; its clock is the run's (virtual) time, readable between rules too.
    loop: asyncio.AbstractEventLoop | None = None

    def now(self) -> float:
        return (self.loop or asyncio.get_running_loop()).time()

    # ---- operations --------------------------------------------------------

    async def run_burst(self, steps: list[Step]) -> None:
        """Start every step at its offset; wait for every answer (not for the core to settle)."""
        await asyncio.gather(*(self._delayed(step) for step in steps))

    async def _delayed(self, step: Step) -> None:
        if step.offset > 0:
            await asyncio.sleep(step.offset)
        if step.kind == "read":
            await self.read(step.x)
        elif step.kind == "bind":
            await self.bind(step.x, step.mode, step.a, step.b)
        else:
            await self.unbind(step.x, step.mode)

    async def bind(self, x: str, mode: str, a: str | None, b: str | None) -> Operation:
        value = (b,) if mode == "XB" else (a, b)
        op = self.history.invoke(x, mode, "bind", value, self.now())  # type: ignore[arg-type]
        self._record(op, await self.core.bind(x, mode, a, b or ""))
        return op

    async def unbind(self, x: str, mode: str) -> Operation:
        op = self.history.invoke(x, mode, "unbind", None, self.now())
        self._record(op, await self.core.unbind(x, mode))
        return op

    async def read(self, x: str) -> None:
        started = self.now()
        answer = await self.core.view(x)
        if not answer.ok or not isinstance(answer.body, dict):
            return
        for mode in MODES:
            value = _register_value(answer.body.get(mode.lower()) or {}, mode)
            if value is None:
                continue  # OPERATION: a transient the register does not model
            op = self.history.invoke(x, mode, "read", value, started)
            self.history.complete(op, Outcome.OK, self.now())

    def _record(self, op: Operation, answer: Answer) -> None:
        now = self.now()
        body = answer.body if isinstance(answer.body, dict) else {}
        op.detail = answer.describe()
        op_id = body.get("operation_id")
        if op_id:
            op.core_operation_id = str(op_id)
            self.tracked[str(op_id)] = Tracked(op, now)
            return  # its outcome comes from the core's operations list
        if answer.status is None or answer.status >= 500:
            self.history.complete(op, Outcome.INFO, None)
        elif answer.status >= 400:
            self.history.complete(op, Outcome.FAIL, now)
        else:  # a 2xx without an operation id: the service did it synchronously
            self.history.complete(op, Outcome.OK, now)

    async def refresh_tracked(self) -> None:
        """Close every tracked operation the core reports finished (done or dead)."""
        if not any(t.op.outcome is None for t in self.tracked.values()):
            return
        answer = await self.core.operations()
        for row in items(answer.body, "operations"):
            tracked = self.tracked.get(str(row.get("operation_id") or row.get("id")))
            if tracked is None or tracked.op.outcome is not None or row.get("state") in OPEN_STATES:
                continue
            self._close(tracked, row)

    def _close(self, tracked: Tracked, row: dict[str, Any]) -> None:
        op = tracked.op
        # The core's own duration, anchored on our answer: never earlier than the real end.
        took = _duration(row)
        ended = tracked.answered_at + took if took is not None else self.now()
        op.detail = f"{row.get('state')}/{row.get('outcome')} after {row.get('attempts')} attempt(s)"
        outcome = row.get("outcome")
        self.settle_times.append(ended - op.invoked_at)
        if outcome in ("bound", "unbound"):
            self.history.complete(op, Outcome.OK, ended)
        elif outcome == "refused":
            self.history.complete(op, Outcome.FAIL, ended)
        elif outcome == "settled" and op.kind == "bind":
            took_effect = bool(row.get("binding_id"))
            self.history.complete(op, Outcome.OK if took_effect else Outcome.FAIL, ended,
                                  op.detail if took_effect else "settled: " + op.detail)
        else:  # an unbind settled to whatever the provider held: unknown to the register
            self.history.complete(op, Outcome.INFO, None)
        op.ended_at = ended

    async def record_initial(self, xs: list[str]) -> None:
        """The registers' values before this history starts (a service by URL keeps state across examples)."""
        for x in xs:
            answer = await self.core.view(x)
            if not answer.ok or not isinstance(answer.body, dict):
                raise RuntimeError(f"cannot read the starting state of {x}: {answer.describe()}")
            for mode in MODES:
                value = _register_value(answer.body.get(mode.lower()) or {}, mode)
                if value is None:
                    raise RuntimeError(f"{x} {mode} is in OPERATION at the start: the service is not quiescent")
                self.history.initial[(x, mode)] = value

    async def expire_and_unbind(self, x: str, mode: str) -> None:
        """Shorten a bound binding's life at the provider, let it expire, then unbind it through the core.

        This is a provider-side expiry as the business sees it: the binding is gone at the
        provider when the core's unbind arrives, which must then count as done ("not found" is success).
        """
        answer = await self.core.view(x)
        view = (answer.body or {}).get(mode.lower()) if isinstance(answer.body, dict) else None
        if not view or view.get("status") != "BIND" or not view.get("binding_id"):
            return
        changed = await self.provider.expire_soon(str(view["binding_id"]), seconds=1)
        if not changed.ok:
            return  # a fault answered: nothing changed (update_binding is never ghost-applied)
        await asyncio.sleep(1.5)
        await self.unbind(x, mode)

    # ---- settling -----------------------------------------------------------

    async def wait_quiescent(self, limit: float, poll: float = 0.5, max_poll: float = 8.0) -> bool:
        """Poll (virtual time in-process) until nothing is pending or running and the provider is handling
        no request (a held one may still change its ledger), at most `limit` seconds.

        The interval doubles (up to `max_poll`) while the open operations stay as they were, and starts
        again from `poll` when they change: a core waiting out an in-doubt window is asked a few times,
        not every half second. Only when quiet is reached matters; durations come from the core."""
        deadline = self.now() + limit
        interval, last_seen = poll, None
        while True:
            answer = await self.core.operations()
            rows = items(answer.body, "operations")
            open_now = sorted((str(r.get("operation_id") or r.get("id")), str(r.get("state")), str(r.get("attempts")))
                              for r in rows if r.get("state") in OPEN_STATES)
            interval = min(interval * 2, max_poll) if open_now == last_seen else poll
            last_seen = open_now
            if answer.ok and not open_now and await self._provider_idle():
                await self.refresh_tracked()
                return True
            if self.now() >= deadline:
                await self.refresh_tracked()
                for r in rows:
                    if r.get("state") in OPEN_STATES:
                        self.unsettled.append({"operation_id": r.get("operation_id"), "x": r.get("x"),
                                               "mode": r.get("mode"), "state": r.get("state"),
                                               "attempts": r.get("attempts"), "waited": limit})
                return False
            await asyncio.sleep(min(interval, max(deadline - self.now(), 0.0)) or poll)

    async def _provider_idle(self) -> bool:
        ledger = await self.provider.ledger()
        return ledger.ok and isinstance(ledger.body, dict) and not ledger.body.get("in_flight")

    async def observe(self, *, calls: bool, callers: list[str]) -> Observation:
        """Everything the checks need, read over HTTP after quiescence."""
        views = []
        for x in sorted(self.managed_xs):
            answer = await self.core.view(x)
            if answer.ok and isinstance(answer.body, dict):
                views.append(answer.body)
        ledger = await self.provider.ledger(released=True)
        history = items(ledger.body, "bindings") if ledger.ok else None
        operations = await self.core.operations()
        alerts = await self.core.alerts()
        transitions = await self.core_transitions()
        probes = await self.probe_calls(views, callers) if calls else None
        from binding_core.transitions import LEGAL_MOVES  # the reference table; a team's own service shares it

        self.history.settle_unfinished()
        return Observation(
            now=self.now(),
            core_numbers=views,
            provider_bindings=[b for b in history if b.get("status") != "released"] if history is not None else None,
            provider_history=history,
            operations=[_normal_operation(r) for r in items(operations.body, "operations")] if operations.ok else None,
            alerts=items(alerts.body, "alerts") if alerts.ok else None,
            transitions=transitions,
            legal_transitions=set(LEGAL_MOVES),
            policy=self.policy,
            history=self.history,
            calls=probes,
            managed_xs=set(self.managed_xs),
            unsettled=list(self.unsettled),
            downtime=self.downtime,
        )

    async def core_transitions(self) -> list[dict[str, Any]] | None:
        answer = await self.core.transitions()
        if not answer.ok:
            return None
        return [_normal_transition(r) for r in items(answer.body, "transitions")]

    async def probe_calls(self, views: list[dict[str, Any]], callers: list[str]) -> list[CallProbe]:
        """Dial every managed X from each party; an answer the provider garbled (a fault) is skipped."""
        probes = []
        for view in views:
            for caller in callers:
                answer = await self.provider.place_call(caller, view["x"])
                if answer.status != 201 or not isinstance(answer.body, dict):
                    continue
                probes.append(CallProbe(caller=caller, x=view["x"], core_row=view,
                                        outcome=str(answer.body.get("outcome")), callee=answer.body.get("callee"),
                                        reason=str(answer.body.get("reason", ""))))
        return probes


def _register_value(view: dict[str, Any], mode: str) -> tuple[str, ...] | None:
    status = view.get("status")
    if status == "NOT_BIND":
        return ("NOT_BIND",)
    if status == "BIND":
        return ("BIND", view.get("b")) if mode == "XB" else ("BIND", view.get("a"), view.get("b"))
    return None


def _duration(row: dict[str, Any]) -> float | None:
    created, finished = row.get("created_at"), row.get("finished_at")
    if isinstance(created, (int, float)) and isinstance(finished, (int, float)):
        return max(0.0, float(finished) - float(created))
    return None


def _normal_operation(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "id": row.get("operation_id", row.get("id"))}


def _normal_transition(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "from": row.get("from_status", row.get("from")), "to": row.get("to_status", row.get("to"))}
