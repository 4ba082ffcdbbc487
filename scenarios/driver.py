"""Drives a binding service through its adapter and records what it saw: the history, settling, observations.

The same driver works in both modes: in-process (provider and core in this
loop, virtual time) and real time against servers by URL. It only uses the
adapter contract (scenarios/adapters/base.py); what needs more (crash,
telemetry) lives in world.py. A long-lived service keeps what earlier examples
(and earlier runs) did: `record_initial` takes a baseline of it, and each
observation holds only what happened on this example's numbers since.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from .adapters.base import ACCEPTED, DONE, OPTIONAL, REFUSED, STATUSES, AdapterError, NumberStatus, Reply, ServiceAdapter, offers
from .checkers import CallProbe, Observation, RetryPolicy
from .clients import ProviderClient, items
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
    """An operation the service accepted with an id: its end is read from the service's operations."""

    op: Operation
    answered_at: float


@dataclass
class Baseline:
    """What the service and the provider already held when the example started (left out of its checks)."""

    operation_ids: set[str] = field(default_factory=set)
    alert_keys: set[tuple[str, str]] = field(default_factory=set)
    transitions: dict[tuple[str, str], int] = field(default_factory=dict)  # rows per (x, mode) already there
    binding_ids: set[str] = field(default_factory=set)


