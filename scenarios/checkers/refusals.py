"""No spurious refusal: the core answers a bind or unbind with a conflict (409) only when something stood in
its way at that time.

A bind needs its number and mode NOT_BIND, an unbind needs it BIND; a bind also waits while a sweep deletes
stray bindings on the same number and mode. XB and AXB on one X are separate modes, each with its own status:
an AXB request refused because of the XB row's state (or the other way round) is spurious. The core's status
over time comes from its own transition history; the refusals from the harness's history.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from ..history import Outcome
from .breaker import EPS
from .invariants import _need
from .observation import Observation
from .registry import NotApplicable, Violation, check

REQUIRED = {"bind": "NOT_BIND", "unbind": "BIND"}
CONFLICT = re.compile(r"^409\b")


def statuses_during(transitions: list[dict[str, Any]], first: str, start: float, stop: float) -> set[str]:
    """The statuses one number and mode held at some moment in [start, stop], from its transitions in order."""
    status, seen = first, set()
    for t in transitions:
        at = float(t["at"])
        if at > stop:
            break
        if at < start:
            status = t["to"]
            continue
        seen.add(status)
        status = t["to"]
    seen.add(status)
    return seen


@check("no_spurious_refusal")
def no_spurious_refusal(obs: Observation) -> str | None:
    """A bind or unbind refused with a conflict (409) had a reason then: its own mode not in the status it
    needs (or in OPERATION), or, for a bind, a sweep deleting strays on that number and mode."""
    history = _need(obs, "history", "operation history")
    transitions = _need(obs, "transitions", "core transitions")
    if obs.core_epoch is None:
        raise NotApplicable("the service's clock is not tied to the harness's: refusals cannot be placed among its "
                            "status changes")
    if any("at" not in t for t in transitions):
        raise NotApplicable("the service's transitions do not carry their time (at)")
    chains: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for t in sorted(transitions, key=lambda t: float(t["at"])):
        chains[(str(t["x"]), str(t["mode"]))].append(t)
    sweeps: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    for op in obs.operations or []:
        if op.get("kind") == "sweep" and op.get("outcome") in (None, "swept"):
            finished = op.get("finished_at")
            sweeps[(str(op.get("x")), str(op.get("mode")))].append(
                (float(op.get("created_at") or 0.0), float("inf") if finished is None else float(finished)))
    initial = getattr(history, "initial", {}) or {}
    spurious, refusals = [], 0
    for op in history:
        if op.kind not in REQUIRED or op.outcome is not Outcome.FAIL or op.core_operation_id is not None:
            continue
        if not CONFLICT.match(op.detail or "") or op.completed_at is None:
            continue
        refusals += 1
        key = (op.x, op.mode)
        start, stop = op.invoked_at + obs.core_epoch - EPS, op.completed_at + obs.core_epoch + EPS  # core clock
        first = (initial.get(key) or ("NOT_BIND",))[0]
        held = statuses_during(chains.get(key, []), first, start, stop)
        if held - {REQUIRED[op.kind]}:
            continue
        if op.kind == "bind" and any(a <= stop and start <= b for a, b in sweeps.get(key, [])):
            continue
        other = "AXB" if op.mode == "XB" else "XB"
        spurious.append({**op.to_dict(), "statuses_then": sorted(held),
                         f"{other.lower()}_statuses_then": sorted(statuses_during(
                             chains.get((op.x, other), []), (initial.get((op.x, other)) or ("NOT_BIND",))[0],
                             start, stop))})
    if spurious:
        raise Violation(
            "spurious refusal",
            f"{len(spurious)} request(s) refused with a conflict while their own number and mode were in the status "
            "they need and nothing else stood in their way",
            {"refusals": spurious[:20]},
        )
    if not refusals:
        return "no request was refused with a conflict in this run"
    return None
