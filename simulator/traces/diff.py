"""Two traces compared by meaning (`pstnsim trace diff A B`): recorded vs replayed, yesterday vs today.

Exchanges are aligned, in arrival order, on (dialect, action, normalised parameters) with volatile
parameters left out; the calls that still have no partner pair up by (dialect, action) and position, and
are reported as changed parameters. What is left is missing (in A, not in B) or extra (in B, not in A).
Pairs that B sends in another order than A are reordered. Each pair's outcome is compared: HTTP status,
the business code in the body, the failure the client saw, and the body's fields by name.

Volatile values (request ids, binding ids, assigned X, times, nonces) differ on every run by design and
are ignored unless asked for. Pure functions over `Trace` values; `trace check` (fidelity.py) reuses the outcome
and body comparisons.
"""

from __future__ import annotations

import bisect
import json
import re
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any, Iterable

from .format import Exchange, Trace
from .id_map import IdMap

# Names whose values change from one run to the next by design: ids the provider or the client makes up,
# the X the provider assigns, times, nonces. Both normalised parameter names and wire field names.
VOLATILE_NAMES = frozenset({
    "binding_id", "x", "expiration", "call_id", "request_id", "idempotency_key",
    "RequestId", "ReqId", "OutId", "SubsId", "BindId", "AuthId", "CallId", "SecretNo", "PhoneNoX", "TelX", "VirtualNum",
    "AssignVirtualNum", "Nonce", "SignatureNonce", "Timestamp", "Extension", "SubId",
})
_VOLATILE_SUFFIX = re.compile(r"(_at|_time|Time|Date|Timestamp|Nonce|RequestId|request_id|GmtCreate)$")
# Free text: the wording may differ between providers while the code says the same thing.
FREE_TEXT_NAMES = frozenset({"message", "Message", "Msg", "ErrorMessage", "detail", "hint"})
ABSENT = object()


def is_volatile(name: str) -> bool:
    return name in VOLATILE_NAMES or bool(_VOLATILE_SUFFIX.search(name))


def business_code(dialect: str, body: Any) -> str | None:
    """Aliyun `Code`, Tencent `Response.Error.Code` or `Response.ErrorCode`, Volcengine
    `ResponseMetadata.Error.Code`, native `code` (errors only)."""
    if not isinstance(body, dict):
        return None
    if dialect == "aliyun":
        code = body.get("Code")
    elif dialect == "tencent":
        response = body.get("Response")
        if not isinstance(response, dict):
            return None
        error = response.get("Error")
        code = error.get("Code") if isinstance(error, dict) else response.get("ErrorCode")
    elif dialect == "volcengine":
        meta = body.get("ResponseMetadata")
        error = meta.get("Error") if isinstance(meta, dict) else None
        code = error.get("Code") if isinstance(error, dict) else None
    else:
        code = body.get("code")
    return None if code is None else str(code)


@dataclass(frozen=True)
class Change:
    """One field that differs between the two sides; `a` or `b` is ABSENT when only the other has it."""

    field: str
    a: Any
    b: Any

    def to_dict(self) -> dict[str, Any]:
        presence = "a" if self.b is ABSENT else "b" if self.a is ABSENT else "both"
        return {"field": self.field, "a": None if self.a is ABSENT else self.a,
                "b": None if self.b is ABSENT else self.b, "presence": presence}

    def describe(self, a_name: str = "A", b_name: str = "B") -> str:
        if self.b is ABSENT:
            return f"{self.field} {_show(self.a)} only in {a_name}"
        if self.a is ABSENT:
            return f"{self.field} {_show(self.b)} only in {b_name}"
        if self.field in ("status", "code", "failure"):  # None there means "no answer" / "no code" / "none"
            return f"{self.field} {_outcome(self.a)} -> {_outcome(self.b)}"
        return f"{self.field} {_show(self.a)} -> {_show(self.b)}"


