"""A violation's evidence as tables a person reads, with every time in the timeline's frame.

The checks hand over plain data (lists of rows: bindings, operations, calls) whose times are epoch seconds
(the provider's and the core's clocks) or loop seconds (the harness's history). Here each time field becomes
seconds from the example's start, the same `t=` the timeline and the steps in words use.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any, Mapping

from .words import at

MAX_ROWS = 40
EPOCH_FLOOR = 1e8  # scenarios.example_log: epoch seconds are this large, loop seconds are not


def is_time_key(key: str) -> bool:
    return key in ("at", "t", "until") or key.endswith("_at") or key.endswith("_until")


def relative_times(value: Any, zero: Mapping[str, float], key: str = "") -> Any:
    """`value` with every time field as seconds from the example's origin (rounded to the millisecond)."""
    if isinstance(value, dict):
        return {k: relative_times(v, zero, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [relative_times(v, zero, key) for v in value]
    if is_time_key(key) and isinstance(value, (int, float)) and not isinstance(value, bool):
        base = zero.get("epoch", 0.0) if value >= EPOCH_FLOOR else zero.get("loop", 0.0)
        return round(float(value) - base, 3)
    return value


def _cell(value: Any, key: str = "") -> str:
    if value is None:
        return "<span class=muted>—</span>"
    if is_time_key(key) and isinstance(value, (int, float)) and not isinstance(value, bool):
        return escape(at(value))
    if isinstance(value, dict):
        shown = [_pair(str(k), v) for k, v in value.items() if v not in (None, {}, [])]
        return "<br>".join(shown) or "<span class=muted>—</span>"
    if isinstance(value, list):
        if value and all(isinstance(v, dict) for v in value):  # rows inside a cell: one compact line each
            return "<br>".join(escape(", ".join(_pair(str(k), v) for k, v in row.items() if v not in (None, {}, [])))
                               for row in value[:MAX_ROWS])
        return escape(", ".join(_plain(v) for v in value))
    return escape(str(value))


def _pair(key: str, value: Any) -> str:
    """`status=BIND`, or for a time `created_at t=2.50 s`."""
    if is_time_key(key) and isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{escape(key)} {at(value)}"
    return f"{escape(key)}={_plain(value, key)}"


def _plain(value: Any, key: str = "") -> str:
    if is_time_key(key) and isinstance(value, (int, float)) and not isinstance(value, bool):
        return at(value)
    if isinstance(value, dict):
        return "{" + ", ".join(_pair(str(k), v) for k, v in value.items() if v is not None) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_plain(v) for v in value) + "]"
    return escape(str(value))


def _table(rows: list[dict[str, Any]]) -> str:
    columns: list[str] = []
    for row in rows[:MAX_ROWS]:
        for key in row:
            # A column of nothing but empty containers says nothing; a None can (expected: None = rejected).
            if key not in columns and any(r.get(key) not in ("", {}, []) for r in rows[:MAX_ROWS]):
                columns.append(key)
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_cell(row.get(c), c)}</td>" for c in columns) + "</tr>"
                   for row in rows[:MAX_ROWS])
    more = f"<p class=muted>{len(rows) - MAX_ROWS} more row(s) in summary.json.</p>" if len(rows) > MAX_ROWS else ""
    return f"<table class=evidence><tr>{head}</tr>{body}</table>{more}"


def evidence_summary(details: dict[str, Any]) -> str:
    """`mismatches (1), duplicates: none` — what the evidence holds, for its folded heading."""
    said = []
    for key, value in details.items():
        name = str(key).replace("_", " ")
        if isinstance(value, list):
            said.append(f"{name} ({len(value)})" if value else f"{name}: none")
        elif not isinstance(value, dict):
            said.append(f"{name}: {value}")
    return ", ".join(said)


def evidence_html(details: dict[str, Any], zero: Mapping[str, float], whole: str = "the example") -> str:
    """Tables for the lists, a line for each plain value, then the whole as JSON (times converted too, to seconds
    from the start of `whole`)."""
    converted = relative_times(details, zero)
    parts = []
    for key, value in converted.items():
        label = escape(str(key).replace("_", " "))
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            parts.append(f"<p><b>{label}</b> ({len(value)})</p><div class=scroll>{_table(value)}</div>")
        elif isinstance(value, list) and not value:
            parts.append(f"<p><b>{label}</b>: none</p>")
        else:
            parts.append(f"<p><b>{label}</b>: {_cell(value, str(key))}</p>")
    raw = json.dumps(converted, indent=1, default=str)[:50000]
    parts.append(f"<details><summary>as JSON (times in seconds from {escape(whole)}'s start)</summary>"
                 f"<pre>{escape(raw)}</pre></details>")
    return "".join(parts)
