"""The replay beside the recording (pure): per business step, the recorded exchanges it led to and what the
service actually sent (each call matched to a recorded exchange, or UNRECORDED), every call the
recording did not have, and the recorded exchanges nobody asked for.

The service's calls come from the replay provider's journal, turned into trace exchanges; its journal
label says which recorded line answered (`replay:seq=N...`) or `UNRECORDED`. The harness's own calls (the
routing probes, a provider-side expiry) are left out: they are not the service's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable

from simulator.traces.format import BusinessOperation, Exchange
from simulator.traces.recording import fault_parts

from ..history import Operation
from .attribution import attribute
from .business import answer_body
from .plan import INFERRED, ReplayPlan

MATCHED = re.compile(r"replay:seq=(\d+)")
UNRECORDED = "UNRECORDED"


@dataclass
class Comparison:
    steps: list[dict[str, Any]] = field(default_factory=list)
    unrecorded: list[dict[str, Any]] = field(default_factory=list)
    never_asked: list[dict[str, Any]] = field(default_factory=list)
    matched: int = 0
    sent: int = 0
    other_sent: list[dict[str, Any]] = field(default_factory=list)  # matched calls tied to no step (sweeps...)


def matched_seq(label: str | None) -> int | None:
    found = MATCHED.search(label or "")
    return int(found.group(1)) if found else None


def compare(plan: ReplayPlan, sent: list[Exchange], answers: dict[int, Operation], speed: float = 1.0) -> Comparison:
    """`sent`: the service's calls during the replay, offsets from the replay's start (real seconds when
    `speed` != 1: they are put back on the recording's time scale here)."""
    recorded = {x.seq: x for x in plan.trace.exchanges if x.dialect == plan.dialect}
    on_recorded_time = [_rescaled(x, speed) for x in sent]
    if plan.business_source == INFERRED:
        recorded_of = plan.inferred_exchanges
    else:
        recorded_of = attribute(plan.business, recorded.values(), plan.recorded_accepted).by_step
    taken_on = {seq for seq, op in answers.items() if op.core_operation_id}
    sent_by_step = attribute(plan.business, on_recorded_time, taken_on)
    by_seq = {x.seq: x for x in on_recorded_time}
    asked = {matched_seq(x.fault) for x in on_recorded_time} - {None}
    out = Comparison(matched=sum(1 for x in on_recorded_time if matched_seq(x.fault) is not None),
                     sent=len(on_recorded_time))
    for op in plan.business:
        answer = answers.get(op.seq)
        out.steps.append({
            **_step(op),
            "answer": _answer(answer),
            "recorded_answer": plan.recorded_answers.get(op.seq),
            "recorded": [summary(recorded[s], answered=s in asked) for s in recorded_of.get(op.seq, []) if s in recorded],
            "sent": [summary(by_seq[s]) for s in sent_by_step.by_step.get(op.seq, [])],
        })
    out.unrecorded = [summary(x) for x in on_recorded_time if x.fault == UNRECORDED]
    out.other_sent = [summary(by_seq[s]) for s in sent_by_step.unattributed]
    out.never_asked = [summary(x, answered=False) for seq, x in sorted(recorded.items()) if seq not in asked]
    return out


def summary(exchange: Exchange, answered: bool | None = None) -> dict[str, Any]:
    """One call as the report shows it: when, what, on which numbers, what came back."""
    params = {k: exchange.params[k] for k in ("x", "a", "b", "binding_id", "mode") if exchange.params.get(k)}
    out: dict[str, Any] = {"seq": exchange.seq, "offset": round(exchange.offset, 3), "action": exchange.action,
                           "params": params, "outcome": outcome_text(exchange)}
    label = exchange.fault or ""
    if label == UNRECORDED:
        out["unrecorded"] = True
    elif matched_seq(label) is not None:
        out["matched"] = matched_seq(label)
    elif label:
        out["fault"] = label
    if answered is not None:
        out["answered"] = answered
    return out


def outcome_text(exchange: Exchange) -> str:
    """`200`, `503 (applied: the answer was lost)`, `timeout after 2s`, `reset`..."""
    failure = exchange.failure
    if failure is not None and exchange.response is None:
        after = f" after {failure.after:g}s" if failure.after is not None else ""
        # A replayed timeout is journaled as no answer; its label says what it was.
        kind = "timeout" if "timeout" in fault_parts(exchange.fault) else failure.kind
        text = f"{kind}{after}"
    else:
        status = exchange.status
        body = exchange.response.get("body") if exchange.response else None
        code = None
        if isinstance(body, dict):
            inner = body.get("Response") if isinstance(body.get("Response"), dict) else body
            error = inner.get("Error") if isinstance(inner.get("Error"), dict) else {}
            code = error.get("Code") or inner.get("code") or (inner.get("Code") if inner.get("Code") not in
                                                                ("OK", "0000") else None)
        text = f"{status} {code}" if code else str(status)
        if failure is not None:
            text += f" ({failure.kind})"
    hidden = exchange.applied and exchange.provider_response is not None and answer_body(exchange) is not None \
        and (exchange.status is None or exchange.status >= 300 or failure is not None)
    if hidden:
        text += " — applied, the answer was lost"
    return text


def _step(op: BusinessOperation) -> dict[str, Any]:
    return {"seq": op.seq, "offset": round(op.offset, 3), "op": op.op, "mode": op.mode, "x": op.x, "a": op.a, "b": op.b}


def _answer(op: Operation | None) -> str:
    if op is None:
        return "not driven"
    outcome = op.outcome.value if op.outcome else "open"
    return f"{outcome}: {op.detail}" if op.detail else outcome


def _rescaled(exchange: Exchange, speed: float) -> Exchange:
    if speed == 1.0:
        return exchange
    from dataclasses import replace

    return replace(exchange, offset=exchange.offset * speed)


def service_calls(entries: Iterable[Any], dialect: str) -> list[Any]:
    """The journal entries that are the service's calls on its wire (not the harness's probes)."""
    from .capture import is_core_call

    return [e for e in entries if is_core_call(e, dialect)]