def outcome_changes(dialect: str, a: dict[str, Any] | None, a_failure: Any, b: dict[str, Any] | None,
                    b_failure: Any, *, include_volatile: bool = False) -> list[Change]:
    """Status, business code, failure kind of two answers to the same request, and when those agree, the
    body's fields (an error body and a success body differ in every field: that says nothing more)."""
    changes: list[Change] = []
    a_status = None if a is None else a.get("status")
    b_status = None if b is None else b.get("status")
    if a_status != b_status:
        changes.append(Change("status", a_status, b_status))
    a_body = None if a is None else a.get("body")
    b_body = None if b is None else b.get("body")
    a_code, b_code = business_code(dialect, a_body), business_code(dialect, b_body)
    if a_code != b_code:
        changes.append(Change("code", a_code, b_code))
    a_kind = getattr(a_failure, "kind", None)
    b_kind = getattr(b_failure, "kind", None)
    if a_kind != b_kind:
        changes.append(Change("failure", a_kind, b_kind))
    if a is not None and b is not None and not changes:  # another status or code: another kind of body
        changes.extend(body_changes(a_body, b_body, include_volatile=include_volatile, skip=_code_paths(dialect)))
    return changes


def body_changes(a: Any, b: Any, *, include_volatile: bool = False, skip: Iterable[str] = ()) -> list[Change]:
    """Fields (by path, e.g. `body.bindings[1].status`) present on one side only, and values that differ.
    A whole object or list item on one side only is one change. Volatile values and free text are compared
    by presence only (volatile values too with include_volatile)."""
    changes: list[Change] = []
    _compare(a, b, "", "", set(skip), include_volatile, changes)
    return changes


def _compare(a: Any, b: Any, path: str, name: str, skip: set[str], include_volatile: bool,
             changes: list[Change]) -> None:
    """`name`: the key the value sits under (a list item's: its list's), what volatility is judged by."""
    if path in skip:
        return
    where = f"body.{path}" if path else "body"
    if isinstance(a, dict) and isinstance(b, dict):
        for key in [*a, *(k for k in b if k not in a)]:
            child = f"{path}.{key}" if path else str(key)
            if key not in b or key not in a:
                if child not in skip:
                    changes.append(Change(f"body.{child}", a.get(key, ABSENT), b.get(key, ABSENT)))
            else:
                _compare(a[key], b[key], child, str(key), skip, include_volatile, changes)
        return
    if isinstance(a, list) and isinstance(b, list):
        for index in range(max(len(a), len(b))):
            child = f"{path}[{index}]"
            if index >= len(a) or index >= len(b):
                changes.append(Change(f"body.{child}", a[index] if index < len(a) else ABSENT,
                                      b[index] if index < len(b) else ABSENT))
            else:
                _compare(a[index], b[index], child, name, skip, include_volatile, changes)
        return
    if name in FREE_TEXT_NAMES and isinstance(a, str) and isinstance(b, str):
        return
    if is_volatile(name) and not include_volatile and type(a) is type(b):
        return
    if a != b:
        changes.append(Change(where, a, b))


# ---- aligning two traces ----------------------------------------------------------


@dataclass(frozen=True)
class Difference:
    """kind: missing (A only), extra (B only), reordered, outcome (same call, other answer), params (the
    call at the same position of the same action, with other parameters; outcome changes listed too)."""

    kind: str
    a: Exchange | None
    b: Exchange | None
    changes: tuple[Change, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "a": _exchange_ref(self.a), "b": _exchange_ref(self.b),
                "changes": [c.to_dict() for c in self.changes]}


@dataclass
class TraceDiff:
    a_exchanges: int
    b_exchanges: int
    paired: int
    include_volatile: bool
    differences: list[Difference] = field(default_factory=list)

    @property
    def equal(self) -> bool:
        return not self.differences

    def counts(self) -> dict[str, int]:
        counts = {kind: 0 for kind in ("missing", "extra", "reordered", "outcome", "params")}
        for difference in self.differences:
            counts[difference.kind] += 1
        return counts


def ordered(trace: Trace) -> list[Exchange]:
    """Exchanges in arrival order (a provider writes each when it ends, so file order can differ)."""
    return sorted(trace.exchanges, key=lambda e: (e.offset, e.seq))


