"""Per-key linearizability of a history against the binding register (Wing & Gong search, memoised).

The model: each key (x, mode) is a register holding NOT_BIND, BIND(b) or
BIND(a, b). A bind succeeds only from NOT_BIND, an unbind only from BIND, a
refused one changes nothing, and a read sees the value.
Operations whose outcome is unknown (`info`) may take effect at any point after
their invoke, or never. Keys are independent, so each is checked alone
(P-compositionality), which keeps the search small. Porcupine (Go) and Knossos
(Clojure) are the references for the search; this is the same idea, cut down.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

from ..history import Key, Operation, Outcome

NOT_BIND: tuple[str, ...] = ("NOT_BIND",)
# Above this many operations on one key the search is cut off and reported as undecided.
MAX_OPERATIONS_PER_KEY = 400
MAX_SEARCH_STATES = 200_000


@dataclass(frozen=True)
class KeyVerdict:
    key: Key
    linearizable: bool | None  # None: undecided (search budget exhausted)
    operations: tuple[Operation, ...]
    explanation: str = ""


def bound(value: tuple[str, ...]) -> tuple[str, ...]:
    return ("BIND", *value)


def step(state: tuple[str, ...], op: Operation) -> tuple[bool, tuple[str, ...]]:
    """Apply `op` (with its observed outcome) to the register: (is this legal here, the next state).

    A refused operation (conflict, bad state, settled back after dead-lettering) never changed the
    register, and the register does not model the transient OPERATION state that makes a refusal
    legal even when the register is free: so a refusal is legal anywhere and changes nothing.
    """
    if op.outcome is Outcome.FAIL:
        return True, state
    if op.kind == "read":
        return (op.outcome is Outcome.INFO or state == op.value), state
    if op.kind == "bind":
        return state == NOT_BIND, bound(op.value or ())
    if op.kind == "unbind":
        return state != NOT_BIND, NOT_BIND
    raise ValueError(f"unknown operation kind {op.kind!r}")


def check_key(
    key: Key, operations: Iterable[Operation], initial: tuple[str, ...] = NOT_BIND, explain: bool = True
) -> KeyVerdict:
    """Search for a linearization of one key's operations; memoised on (linearized set, state)."""
    ops = [op for op in operations if op.outcome is not None]
    ops.sort(key=lambda op: op.invoked_at)
    if len(ops) > MAX_OPERATIONS_PER_KEY:
        return KeyVerdict(key, None, tuple(ops), f"{len(ops)} operations: over the search limit")
    required = 0
    for i, op in enumerate(ops):
        if op.outcome is not Outcome.INFO:
            required |= 1 << i
    returns = [op.completed_at if op.completed_at is not None else math.inf for op in ops]
    seen: set[tuple[int, tuple[str, ...]]] = set()
    budget = [MAX_SEARCH_STATES]

    def search(done: int, state: tuple[str, ...]) -> bool | None:
        if done & required == required:
            return True
        if (done, state) in seen:
            return False
        seen.add((done, state))
        budget[0] -= 1
        if budget[0] < 0:
            return None
        # No operation may be linearized after one that returned before it was invoked.
        horizon = min(returns[i] for i in range(len(ops)) if not done >> i & 1)
        undecided = False
        for i, op in enumerate(ops):
            if done >> i & 1 or op.invoked_at > horizon:
                continue
            legal, after = step(state, op)
            if not legal:
                continue
            found = search(done | 1 << i, after)
            if found:
                return True
            undecided = undecided or found is None
        return None if undecided else False

    verdict = search(0, initial)
    if verdict is None:
        return KeyVerdict(key, None, tuple(ops), "search budget exhausted")
    if verdict:
        return KeyVerdict(key, True, tuple(ops))
    return KeyVerdict(key, False, tuple(ops), _explain(ops, initial) if explain else "")


def _explain(ops: list[Operation], initial: tuple[str, ...]) -> str:
    """The shortest prefix (by invoke order) that already has no linearization: the part to look at."""
    for end in range(1, len(ops) + 1):
        prefix = ops[:end]
        # Operations still running at the cut are unknown, not failed.
        cut = ops[end - 1].invoked_at
        trimmed = []
        for op in prefix:
            if op.completed_at is not None and op.completed_at > cut and op is not ops[end - 1]:
                trimmed.append(_as_unknown(op))
            else:
                trimmed.append(op)
        if check_key(ops[0].key, trimmed, initial, explain=False).linearizable is False:
            return f"no serial order explains the first {end} operation(s) on this key"
    return "no serial order explains these operations"


def _as_unknown(op: Operation) -> Operation:
    copy = Operation(**{**op.__dict__})
    copy.outcome, copy.completed_at = Outcome.INFO, None
    return copy


def check_history(operations: Iterable[Operation], initial: dict[Key, tuple[str, ...]] | None = None) -> list[KeyVerdict]:
    """One verdict per key, keys in first-seen order; `initial` gives a key's value before the history."""
    keyed: dict[Key, list[Operation]] = {}
    for op in operations:
        keyed.setdefault(op.key, []).append(op)
    initial = initial or {}
    return [check_key(key, ops, initial.get(key, NOT_BIND)) for key, ops in keyed.items()]
