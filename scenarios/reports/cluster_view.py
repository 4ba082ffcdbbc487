"""A cluster run's facts (summary.json's "cluster" object) turned into what the views show: words for the
terminal and the page headers, the nemesis's actions as marks on a timeline, and each replica's state and
traffic over time. Pure functions over plain data; the drawing is in cluster_svg.py.

A cluster run plays out in real seconds on N replica processes, so its reports speak of replicas, backends
and nemesis actions rather than of examples and steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .cluster_facts import nemesis_line

# One colour per kind of nemesis action (the timeline's marks and the legend share them).
NEMESIS_COLOURS = {
    "kill": "#212529", "pause": "#1971c2", "cut_db": "#e8590c", "cut_broker": "#0ca678",
    "duplicate": "#ae3ec9", "redeliver": "#ae3ec9", "delivery_limit": "#ae3ec9", "restore": "#868e96",
}
NEMESIS_LEGEND = {
    "kill": "kill and restart of a replica", "pause": "replica paused (SIGSTOP) and resumed",
    "cut_db": "replica's database sessions terminated", "cut_broker": "replica's broker connection cut",
    "duplicate": "broker messages duplicated, redelivered or dead-lettered",
    "restore": "replica restored at the end",
}
_LEGEND_KIND = {"redeliver": "duplicate", "delivery_limit": "duplicate"}
SHORT = {"kill": "kill", "pause": "pause", "cut_db": "cut db", "cut_broker": "cut broker", "duplicate": "dup",
         "redeliver": "redeliver", "delivery_limit": "dead-letter", "restore": "restore"}
NOT_DONE = ("skipped", "error", "cancelled", "running")


@dataclass(frozen=True)
class Mark:
    """One nemesis action on the timeline: from `start` to `end` (an instant when equal)."""

    index: int  # 1-based, as the Cluster box's numbered list shows it
    start: float
    end: float
    action: str
    replica: int | None
    outcome: str
    title: str  # the whole sentence, for the tooltip

    @property
    def label(self) -> str:
        target = f" r{self.replica}" if self.replica is not None else ""
        return f"{self.index} {SHORT.get(self.action, self.action)}{target}"

    @property
    def colour(self) -> str:
        return NEMESIS_COLOURS.get(self.action, "#495057")

    @property
    def done(self) -> bool:
        return self.outcome not in NOT_DONE


def nemesis_marks(facts: dict[str, Any]) -> list[Mark]:
    """Every action that started, in the order of the log (the Cluster box numbers them the same)."""
    marks = []
    for i, record in enumerate(facts.get("nemesis_log") or [], start=1):
        start = record.get("at")
        if not isinstance(start, (int, float)):
            continue
        end = record.get("ended_at")
        end = float(end) if isinstance(end, (int, float)) and end >= start else float(start)
        marks.append(Mark(i, float(start), end, str(record.get("action")), record.get("replica"),
                          str(record.get("outcome")), nemesis_line(record)))
    return marks


def legend_items(marks: list[Mark]) -> list[tuple[str, str]]:
    """(colour, words) for each kind of action the run did, in the legend's order."""
    kinds = []
    for mark in marks:
        kind = _LEGEND_KIND.get(mark.action, mark.action)
        if kind not in kinds:
            kinds.append(kind)
    return [(NEMESIS_COLOURS.get(k, "#495057"), f"nemesis: {NEMESIS_LEGEND.get(k, k)}") for k in kinds]


def nemesis_count(facts: dict[str, Any]) -> tuple[int, int]:
    """(actions done, actions in the log), the end's restore records left out (they are not planned actions)."""
    log = [r for r in facts.get("nemesis_log") or [] if r.get("action") != "restore"]
    return sum(1 for r in log if r.get("outcome") not in NOT_DONE), len(log)


def backend_words(facts: dict[str, Any]) -> str:
    backend = facts.get("backend") or {}
    database = str(backend.get("database") or "?")
    return f"{database} + {backend['broker']}" if backend.get("broker") else database


def nemesis_words(facts: dict[str, Any]) -> str:
    done, total = nemesis_count(facts)
    if not total:
        return "no nemesis action"
    return f"{done} of {total} nemesis action(s) done" if done != total else f"{total} nemesis action(s) done"


def run_words(facts: dict[str, Any]) -> str:
    """"2 replica(s) · postgresql + rabbitmq · 9 nemesis action(s) done" """
    return f"{facts.get('replicas', '?')} replica(s) · {backend_words(facts)} · {nemesis_words(facts)}"


@dataclass(frozen=True)
class Span:
    start: float
    end: float
    state: str  # "up", "down" (killed, until restarted) or "paused" (until resumed)


def replica_spans(facts: dict[str, Any], end: float) -> dict[int, list[Span]]:
    """Each replica's state from the start of traffic (0) to `end`, from the processes' event list."""
    count = int(facts.get("replicas") or 0)
    events = sorted((e for e in facts.get("process_events") or [] if isinstance(e.get("t"), (int, float))),
                    key=lambda e: e["t"])
    count = max([count, *(int(e["replica"]) + 1 for e in events if isinstance(e.get("replica"), int))])
    spans: dict[int, list[Span]] = {}
    for replica in range(count):
        state, since, out = "up", 0.0, []
        for event in (e for e in events if e.get("replica") == replica):
            t = min(max(float(event["t"]), 0.0), end)
            new = {"killed": "down", "paused": "paused", "restarted": "up", "resumed": "up"}.get(event["event"])
            if new is None or new == state:
                continue
            if t > since:
                out.append(Span(since, t, state))
            state, since = new, t
        if end > since:
            out.append(Span(since, end, state))
        spans[replica] = out
    return spans


def served_over_time(facts: dict[str, Any], end: float, bins: int) -> dict[str, list[int]] | None:
    """Answers per replica per time bin, from `requests_over_time` ({"replica-0": [t, ...]}); None when the
    run did not record when each request was answered (only the totals)."""
    timed = facts.get("requests_over_time")
    if not isinstance(timed, dict):
        return None
    width = max(end, 1e-9) / bins
    out = {}
    for name, times in timed.items():
        counts = [0] * bins
        for t in times or []:
            if isinstance(t, (int, float)) and t >= 0:
                counts[min(int(t / width), bins - 1)] += 1
        out[str(name)] = counts
    return out