def meaning_key(exchange: Exchange, *, include_volatile: bool = False) -> str:
    params = exchange.params if include_volatile else {k: v for k, v in exchange.params.items() if not is_volatile(k)}
    return json.dumps([exchange.dialect, exchange.action, params], sort_keys=True, ensure_ascii=False, default=str)


def diff_traces(a: Trace, b: Trace, *, include_volatile: bool = False) -> TraceDiff:
    left, right = ordered(a), ordered(b)
    pairs, lone_a, lone_b = _align(left, right, include_volatile)
    result = TraceDiff(len(left), len(right), len(pairs), include_volatile)
    moved = _reordered(pairs)
    ids = IdMap()
    for i, j, by_position in pairs:  # in A's order: an id is learned at the call that made it
        ea, eb = left[i], right[j]
        a_response = ea.response
        if not include_volatile and ea.response is not None and eb.response is not None:
            ids.learn(ea.response.get("body"), eb.response.get("body"))
            a_response = ids.apply(ea.response)
        changes = outcome_changes(ea.dialect, a_response, ea.failure, eb.response, eb.failure,
                                  include_volatile=include_volatile)
        if by_position:
            changes = _param_changes(ea, eb, include_volatile) + changes
            result.differences.append(Difference("params", ea, eb, tuple(changes)))
        elif changes:
            result.differences.append(Difference("outcome", ea, eb, tuple(changes)))
        if (i, j) in moved:
            result.differences.append(Difference("reordered", ea, eb))
    result.differences.extend(Difference("missing", left[i], None) for i in lone_a)
    result.differences.extend(Difference("extra", None, right[j]) for j in lone_b)
    result.differences.sort(key=_difference_order)
    return result


def _align(left: list[Exchange], right: list[Exchange], include_volatile: bool
           ) -> tuple[list[tuple[int, int, bool]], list[int], list[int]]:
    """Pairs (A index, B index, paired-by-position), then A's and B's exchanges left without a partner."""
    waiting: dict[str, deque[int]] = defaultdict(deque)
    for i, exchange in enumerate(left):
        waiting[meaning_key(exchange, include_volatile=include_volatile)].append(i)
    pairs: list[tuple[int, int, bool]] = []
    unmatched_b: list[int] = []
    for j, exchange in enumerate(right):
        queue = waiting.get(meaning_key(exchange, include_volatile=include_volatile))
        if queue:
            pairs.append((queue.popleft(), j, False))
        else:
            unmatched_b.append(j)
    unmatched_a = sorted(i for queue in waiting.values() for i in queue)
    # The same action at the same position among the unmatched: one call whose parameters changed.
    by_action_a: dict[tuple[str, str], deque[int]] = defaultdict(deque)
    for i in unmatched_a:
        by_action_a[(left[i].dialect, left[i].action)].append(i)
    lone_b = []
    for j in unmatched_b:
        queue = by_action_a.get((right[j].dialect, right[j].action))
        if queue:
            pairs.append((queue.popleft(), j, True))
        else:
            lone_b.append(j)
    lone_a = sorted(i for queue in by_action_a.values() for i in queue)
    pairs.sort()
    return pairs, lone_a, lone_b


def _reordered(pairs: list[tuple[int, int, bool]]) -> set[tuple[int, int]]:
    """The pairs outside a longest run that keeps A's order in B: the fewest calls that moved."""
    positions = [j for _, j, _ in pairs]  # pairs are in A order
    tails: list[int] = []  # tails[k]: index into positions of the smallest tail of a run of length k+1
    tail_values: list[int] = []
    previous = [-1] * len(positions)
    for n, j in enumerate(positions):
        k = bisect.bisect_left(tail_values, j)
        if k > 0:
            previous[n] = tails[k - 1]
        if k == len(tails):
            tails.append(n)
            tail_values.append(j)
        else:
            tails[k] = n
            tail_values[k] = j
    kept: set[int] = set()
    n = tails[-1] if tails else -1
    while n >= 0:
        kept.add(n)
        n = previous[n]
    return {(pairs[n][0], pairs[n][1]) for n in range(len(pairs)) if n not in kept}


