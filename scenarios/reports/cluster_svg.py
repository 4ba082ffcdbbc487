"""The cluster run's drawings for report.html (inline SVG): the nemesis's actions over the status timeline,
and one lane per replica showing when it was up, killed or paused, what cut it, and what it served.

Both share the status timeline's time axis (same width, same left margin), so a reader's eye can drop from a
nemesis mark to the numbers' status bars and to the replicas' traffic at the same moment.
"""

from __future__ import annotations

from html import escape
from typing import Any, Callable

from .cluster_view import Mark, replica_spans, served_over_time
from .svg import CHAR_WIDTH, _anchor, _fmt

LABEL_ROW = 12  # px per row of nemesis labels above the lanes
STATE_COLOURS = {"up": "#d3f9d8", "down": "#495057", "paused": "#74c0fc"}
STATE_WORDS = {"up": "up, serving", "down": "killed (down until restarted)", "paused": "paused (SIGSTOP, until resumed)"}
SERVED_COLOUR = "#2b8a3e"
INSTANT = ("cut_db", "cut_broker")


def label_rows(marks: list[Mark], xpos: Callable[[float], float], rows: int = 3) -> list[int]:
    """The row each mark's label goes in: the first row where it overlaps no label already placed."""
    right_ends = [-1e9] * rows
    placed = []
    for mark in marks:
        x, wide = xpos(mark.start), len(mark.label) * CHAR_WIDTH * 0.9
        row = next((r for r in range(rows) if x > right_ends[r] + 3), -1)
        if row >= 0:
            right_ends[row] = x + wide
        placed.append(row)  # -1: no room; its number is in the tooltip and the Cluster box's list
    return placed


class NemesisOverlay:
    """The nemesis's actions over svg.timeline's lanes: each one's label above the lanes (in as many rows as
    keep labels apart), a line from it down through every lane at its start, and a band over the lanes while
    it lasted (a kill's downtime, a pause). An action that was not done has a dotted line."""

    def __init__(self, marks: list[Mark], max_rows: int = 3) -> None:
        self.marks = marks
        self.max_rows = max_rows

    def _rows(self, xpos: Callable[[float], float]) -> tuple[list[int], int]:
        placed = label_rows(self.marks, xpos, self.max_rows)
        return placed, max(placed, default=-1) + 1

    def room(self, xpos: Callable[[float], float]) -> int:
        return LABEL_ROW * self._rows(xpos)[1] + 6 if self.marks else 0

    def draw(self, xpos: Callable[[float], float], top: int, bottom: int) -> list[str]:
        placed, rows = self._rows(xpos)
        rows = max(rows, 1)
        parts = [f'<text x="4" y="{top - 8 - LABEL_ROW * (rows - 1)}" class=axis>nemesis</text>'] if self.marks else []
        for mark, row in zip(self.marks, placed):
            x1, x2 = xpos(mark.start), xpos(mark.end)
            y_label = top - 8 - LABEL_ROW * (rows - 1 - max(row, 0))
            title = f"<title>{escape(mark.title)}</title>"
            if x2 - x1 >= 2:
                parts.append(f'<rect x="{x1:.1f}" y="{top - 4}" width="{x2 - x1:.1f}" height="{bottom - top + 4}" '
                             f'fill="{mark.colour}" fill-opacity="0.10">{title}</rect>')
            dash = "" if mark.done else ' stroke-dasharray="2 2"'
            parts.append(f'<line x1="{x1:.1f}" y1="{y_label + 2}" x2="{x1:.1f}" y2="{bottom}" stroke="{mark.colour}" '
                         f'stroke-width="1.5"{dash}>{title}</line>')
            if row >= 0:
                parts.append(f'<text x="{x1 + 2:.1f}" y="{y_label}" class=axis style="fill:{mark.colour}">'
                             f'{escape(mark.label)}{title}</text>')
        return parts


