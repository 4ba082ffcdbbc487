"""The minimal failing sequence in words: Hypothesis prints it as Python (`state.burst(ops=[...])`); this reads
that program back into rule calls and says each in a sentence, with the machine's indices turned into the
numbers they stood for. Pure functions; a line it cannot read is shown as written.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any, Sequence

from .words import fault_rule_words, number_at, seconds

OFFSET_SLOTS = 10  # scenarios.machine: a burst's start offsets fall on this many slots of its spread
# Rules that are the machine's frame, not steps of the workload.
FRAME = ("start_world", "teardown")


@dataclass(frozen=True)
class RuleCall:
    rule: str
    args: dict[str, Any]
    source: str  # the program's text for it, as printed


def parse_program(lines: Sequence[str]) -> list[RuleCall]:
    """`state.rule(k=v, ...)` statements (continuation lines joined) in order; `state = ...` is skipped."""
    statements: list[str] = []
    for line in lines:
        if not line.strip():
            continue
        if line.startswith("state.") or not statements:
            statements.append(line)
        else:
            statements[-1] += "\n" + line
    calls = []
    for text in statements:
        if not text.startswith("state."):
            continue
        try:
            node = ast.parse(text.strip(), mode="eval").body
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                raise ValueError(text)
            args = {kw.arg: ast.literal_eval(kw.value) for kw in node.keywords if kw.arg}
            calls.append(RuleCall(node.func.attr, args, text))
        except (SyntaxError, ValueError):
            name = text[len("state."):].split("(", 1)[0]
            calls.append(RuleCall(name, {}, text))
    return calls


def _party_pair(parties: Sequence[str], a: int, b: int) -> tuple[str, str]:
    """The machine's (a, b) indices: B never equals A (index b skips a)."""
    return number_at(parties, a), number_at(parties, b if b < a else b + 1)


def burst_words(ops: Sequence[Any], numbers: Sequence[str], parties: Sequence[str], only_x: int | None = None) -> str:
    said = []
    slots = []
    for item in ops:
        try:
            (kind, mode), xi, ai, bi, slot = item
        except (TypeError, ValueError):
            said.append(str(item))
            continue
        x = number_at(numbers, only_x if only_x is not None else xi)
        a, b = _party_pair(parties, ai, bi)
        if kind == "bind":
            said.append(f"bind {mode} on X={x} " + (f"A={a} B={b}" if mode == "AXB" else f"B={b}"))
        elif kind == "read":
            said.append(f"read X={x}")
        else:
            said.append(f"{kind} {mode} on X={x}")
        slots.append(slot)
    if not said:
        return "nothing"
    if len(set(slots)) <= 1:
        when = "all at once" if len(said) > 1 else ""
    else:
        when = "staggered over the burst (start slots " + ", ".join(map(str, slots)) + f" of {OFFSET_SLOTS})"
    return "; ".join(said) + (f" — {when}" if when else "")


def race_words(race: Sequence[Any], numbers: Sequence[str], parties: Sequence[str]) -> str:
    """One race of rebind_at_doubt_end (machine.py) in words."""
    try:
        xi, mode, ai, bi, same, hold, lead = race
    except (TypeError, ValueError):
        return str(race)
    a, b = _party_pair(parties, ai, bi)
    pair = f"A={a} B={b}" if mode == "AXB" else f"B={b}"
    when = f"{seconds(abs(lead))} {'before' if lead < 0 else 'after'} its in-doubt window ends"
    return (f"bind {mode} on X={number_at(numbers, xi)} {pair} (the provider holds its first create "
            f"{seconds(hold)}), unbind it once bound, bind X again {when}, "
            + ("with the same numbers" if same else "with another B"))


def rule_words(call: RuleCall, numbers: Sequence[str] = (), parties: Sequence[str] = ()) -> str:
    """One rule call as a sentence."""
    a = call.args
    name = call.rule
    if name == "start_world":
        picked = ", ".join(numbers) if numbers else "the scenario's virtual numbers"
        return f"start: a fresh provider and core; virtual numbers {picked}"
    if name == "burst" and "ops" in a:
        return f"burst of {len(a['ops'])}: {burst_words(a['ops'], numbers, parties)}"
    if name == "burst_one_number" and "ops" in a:
        return f"burst of {len(a['ops'])} on one number: {burst_words(a['ops'], numbers, parties, a.get('x'))}"
    if name == "advance_time" and "seconds" in a:
        return f"wait {seconds(a['seconds'])}"
    if name == "add_fault" and "rule" in a:
        return f"add a fault: {fault_rule_words(a['rule'], numbers)}"
    if name == "remove_fault":
        return "remove one of the added fault rules"
    if name == "crash_during_burst":
        ops = a.get("ops") or []
        burst = f"burst of {len(ops)}: {burst_words(ops, numbers, parties)}; " if ops else ""
        return (f"{burst}kill the core {seconds(a.get('crash_at', 0))} in, restart it after "
                f"{seconds(a.get('downtime', 0))}")
    if name == "crash_during_backoff":
        return (f"wait {seconds(a.get('wait', 0))} (retries in backoff), kill the core, restart it after "
                f"{seconds(a.get('downtime', 0))}")
    if name == "expire_at_provider":
        return (f"the provider expires the {a.get('mode')} binding on X={number_at(numbers, a.get('x'))}; "
                "the business then unbinds it")
    if name == "rebind_at_doubt_end" and "races" in a:
        return "the sweep's race: " + "; ".join(race_words(r, numbers, parties) for r in a["races"])
    if name == "switch_gray":
        if a.get("all_numbers"):
            return "gray list: every number on the new path"
        mask = int(a.get("mask") or 0)
        chosen = [number_at(numbers, i) for i in range(max(len(numbers), mask.bit_length())) if mask >> i & 1]
        return "gray list: " + (", ".join(chosen) or "no number") + " on the new path"
    if name == "settle":
        return "settle: faults off, wait until nothing is pending, then check every invariant"
    if name == "teardown":
        return "end of the example: settle once more and check"
    return call.source.replace("state.", "", 1)


def sequence_words(program: Sequence[str], numbers: Sequence[str] = (), parties: Sequence[str] = ()) -> list[str]:
    """The program's steps in words, without the machine's frame (start and teardown)."""
    calls = [c for c in parse_program(program) if c.rule not in FRAME]
    return [rule_words(c, numbers, parties) for c in calls]