def _param_changes(a: Exchange, b: Exchange, include_volatile: bool) -> list[Change]:
    changes = []
    for name in sorted(a.params.keys() | b.params.keys()):
        if is_volatile(name) and not include_volatile:
            continue
        left, right = a.params.get(name, ABSENT), b.params.get(name, ABSENT)
        if left != right:
            changes.append(Change(f"params.{name}", left, right))
    return changes


def _code_paths(dialect: str) -> tuple[str, ...]:
    """Body paths already compared as the business code."""
    return {"aliyun": ("Code",), "tencent": ("Response.Error.Code", "Response.ErrorCode"),
            "volcengine": ("ResponseMetadata.Error.Code",)}.get(dialect, ("code",))


def _difference_order(difference: Difference) -> tuple[float, int]:
    side = difference.a or difference.b
    assert side is not None
    return (side.offset, {"missing": 0, "params": 1, "outcome": 2, "reordered": 3, "extra": 4}[difference.kind])


def _exchange_ref(exchange: Exchange | None) -> dict[str, Any] | None:
    if exchange is None:
        return None
    return {"seq": exchange.seq, "offset": round(exchange.offset, 6), "dialect": exchange.dialect,
            "action": exchange.action, "params": exchange.params, "status": exchange.status,
            "failure": None if exchange.failure is None else exchange.failure.kind}


def _outcome(value: Any) -> str:
    return "none" if value is None else str(value)


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


# ---- output ---------------------------------------------------------------------


def describe_exchange(exchange: Exchange, *, include_volatile: bool = False) -> str:
    params = ", ".join(f"{k}={v}" for k, v in sorted(exchange.params.items())
                       if include_volatile or not is_volatile(k))
    answer = (f"{exchange.failure.kind}" if exchange.failure is not None and exchange.response is None
              else f"-> {exchange.status}")
    return f"{exchange.dialect} {exchange.action}({params}) {answer}"


def render_text(diff: TraceDiff, a_name: str, b_name: str) -> str:
    counts = diff.counts()
    lines = [f"A: {a_name} ({diff.a_exchanges} exchanges)", f"B: {b_name} ({diff.b_exchanges} exchanges)"]
    if diff.equal:
        lines.append(f"equal by meaning: {diff.paired} exchanges pair up with the same outcomes")
    else:
        summary = ", ".join(f"{n} {kind}" for kind, n in counts.items() if n)
        lines.append(f"{len(diff.differences)} differences: {summary}")
        for difference in diff.differences:
            lines.append(_render_difference(difference, diff.include_volatile))
    if not diff.include_volatile:
        lines.append("volatile fields (request ids, binding ids, assigned X, times, nonces) ignored; "
                     "--include-volatile compares them")
    return "\n".join(lines)


def _render_difference(difference: Difference, include_volatile: bool) -> str:
    a, b = difference.a, difference.b
    if difference.kind == "missing":
        assert a is not None
        return f"  missing    A#{a.seq} {describe_exchange(a, include_volatile=include_volatile)}: not in B"
    if difference.kind == "extra":
        assert b is not None
        return f"  extra      B#{b.seq} {describe_exchange(b, include_volatile=include_volatile)}: not in A"
    assert a is not None and b is not None
    head = f"A#{a.seq} / B#{b.seq} {a.dialect} {a.action}"
    if difference.kind == "reordered":
        return f"  reordered  {head}: at another place in B's order"
    label = "params" if difference.kind == "params" else "outcome"
    return f"  {label:<10} {head}: " + "; ".join(change.describe() for change in difference.changes)


def to_json(diff: TraceDiff, a_name: str, b_name: str) -> dict[str, Any]:
    return {
        "a": {"path": a_name, "exchanges": diff.a_exchanges},
        "b": {"path": b_name, "exchanges": diff.b_exchanges},
        "equal": diff.equal, "paired": diff.paired, "include_volatile": diff.include_volatile,
        "counts": diff.counts(), "differences": [d.to_dict() for d in diff.differences],
    }