@dataclass
class Driver:
    core: ServiceAdapter  # the service under test, through its adapter
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
    baseline: Baseline = field(default_factory=Baseline)
    # Writes sent and BIND statuses seen: a run with none of either checked nothing (the runner calls it vacuous).
    writes_sent: int = 0
    binds_seen: int = 0
    # Bind/unbind requests with their service operation id, when sent and answered (the gray routing check).
    requests: list[dict[str, Any]] = field(default_factory=list)
    # The service's GET /health read at the example's start (checkers/answers.py: health_tells_truth).
    health_reads: list[dict[str, Any]] = field(default_factory=list)
    ticks: int = 0
    # The world's own evidence for observe() (crash times, gray timeline, alert deliveries, provider calls):
    # an awaitable giving Observation field values, `unavailable` reasons merged.
    world_data: Callable[[], Awaitable[dict[str, Any]]] | None = None

    def __post_init__(self) -> None:
        self.offered = {name for name in OPTIONAL if offers(self.core, name)}

    def now(self) -> float:
        return (self.loop or asyncio.get_running_loop()).time()

    def not_offered(self, method: str) -> str:
        return f"the service's adapter ({type(self.core).__name__}) offers no {method}()"

    # ---- operations --------------------------------------------------------

    async def run_burst(self, steps: list[Step]) -> None:
        """Start every step at its offset; wait for every answer (not for the service to settle)."""
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
        self.writes_sent += 1
        sent = self.tick()
        self._record(op, _reply(await self.core.bind(x, mode, a, b or ""), "bind"), sent)
        return op

    async def unbind(self, x: str, mode: str) -> Operation:
        op = self.history.invoke(x, mode, "unbind", None, self.now())
        self.writes_sent += 1
        sent = self.tick()
        self._record(op, _reply(await self.core.unbind(x, mode), "unbind"), sent)
        return op

    async def read(self, x: str) -> None:
        started = self.now()
        view = await self.view(x)
        if view is None:
            return
        for mode in MODES:
            value = _register_value(view.get(mode.lower()) or {}, mode)
            if value is None:
                continue  # OPERATION: a transient the register does not model
            op = self.history.invoke(x, mode, "read", value, started)
            self.history.complete(op, Outcome.OK, self.now())

    async def view(self, x: str) -> dict[str, Any] | None:
        """X as the service sees it, as the row the checks read; None when it could not be read."""
        status = await self.core.status(x)
        if status is None:
            return None
        if not isinstance(status, NumberStatus):
            raise AdapterError(f"{type(self.core).__name__}.status({x}) returned {status!r}, not a NumberStatus")
        for mode, part in (("XB", status.xb), ("AXB", status.axb)):
            if part.status not in STATUSES:
                raise AdapterError(f"{type(self.core).__name__}.status({x}) gave {mode} status {part.status!r}; "
                                   f"expected one of {', '.join(STATUSES)}")
            self.binds_seen += part.status == "BIND"
        return status.to_view(x)

    def tick(self) -> int:
        """The next number of the harness's own event order (requests sent and answered, gray changes): virtual
        time does not order what happens at one instant."""
        self.ticks += 1
        return self.ticks

    def _record(self, op: Operation, reply: Reply, sent: int = 0) -> None:
        now = self.now()
        op.detail = reply.detail or reply.outcome
        self.requests.append({"operation_id": reply.operation_id, "x": op.x, "mode": op.mode, "kind": op.kind,
                              "sent_at": op.invoked_at, "answered_at": now, "sent": sent, "answered": self.tick(),
                              "outcome": reply.outcome, "status": reply.status})
        if reply.operation_id:
            op.core_operation_id = reply.operation_id
            if "operations" in self.offered:
                self.tracked[reply.operation_id] = Tracked(op, now)
                return  # its outcome comes from the service's operations
        if reply.outcome == DONE:
            self.history.complete(op, Outcome.OK, now)
        elif reply.outcome == REFUSED:
            self.history.complete(op, Outcome.FAIL, now)
        else:  # unknown, or accepted with no operations() to read its end: may or may not take effect
            detail = f"{op.detail}; {self.not_offered('operations')} to read its end" if reply.outcome == ACCEPTED else ""
            self.history.complete(op, Outcome.INFO, None, detail)

    async def refresh_tracked(self) -> None:
        """Close every tracked operation the service reports finished (done or dead)."""
        if not any(t.op.outcome is None for t in self.tracked.values()):
            return
        rows = await self._optional("operations")
        for row in rows or []:
            tracked = self.tracked.get(str(row.get("operation_id") or row.get("id")))
            if tracked is None or tracked.op.outcome is not None or row.get("state") in OPEN_STATES:
                continue
            self._close(tracked, row)

    def _close(self, tracked: Tracked, row: dict[str, Any]) -> None:
        op = tracked.op
        # The service's own duration, anchored on our answer: never earlier than the real end.
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
        """The registers' values before this history starts, and a baseline of what the service and the
        provider already held (a service by URL keeps state across examples and runs)."""
        for x in xs:
            view = await self.view(x)
            if view is None:
                raise RuntimeError(f"cannot read the starting state of {x} from the service under test")
            for mode in MODES:
                value = _register_value(view.get(mode.lower()) or {}, mode)
                if value is None:
                    raise RuntimeError(f"{x} {mode} is in OPERATION at the start: the service is not quiescent")
                self.history.initial[(x, mode)] = value
        base = Baseline()
        for row in await self._optional("operations") or []:
            base.operation_ids.add(str(row.get("operation_id", row.get("id"))))
        for row in await self._optional("alerts") or []:
            base.alert_keys.add(_alert_key(row))
        for row in await self._optional("transitions") or []:
            key = (str(row.get("x")), str(row.get("mode")))
            base.transitions[key] = base.transitions.get(key, 0) + 1
        ledger = await self.provider.ledger(released=True)
        base.binding_ids = {str(b.get("binding_id")) for b in items(ledger.body, "bindings")} if ledger.ok else set()
        self.baseline = base
        start = await self.health_snapshot("start")
        self.health_reads = [start] if start is not None else []

    async def health_snapshot(self, at: str) -> dict[str, Any] | None:
        """The service's health report ({at, status, body, listed: the operations it lists, by state, read just
        before and after it; None when the two listings differ or cannot be read}); None: the adapter reads none."""
        read = getattr(self.core, "health_report", None)
        if read is None:
            return None
        before = await self._optional("operations")
        status, body = await read()
        after = await self._optional("operations")
        listed = None
        if before is not None and after is not None and _states(before) == _states(after):
            listed = _states(after)
        return {"at": at, "status": status, "body": body, "listed": listed}

    async def expire_and_unbind(self, x: str, mode: str) -> None:
        """Shorten a bound binding's life at the provider, let it expire, then unbind it through the service.

        This is a provider-side expiry as the business sees it: the binding is gone at the
        provider when the service's unbind arrives, which must then count as done ("not found" is success).
        """
        view = await self.view(x)
        part = (view or {}).get(mode.lower())
        if not part or part.get("status") != "BIND" or not part.get("binding_id"):
            return
        changed = await self.provider.expire_soon(str(part["binding_id"]), seconds=1)
        if not changed.ok:
            return  # a fault answered: nothing changed (update_binding is never ghost-applied)
        await asyncio.sleep(1.5)
        await self.unbind(x, mode)

    async def rebind_at_doubt_end(self, x: str, mode: str, a: str | None, b: str, again: str, lead: float) -> None:
        """The sweep's race, aimed. Bind (its first create held by the caller's fault rule, so it ends in
        doubt), unbind as soon as it is bound (so a late create lands on a free X: a stray), then bind the same
        X again `lead` seconds after the first bind's in-doubt window ends: when a sweep for its late calls
        looks the stray up and deletes it. `again` is the B of that re-bind: the same numbers are the moment
        that matters (bound again between the sweep's lookup and its delete); another B is refused while the
        stray holds X."""
        limit = self.policy.deadline()
        view = await self.view(x)
        if ((view or {}).get(mode.lower()) or {}).get("status") == "BIND":  # free X first: the race needs a bind
            if not await self._ended(await self.unbind(x, mode), limit):
                return
        first = await self.bind(x, mode, a, b)
        if not await self._ended(first, limit) or first.outcome is not Outcome.OK:
            return
        if not await self._ended(await self.unbind(x, mode), limit):
            return
        doubt_end = await self._doubt_end(first)
        await asyncio.sleep(max(0.0, doubt_end + lead - self.now()))
        await self.bind(x, mode, a, again)

    async def _ended(self, op: Operation, limit: float, poll: float = 0.5) -> bool:
        """Wait (at most `limit` seconds) until the service reports `op` finished."""
        deadline = self.now() + limit
        while op.outcome is None and self.now() < deadline:
            await asyncio.sleep(poll)
            await self.refresh_tracked()
        return op.outcome is not None

    async def _doubt_end(self, op: Operation) -> float:
        """When `op`'s late calls can no longer land, on the loop's clock: the service's own `in_doubt_until`
        when its operations carry one, else one in-doubt window after the operation ended (the latest)."""
        for row in await self._optional("operations") or []:
            if str(row.get("operation_id", row.get("id"))) != op.core_operation_id:
                continue
            until, created = row.get("in_doubt_until"), row.get("created_at")
            if isinstance(until, (int, float)) and isinstance(created, (int, float)):
                return op.invoked_at + (until - created)
        return (op.ended_at or self.now()) + self.policy.in_doubt_window

    # ---- the optional data ----------------------------------------------------

    async def _optional(self, method: str) -> list[dict[str, Any]] | None:
        """Rows of an optional adapter method; None when it is not offered or could not be read."""
        rows, _ = await self._optional_with_reason(method)
        return rows

    async def _optional_with_reason(self, method: str) -> tuple[list[dict[str, Any]] | None, str]:
        if method not in self.offered:
            return None, self.not_offered(method)
        rows = await getattr(self.core, method)()
        if rows is None:
            return None, f"{type(self.core).__name__}.{method}() could not be read"
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise AdapterError(f"{type(self.core).__name__}.{method}() returned {type(rows).__name__}, "
                               "not a list of dicts")
        return rows, ""

    async def operations(self) -> tuple[list[dict[str, Any]] | None, str]:
        """This example's operations on its numbers (normalised), or None and why not."""
        rows, reason = await self._optional_with_reason("operations")
        if rows is None:
            return None, reason
        own = [_normal_operation(r) for r in rows]
        return [r for r in own if str(r["id"]) not in self.baseline.operation_ids and self._managed(r)], ""

    async def alerts(self) -> tuple[list[dict[str, Any]] | None, str]:
        rows, reason = await self._optional_with_reason("alerts")
        if rows is None:
            return None, reason
        return [r for r in rows if _alert_key(r) not in self.baseline.alert_keys and self._managed(r)], ""

    async def core_transitions(self) -> list[dict[str, Any]] | None:
        rows, _ = await self.transitions()
        return rows

    async def transitions(self) -> tuple[list[dict[str, Any]] | None, str]:
        """This example's status changes on its numbers, oldest first (normalised), or None and why not."""
        rows, reason = await self._optional_with_reason("transitions")
        if rows is None:
            return None, reason
        seen: dict[tuple[str, str], int] = {}
        own = []
        for row in rows:
            key = (str(row.get("x")), str(row.get("mode")))
            seen[key] = seen.get(key, 0) + 1
            if seen[key] > self.baseline.transitions.get(key, 0) and self._managed(row):
                own.append(_normal_transition(row))
        return own, ""

    def _managed(self, row: dict[str, Any]) -> bool:
        return not self.managed_xs or row.get("x") is None or str(row.get("x")) in self.managed_xs

    # ---- settling -----------------------------------------------------------

    async def wait_quiescent(self, limit: float, poll: float = 0.5, max_poll: float = 8.0) -> bool:
        """Poll (virtual time in-process) until nothing is pending or running and the provider is handling
        no request (a held one may still change its ledger), at most `limit` seconds.

        Without operations() the service is quiet when none of this example's numbers is in OPERATION.
        The interval doubles (up to `max_poll`) while what is open stays as it was, and starts again from
        `poll` when it changes: a service waiting out an in-doubt window is asked a few times, not every
        half second. Only when quiet is reached matters; durations come from the service."""
        deadline = self.now() + limit
        interval, last_seen = poll, None
        while True:
            open_now, readable = await self._open_work()
            interval = min(interval * 2, max_poll) if open_now == last_seen else poll
            last_seen = open_now
            if readable and not open_now and await self._provider_idle():
                await self.refresh_tracked()
                return True
            if self.now() >= deadline:
                await self.refresh_tracked()
                for item in open_now:
                    self.unsettled.append({**item, "waited": limit})
                return False
            await asyncio.sleep(min(interval, max(deadline - self.now(), 0.0)) or poll)

    async def _open_work(self) -> tuple[list[dict[str, Any]], bool]:
        """What is still in progress (open operations, else numbers in OPERATION) and whether it could be read."""
        if "operations" in self.offered:
            rows = await self._optional("operations")
            open_rows = [r for r in rows or [] if r.get("state") in OPEN_STATES and self._managed(r)]
            return [{"operation_id": r.get("operation_id", r.get("id")), "x": r.get("x"), "mode": r.get("mode"),
                     "state": r.get("state"), "attempts": r.get("attempts")}
                    for r in sorted(open_rows, key=lambda r: str(r.get("operation_id", r.get("id"))))], rows is not None
        open_now, readable = [], True
        for x in sorted(self.managed_xs):
            view = await self.view(x)
            if view is None:
                readable = False
                continue
            open_now += [{"x": x, "mode": mode, "state": "OPERATION"} for mode in MODES
                         if (view.get(mode.lower()) or {}).get("status") == "OPERATION"]
        return open_now, readable

    async def _provider_idle(self) -> bool:
        ledger = await self.provider.ledger()
        return ledger.ok and isinstance(ledger.body, dict) and not ledger.body.get("in_flight")

    async def observe(self, *, calls: bool, callers: list[str]) -> Observation:
        """Everything the checks need, read after quiescence; what could not be read says why."""
        views = []
        for x in sorted(self.managed_xs):
            view = await self.view(x)
            if view is not None:
                views.append(view)
        unavailable: dict[str, str] = {}
        if len(views) < len(self.managed_xs):
            unavailable["core_numbers"] = "the service's status could not be read for every number"
        ledger = await self.provider.ledger(released=True)
        history = ([b for b in items(ledger.body, "bindings") if str(b.get("binding_id")) not in self.baseline.binding_ids]
                   if ledger.ok else None)
        if history is None:
            unavailable["provider_history"] = unavailable["provider_bindings"] = f"provider ledger: {ledger.describe()}"
        operations, why = await self.operations()
        if operations is None:
            unavailable["operations"] = why
        alerts, why = await self.alerts()
        if alerts is None:
            unavailable["alerts"] = why
        transitions, why = await self.transitions()
        if transitions is None:
            unavailable["transitions"] = why
        probes = await self.probe_calls(views, callers) if calls else None
        from binding_core.transitions import LEGAL_MOVES  # the reference table; a team's own service shares it

        self.history.settle_unfinished()
        observation = Observation(
            now=self.now(),
            core_numbers=views if "core_numbers" not in unavailable else None,
            provider_bindings=[b for b in history if b.get("status") != "released"] if history is not None else None,
            provider_history=history,
            operations=operations,
            alerts=alerts,
            transitions=transitions,
            legal_transitions=set(LEGAL_MOVES),
            policy=self.policy,
            history=self.history,
            calls=probes,
            managed_xs=set(self.managed_xs),
            unsettled=list(self.unsettled),
            downtime=self.downtime,
            unavailable=unavailable,
            requests=list(self.requests),
            answer_statuses=getattr(self.core, "answer_statuses", None),
        )
        end = await self.health_snapshot("end")
        if end is None:
            unavailable["health"] = f"the service's adapter ({type(self.core).__name__}) reads no health report"
        else:
            observation.health = [*self.health_reads, end]
        if self.world_data is not None:
            extra = await self.world_data()
            unavailable.update(extra.pop("unavailable", {}))
            for name, value in extra.items():
                setattr(observation, name, value)
        return observation

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


def _states(rows: list[dict[str, Any]]) -> dict[str, int]:
    """How many operations are in each state."""
    counts: dict[str, int] = {}
    for row in rows:
        counts[str(row.get("state"))] = counts.get(str(row.get("state")), 0) + 1
    return counts


def _reply(reply: Any, method: str) -> Reply:
    if not isinstance(reply, Reply):
        raise AdapterError(f"the adapter's {method}() returned {reply!r}, not a Reply")
    return reply


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


def _alert_key(row: dict[str, Any]) -> tuple[str, str]:
    return (str(row.get("operation_id")), str(row.get("at", row.get("alert_id", row.get("seq")))))


def _normal_operation(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "id": row.get("operation_id", row.get("id"))}


def _normal_transition(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "from": row.get("from_status", row.get("from")), "to": row.get("to_status", row.get("to"))}
