"""Which business step each provider call belongs to (pure): for the report's step-by-step comparison.

The same rule serves both sides of a replay: the recorded exchanges, and the calls the service made
during the replay (the replay provider's journal, as trace exchanges). A call belongs to the latest
business step, at or before it, on the same numbers:

- a create to the latest bind with its mode, A and B (and X, when the create names one);
- a delete to the latest unbind of its binding's X and mode (the binding known from an answer, or the
  delete's own X), else to the bind that made the binding;
- any other call naming an X (a lookup) to the latest step on that X;
- anything else (a sweep's listing, a restart's recovery) to no step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from simulator.traces.format import BusinessOperation, Exchange

from .business import ALIYUN_MODES, MODES, Binding, answered_bindings, create_mode, kind_of

# Calls are stamped after the business request that caused them; allow for clocks read a little apart.
SLACK = 0.001


@dataclass
class Attribution:
    by_step: dict[int, list[int]] = field(default_factory=dict)  # business seq -> exchange seqs
    unattributed: list[int] = field(default_factory=list)


def attribute(business: Iterable[BusinessOperation], exchanges: Iterable[Exchange],
              accepted: set[int] | None = None) -> Attribution:
    """`accepted`: the business seqs the service took on (it answered with an operation id), when known:
    of several steps on the same numbers at one instant, calls belong to the one it took on."""
    business = list(business)
    steps = sorted(business, key=lambda op: (op.offset, op.seq))
    if accepted:  # a step the service refused made no call: leave it out of the candidates
        refused = {op.seq for op in steps if op.seq not in accepted}
        steps = [op for op in steps if op.seq not in refused]
    out = Attribution({op.seq: [] for op in business})
    known: dict[str, Binding] = {}
    step_of_binding: dict[str, BusinessOperation] = {}
    made_at: dict[str, float] = {}
    for ex in sorted(exchanges, key=lambda e: (e.offset, e.seq)):
        before = [op for op in steps if op.offset <= ex.offset + SLACK]
        answered = answered_bindings(ex)
        kind = kind_of(ex)
        step: BusinessOperation | None = None
        if kind == "create":
            step = _bind_step(ex, before, known)
            for found in answered:
                known.setdefault(found.binding_id, found)
                made_at.setdefault(found.binding_id, ex.offset)
                if step is not None:
                    step_of_binding.setdefault(found.binding_id, step)
        elif kind == "delete":
            binding_id = str(ex.params.get("binding_id") or "")
            binding = known.get(binding_id)
            mode = binding.mode if binding and binding.mode in MODES else ALIYUN_MODES.get(ex.action)
            x = (binding.x if binding else None) or ex.params.get("x")
            step = _latest(before, lambda op: op.op == "unbind" and op.x == x and (mode is None or op.mode == mode))
            maker = step_of_binding.get(binding_id)
            if maker is not None and (step is None or step.offset < made_at.get(binding_id, 0.0)):
                step = maker  # no unbind since the binding was made: a clean-up of what that bind left
        else:
            for found in answered:
                known.setdefault(found.binding_id, found)
            x = ex.params.get("x")
            if x:
                step = _latest(before, lambda op: op.x == x)
        if step is None:
            out.unattributed.append(ex.seq)
        else:
            out.by_step[step.seq].append(ex.seq)
    return out


def _bind_step(ex: Exchange, before: list[BusinessOperation], known: dict[str, Binding]) -> BusinessOperation | None:
    mode = create_mode(ex)
    a, b, x = ex.params.get("a"), ex.params.get("b"), ex.params.get("x")
    if ex.dialect == "aliyun" and ex.action == "BindAXBCall":
        work = known.get(str(ex.params.get("binding_id")))
        b, x = (work.b, work.x) if work else (None, None)
    return _latest(before, lambda op: op.op == "bind" and op.mode == mode and (mode == "XB" or op.a == a)
                   and (b is None or op.b == b) and (x is None or op.x == x))


def _latest(steps: list[BusinessOperation], wanted) -> BusinessOperation | None:  # type: ignore[no-untyped-def]
    for op in reversed(steps):
        if wanted(op):
            return op
    return None
