"""What a replay will do, read from a trace (pure): the business operations at their offsets, what else the
recorded run did to the service (crashes, gray changes, reads, provider-side expiries), and how the
bundled core is configured to stand in for the recorded service.

A trace written by a failing chaos example (`recorder = "pstnsim chaos"`) carries all of that in its
header's meta; any other trace (recorded through `pstnsim record`, imported from HAR, written by the
provider's `--trace`) gives its business lines or, lacking them, the operations inferred from its calls
(business.py), and the core runs with its defaults.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from simulator.traces.format import DIALECTS, BusinessOperation, Trace, TraceError

from ..checkers import CHECKS
from ..scenario_file import Scenario, ScenarioError, Workload, parse_scenario
from .business import infer_business

DEFAULT_SEED = 7
FROM_LINES = "the trace's business lines"
INFERRED = "inferred from the recorded calls"


@dataclass(frozen=True)
class Event:
    """One thing to do at an offset: a business operation, a read, a crash, a gray change, an expiry."""

    offset: float
    kind: str  # bind | unbind | read | crash | gray | expire
    order: int  # ties at one offset keep the recorded order
    operation: BusinessOperation | None = None
    x: str | None = None
    downtime: float = 0.0
    gray_all: bool = False
    numbers: tuple[str, ...] = ()
    binding_id: str | None = None
    step: int | None = None  # the chaos rule that did it (an index into ReplayPlan.steps), when recorded


@dataclass(frozen=True)
class Step:
    """A chaos machine rule, as recorded: its name and when it ended (offset)."""

    rule: str
    end: float


@dataclass
class ReplayPlan:
    path: Path
    trace: Trace
    name: str
    dialect: str
    seed: int
    scenario: Scenario  # what the world is built from: the core's configuration, no fault plan
    business: list[BusinessOperation]
    business_source: str
    events: list[Event]
    numbers: list[str]  # the X numbers the replay manages (checks look at these)
    parties: list[str]  # callers for the routing probes
    recorded_violations: tuple[str, ...]
    checks: tuple[str, ...] | None
    outage_downtime: float = 0.0
    notes: list[str] = field(default_factory=list)
    inferred_exchanges: dict[int, list[int]] = field(default_factory=dict)
    # A chaos failure's rule boundaries (empty for other traces) and what the service answered each
    # business line when it was recorded (business seq -> text).
    steps: list[Step] = field(default_factory=list)
    recorded_answers: dict[int, str] = field(default_factory=dict)
    recorded_accepted: set[int] = field(default_factory=set)  # business seqs the service took on (op id)

    @property
    def duration(self) -> float:
        ends = [e.offset for e in self.events] + [x.offset + x.latency for x in self.trace.exchanges]
        return max(ends, default=0.0)


class ReplayError(ValueError):
    """A trace that cannot be replayed; the message names the file (and line when it applies)."""


def plan_replay(trace: Trace, *, seed: int | None = None) -> ReplayPlan:
    path = trace.path or Path("<trace>")
    meta = trace.header.meta or {}
    dialect = _dialect(trace, path)
    notes: list[str] = []
    inferred: dict[int, list[int]] = {}
    if trace.business:
        business, source = sorted(trace.business, key=lambda op: (op.offset, op.seq)), FROM_LINES
    else:
        found = infer_business(x for x in trace.exchanges if x.dialect == dialect)
        business, source, inferred = found.operations, INFERRED, found.exchanges_of
        notes.extend(found.notes)
    if not business:
        raise ReplayError(f"{path}: nothing to replay: the trace has no business lines and no binding creates or "
                          "deletes to infer them from")
    scenario = _scenario(meta, path, dialect)
    steps = [Step(str(item.get("rule", "")), _number(item, "end", path, "steps")) for item in _list(meta, "steps", path)]
    answers = {int(item["seq"]): item for item in _list(meta, "business", path) if isinstance(item.get("seq"), int)}
    if trace.business and len(answers) != len(trace.business):
        answers = {}  # business lines edited by hand: the recorded answers no longer line up
    events = _events(business, meta, path, answers, steps)
    numbers = sorted({op.x for op in business} | {str(n) for n in meta.get("numbers") or [] if n})
    parties = [str(p) for p in meta.get("parties") or []] or sorted(
        {n for op in business for n in (op.a, op.b) if n})
    checks = _checks(meta, path)
    recorded = tuple(str(c) for c in meta.get("violated") or [])
    return ReplayPlan(
        path=path, trace=trace, name=str(meta.get("scenario") or _stem(path)), dialect=dialect,
        seed=seed if seed is not None else _int(meta.get("seed"), DEFAULT_SEED), scenario=scenario,
        business=business, business_source=source, events=events, numbers=numbers, parties=parties,
        recorded_violations=recorded, checks=checks, outage_downtime=float(meta.get("outage_downtime") or 0.0),
        notes=notes, inferred_exchanges=inferred, steps=steps,
        recorded_answers={seq: f"{a.get('outcome')}: {a.get('answer')}" for seq, a in answers.items()},
        recorded_accepted={seq for seq, a in answers.items() if a.get("operation_id")},
    )


def _dialect(trace: Trace, path: Path) -> str:
    seen = {x.dialect for x in trace.exchanges}
    named = str((trace.header.meta or {}).get("dialect") or "")
    candidates = [named] if named else ([*seen] if len(seen) == 1 else list(trace.header.dialects))
    if len(candidates) != 1:
        raise ReplayError(f"{path}:1: the trace's calls use {len(seen) or len(candidates)} dialects "
                          f"({', '.join(sorted(seen or set(candidates))) or 'none'}): a replay drives one service "
                          "on one wire")
    dialect = candidates[0]
    if dialect not in DIALECTS:
        raise ReplayError(f"{path}:1: dialect {dialect!r} cannot be replayed; known: {', '.join(DIALECTS)}")
    return dialect


def _scenario(meta: dict[str, Any], path: Path, dialect: str) -> Scenario:
    """The world's scenario: the recorded core configuration and provider table, no faults (the trace
    answers as recorded), the recorded gray mode and call probes."""
    workload_meta = meta.get("workload") or {}
    core = meta.get("core") or {}
    provider = meta.get("provider") or {}
    try:
        parsed = parse_scenario({"name": "replay", "core": core, "provider": provider}, origin=f"{path}:1 meta")
    except ScenarioError as exc:
        raise ReplayError(str(exc)) from None
    gray = str(workload_meta.get("gray", "all"))
    if gray not in ("all", "none", "switch"):
        raise ReplayError(f"{path}:1: meta.workload.gray must be all, none or switch, got {gray!r}")
    workload = Workload(gray=gray, calls=bool(workload_meta.get("calls", True)))
    name = str(meta.get("scenario") or _stem(path))
    return Scenario(name=name if name.replace("_", "").replace("-", "").replace(".", "").isalnum() else "replay",
                    description=str(meta.get("description") or ""), workload=workload, faults=(),
                    core={**parsed.core, "provider": {**parsed.core.get("provider", {}), "dialect": dialect}},
                    provider=parsed.provider, source=path)


def _events(business: list[BusinessOperation], meta: dict[str, Any], path: Path, answers: dict[int, dict[str, Any]],
            steps: list[Step]) -> list[Event]:
    events = [Event(op.offset, op.op, i, operation=op, x=op.x, step=_step(answers.get(op.seq, {})))
              for i, op in enumerate(business)]
    base = len(events)
    for i, item in enumerate(_list(meta, "reads", path)):
        events.append(Event(_number(item, "offset", path, "reads"), "read", base + i, x=str(item.get("x")),
                            step=_step(item)))
    base = len(events)
    for i, item in enumerate(_list(meta, "crashes", path)):
        events.append(Event(_number(item, "offset", path, "crashes"), "crash", base + i,
                            downtime=float(item.get("downtime") or 0.0), step=_step(item)))
    base = len(events)
    for i, item in enumerate(_list(meta, "gray", path)):
        events.append(Event(_number(item, "offset", path, "gray"), "gray", base + i, gray_all=bool(item.get("all")),
                            numbers=tuple(str(n) for n in item.get("numbers") or []), step=_step(item)))
    base = len(events)
    ends = [step.end for step in steps]
    for i, item in enumerate(_list(meta, "expiries", path)):
        offset = _number(item, "offset", path, "expiries")
        events.append(Event(offset, "expire", base + i, x=item.get("x"), binding_id=str(item.get("binding_id")),
                            step=bisect_left(ends, offset) if steps else None))
    # Rule by rule when the rules are known; at one offset the recorded order of business operations, and a
    # crash after the operations it cut into.
    rank = {"gray": 0, "bind": 1, "unbind": 1, "read": 1, "expire": 1, "crash": 2}
    if all(e.step is not None for e in events):
        return sorted(events, key=lambda e: (e.step, e.offset, rank[e.kind], e.order))
    events = [replace(e, step=None) for e in events]  # partly recorded rules: offsets alone decide
    return sorted(events, key=lambda e: (e.offset, rank[e.kind], e.order))


def _step(item: dict[str, Any]) -> int | None:
    step = item.get("step")
    return step if isinstance(step, int) and not isinstance(step, bool) and step >= 0 else None


def _checks(meta: dict[str, Any], path: Path) -> tuple[str, ...] | None:
    names = meta.get("checks")
    if not names:
        return None
    unknown = [n for n in names if n not in CHECKS.checks]
    if unknown:
        raise ReplayError(f"{path}:1: meta.checks names unknown check(s) {', '.join(map(str, unknown))}")
    return tuple(names)


def _list(meta: dict[str, Any], key: str, path: Path) -> list[dict[str, Any]]:
    value = meta.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ReplayError(f"{path}:1: meta.{key} must be a list of objects")
    return value


def _number(item: dict[str, Any], name: str, path: Path, key: str) -> float:
    value = item.get(name)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
        raise ReplayError(f"{path}:1: meta.{key}: every item needs {name} (seconds >= 0), got {value!r}")
    return float(value)


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".jsonl", ".trace"):
        name = name.removesuffix(suffix)
    return name or "trace"


__all__ = ["ReplayError", "ReplayPlan", "Event", "plan_replay", "TraceError", "FROM_LINES", "INFERRED"]
