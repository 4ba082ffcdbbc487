"""The shown example in words, step by step: what the harness asked, what the core sent the provider and what
the faults did to it, how the core's statuses moved, and what the checks found at the end.

Built from the telemetry of one example (scenarios/example_log.py): the machine's rules, the harness's
operations, the core's provider calls (the provider's journal), its transitions and own operations, fault
rules added and removed, crashes, alerts, and provider bindings the core never held. Pure functions.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from typing import Any, Sequence

from .cluster_facts import cluster_facts
from .cluster_view import nemesis_marks
from .words import (
    OUTCOME_WORDS, at, binding_words, fault_label_words, fault_rule_words, operation_words, register_words, seconds,
)

# Within one instant: what the harness did comes first, then the core's calls, then its bookkeeping.
_ORDER = {"fault": 0, "crash": 0, "gray": 0, "op": 1, "call": 2, "wait": 3, "core": 4, "effect": 5, "alert": 6,
          "stray": 6, "end": 7}
MAX_LINES = 400


@dataclass(frozen=True)
class Line:
    t: float
    kind: str  # op | call | wait (a call outlived the core's patience) | core | effect | fault | crash | gray | alert
    # | stray | end
    text: str
    # The rule that did it, when counted (an operation, a fault change, a crash); None: placed by its time.
    rule: int | None = None


@dataclass
class Section:
    """One rule of the machine (or, at the end, the settle that checked) and what happened meanwhile."""

    title: str
    start: float
    end: float | None
    lines: list[Line] = field(default_factory=list)


def events(telemetry: dict[str, Any]) -> list[Line]:
    """Every line of the example, in time order."""
    timeout = float((telemetry.get("policy") or {}).get("provider_timeout") or 0.0)
    owner = _Owners(telemetry.get("rules") or [])
    lines: list[Line] = []
    lines += _operation_lines(telemetry.get("operations") or [], telemetry.get("core_operations") or [], owner)
    for call in telemetry.get("calls") or []:
        lines += _call_lines(call, timeout)
    for change in telemetry.get("transitions") or []:
        ref = f", {change['operation_id']}" if change.get("operation_id") else ""
        version = f"v{change['version']}" if change.get("version") is not None else "no version"
        lines.append(Line(change["t"], "core", f"core: {change.get('mode')} on X={change.get('x')} "
                                               f"{change.get('from')} → {change.get('to')} ({version}{ref})"))
    harness_ids = {op.get("id") for op in telemetry.get("operations") or [] if op.get("id")}
    for op in telemetry.get("core_operations") or []:
        if op.get("id") in harness_ids or op.get("t") is None:
            continue
        ended = f"; ended {op.get('state')}/{op.get('outcome')} at {at(op.get('end'))}" if op.get("end") is not None else ""
        lines.append(Line(op["t"], "core", f"the core queued its own {op.get('kind')} {op.get('id')} for "
                                           f"{binding_words(op.get('mode'), op.get('x'))}{ended}"))
    numbers = telemetry.get("numbers") or []
    for change in telemetry.get("fault_changes") or []:
        if change.get("change") == "added":
            off = "" if change.get("installed", True) else " (nothing on this wire for it to hit: no effect)"
            lines.append(Line(change["t"], "fault", f"fault rule {change.get('id')} added: "
                                                    f"{fault_rule_words(change.get('rule') or {}, numbers)}{off}",
                              owner.next_of("add_fault")))
        else:
            lines.append(Line(change["t"], "fault", f"fault rule {change.get('id')} removed",
                              owner.next_of("remove_fault")))
    facts = cluster_facts(telemetry)
    if facts is not None:  # a cluster's outages are the nemesis's actions, each on a replica it names
        for mark in nemesis_marks(facts):
            lines.append(Line(mark.start, "crash", f"nemesis ({mark.index}): {mark.title.split(' ', 3)[-1]}"))
    for i, (t, downtime) in enumerate([] if facts is not None else telemetry.get("restarts")
                                      or [[t, None] for t in telemetry.get("crashes") or []]):
        back = f"; restarted {seconds(downtime)} later on the same database" if downtime is not None else ""
        lines.append(Line(t, "crash", f"the core was killed mid-work{back}", owner.counted("crashes", i)))
    for i, (t, all_numbers, chosen) in enumerate(telemetry.get("gray_changes") or []):
        which = "every number" if all_numbers else (", ".join(chosen) or "no number")
        lines.append(Line(t, "gray", f"gray list set: the core routes {which} through the new path",
                          owner.counted("gray", i)))
    for t, x, mode, attempts in telemetry.get("alerts") or []:
        lines.append(Line(t, "alert", f"ALERT raised: {mode} on X={x} after {attempts} failed attempt(s)"))
    for start, stop, x, mode, binding_id in telemetry.get("strays") or []:
        until = f"until {at(stop)}" if stop is not None else "and was never deleted"
        lines.append(Line(start, "stray", f"the provider now holds {binding_id} ({mode} on X={x}), a binding the "
                                          f"core never held, {until}"))
    return sorted(lines, key=lambda line: (line.t, _ORDER.get(line.kind, 9)))


def story(telemetry: dict[str, Any], rule_words: Sequence[str] = (), ending: str = "",
          whole: str = "the example") -> list[Section]:
    """The example's lines grouped by the machine's rules. `rule_words`: each logged rule in words (the
    minimal sequence's, when known); `ending`: what the checks found, told after the last rule; `whole`: the
    one section's title when there are no rules (a replay)."""
    lines = events(telemetry)
    rules = telemetry.get("rules") or []
    sections: list[Section] = []
    for i, rule in enumerate(rules):
        title = rule_words[i] if i < len(rule_words) else rule.get("rule", "?")
        sections.append(Section(f"{i + 1}. {title}", float(rule["start"]), float(rule["end"])))
    last_end = sections[-1].end if sections else None
    closing = Section("then: settle and check" if sections else whole, last_end or 0.0, None)
    acting: dict[float, set[int]] = {}
    for line in lines:
        if line.rule is not None:
            acting.setdefault(line.t, set()).add(line.rule)
    ends = [s.end for s in sections]
    for line in lines:
        index = line.rule if line.rule is not None else _by_time(line.t, sections, ends, acting.get(line.t, set()))
        (sections[index] if index < len(sections) else closing).lines.append(line)
    if ending:
        closing.lines.append(Line(float(telemetry.get("end") or closing.start), "end", ending))
    if closing.lines or not sections:
        sections.append(closing)
    return _capped(sections)


def _by_time(t: float, sections: list[Section], ends: list[float | None], acting: set[int]) -> int:
    """The rule a line placed by its time belongs to: the first rule still running at `t`, except that at an
    instant where rules meet, the last of them that did something at that very instant (a burst right after
    a wait: the calls at its first instant are its own)."""
    meeting = [i for i in acting if i < len(sections) and sections[i].start <= t <= (sections[i].end or t)]
    return max(meeting) if meeting else bisect_left(ends, t)  # type: ignore[arg-type]


class _Owners:
    """Which rule issued the n-th operation, crash or gray change (the rules' running counts), and the
    n-th fault rule added or removed (the n-th add_fault / remove_fault rule)."""

    def __init__(self, rules: list[dict[str, Any]]) -> None:
        self.rules = rules
        self.taken: dict[str, int] = {}

    def counted(self, key: str, index: int | None) -> int | None:
        if index is None or not self.rules or any(key not in r for r in self.rules):
            return None
        return bisect_right([int(r[key]) for r in self.rules], index)

    def next_of(self, rule: str) -> int | None:
        positions = [i for i, r in enumerate(self.rules) if r.get("rule") == rule]
        n = self.taken.get(rule, 0)
        self.taken[rule] = n + 1
        return positions[n] if n < len(positions) else (len(self.rules) if self.rules else None)


def _operation_lines(operations: list[dict[str, Any]], core_ops: list[dict[str, Any]], owner: _Owners) -> list[Line]:
    errors = {op.get("id"): op.get("last_error") for op in core_ops if op.get("last_error")}
    lines: list[Line] = []
    reads: dict[tuple[float, str], list[str]] = {}
    read_owner: dict[tuple[float, str], int | None] = {}
    for op in operations:
        rule = owner.counted("ops", op.get("seq"))
        if op.get("kind") == "read":
            reads.setdefault((op["t"], op["x"]), []).append(f"{op['mode']} {register_words(op.get('value'))}")
            read_owner.setdefault((op["t"], op["x"]), rule)
            continue
        asked = operation_words(op)
        if op.get("id"):
            lines.append(Line(op["t"], "op", f"harness: {asked} → accepted as {op['id']}", rule))
            if op.get("end") is not None or op.get("outcome"):
                error = f" (the core's last error: {errors[op['id']]})" if errors.get(op["id"]) else ""
                what = OUTCOME_WORDS.get(str(op.get("outcome")), "still open")
                lines.append(Line(op["end"] if op.get("end") is not None else op["t"], "effect",
                                  f"{op['id']} ({asked}) ended {op.get('detail') or ''}: {what}{error}"))
        else:
            what = OUTCOME_WORDS.get(str(op.get("outcome")), "")
            lines.append(Line(op["t"], "op", f"harness: {asked} → {op.get('detail') or 'no answer'}"
                                             + (f" ({what})" if what else ""), rule))
    for (t, x), seen in reads.items():
        lines.append(Line(t, "op", f"harness: read X={x} → {'; '.join(seen)}", read_owner.get((t, x))))
    return lines


def _call_lines(call: dict[str, Any], timeout: float) -> list[Line]:
    t, took = float(call["t"]), float(call.get("took") or 0.0)
    action = str(call.get("action"))
    if call.get("x"):
        target = binding_words(call.get("mode"), call.get("x"), call.get("a"), call.get("b"))
    else:
        target = str(call.get("binding_id") or "")
    status, fault = call.get("status"), str(call.get("fault") or "")
    answer = "no answer" if status is None else f"HTTP {status}" + (f" {call['code']}" if call.get("code") else "")
    ok = status is not None and 200 <= status < 300
    made = f" ({call['binding_id']})" if call.get("binding_id") and ok and "delete" not in action.lower() else ""
    said = fault_label_words(fault or None, took)
    waited_out = bool(timeout) and took > timeout
    if "ghost" in fault and call.get("hidden_status") is not None:
        said += f"; the provider's own answer was HTTP {call['hidden_status']}" + (
            f" ({call['binding_id']})" if call.get("binding_id") else "")
    terminal = any(kind in fault for kind in ("status", "deadline", "timeout", "reset", "empty_reply", "ghost"))
    if waited_out:
        outcome = (said + "; " if said else f"held {seconds(took)}; ") + \
            f"longer than the core waits ({seconds(timeout)})"
    elif said and terminal:
        outcome = said
    elif said:
        outcome = f"{said}; answered {answer}{made}"
    else:
        outcome = f"{answer}{made}" + (f" after {seconds(took)}" if took >= 0.5 else "")
    lines = [Line(t, "call", f"core → provider: {action} {target} — {outcome}")]
    if waited_out:
        lines.append(Line(round(t + timeout, 3), "wait",
                          f"the core stopped waiting for the {action} it sent at {at(t)}: the outcome is unknown to it"))
        if ok or "ghost" in fault:
            made_id = f", {call['binding_id']}" if call.get("binding_id") else ""
            lines.append(Line(round(t + took, 3), "wait",
                              f"the {action} sent at {at(t)} went through at the provider after all ({answer}"
                              f"{made_id}), after the core had given up"))
    return lines


def _capped(sections: list[Section]) -> list[Section]:
    """At most MAX_LINES lines in all (an unshrunk example can be long): the rest is counted, not told."""
    budget = MAX_LINES
    for section in sections:
        if len(section.lines) > budget:
            dropped = len(section.lines) - budget
            section.lines = section.lines[:budget]
            section.lines.append(Line(section.lines[-1].t if section.lines else section.start, "end",
                                      f"… {dropped} more line(s) not shown"))
        budget = max(budget - len(section.lines), 0)
    return sections