def replica_chart(facts: dict[str, Any], marks: list[Mark], end: float, left: int = 110, width: int = 1100,
                  lane: int = 26, bins: int = 40) -> str:
    """One lane per replica over the run's real seconds: its state as the background, its database and broker
    cuts as ticks, and the requests it answered per time slice as bars (their count in each bar's tooltip)."""
    end = max(float(end), 1e-9)
    spans = replica_spans(facts, end)
    if not spans:
        return ""
    served = served_over_time(facts, end, bins)
    totals = facts.get("requests_per_replica") or {}
    plot = width - left - 24  # as the status timeline's, so both share one time axis
    top, gap = 8, 6
    height = top + (lane + gap) * len(spans) + 24

    def xpos(t: float) -> float:
        return left + plot * min(max(t, 0.0), end) / end

    parts = [f'<div class=scroll><svg class=chart viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
             f'role="img" aria-label="requests per replica over time">']
    for i in range(6):
        x = xpos(end * i / 5)
        parts.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{height - 20}" stroke="#eee"/>'
                     f'<text x="{x:.1f}" y="{height - 6}" class=axis text-anchor={_anchor(i / 5)}>'
                     f'{_fmt(end * i / 5, end)}</text>')
    peak = max((max(c) for c in (served or {}).values() if c), default=0) or 1
    for row, (replica, states) in enumerate(sorted(spans.items())):
        y = top + row * (lane + gap)
        name = f"replica-{replica}"
        parts.append(f'<text x="{left - 6}" y="{y + 11}" class=label text-anchor=end>{name}</text>')
        total = totals.get(name)
        if total is not None:
            parts.append(f'<text x="{left - 6}" y="{y + lane - 2}" class=axis text-anchor=end>{total} answered</text>')
        for span in states:
            x1, x2 = xpos(span.start), xpos(span.end)
            parts.append(f'<rect x="{x1:.1f}" y="{y}" width="{max(x2 - x1, 0.8):.1f}" height="{lane}" '
                         f'fill="{STATE_COLOURS.get(span.state, "#dee2e6")}"><title>{name} '
                         f'{STATE_WORDS.get(span.state, span.state)} from {_fmt(span.start)} to {_fmt(span.end)}'
                         f'</title></rect>')
        counts = (served or {}).get(name)
        if counts:
            slice_width = plot / len(counts)
            for k, n in enumerate(counts):
                if n:
                    h = (lane - 4) * n / peak
                    t0, t1 = end * k / len(counts), end * (k + 1) / len(counts)
                    parts.append(f'<rect x="{left + k * slice_width + 1:.1f}" y="{y + lane - h:.1f}" '
                                 f'width="{max(slice_width - 2, 0.8):.1f}" height="{h:.1f}" fill="{SERVED_COLOUR}">'
                                 f'<title>{name} answered {n} request(s) from {_fmt(t0)} to {_fmt(t1)}</title></rect>')
        for mark in marks:
            if mark.replica == replica and mark.action in INSTANT:
                x = xpos(mark.start)
                parts.append(f'<line x1="{x:.1f}" y1="{y - 2}" x2="{x:.1f}" y2="{y + lane + 2}" stroke="{mark.colour}" '
                             f'stroke-width="2.5"><title>{escape(mark.title)}</title></line>')
    parts.append("</svg></div>")
    return "".join(parts)


def state_legend(facts: dict[str, Any], end: float) -> list[tuple[str, str]]:
    """The replica lanes' colours: the states some replica was in, and the served bars when recorded."""
    seen = {span.state for spans in replica_spans(facts, max(end, 1e-9)).values() for span in spans}
    items = [(STATE_COLOURS[state], f"replica {STATE_WORDS[state]}") for state in STATE_COLOURS if state in seen]
    if isinstance(facts.get("requests_over_time"), dict):
        items.append((SERVED_COLOUR, "requests it answered (bar height: per time slice)"))
    return items
