"""Small inline-SVG charts for report.html (no JavaScript, no CDN): timelines, histograms and bar charts.

Every label is laid out inside the drawing: value labels get a top margin, the first and last axis labels are
anchored inwards, and category names too long for their bar are slanted (and shortened past a limit).
"""

from __future__ import annotations

import math
from html import escape
from typing import Any, Sequence

STATUS_COLOURS = {"NOT_BIND": "#d9dde3", "OPERATION": "#f0b429", "BIND": "#2f9e44"}
FAULT_COLOUR = "#e03131"
ALERT_COLOUR = "#7048e8"
CRASH_COLOUR = "#212529"
STRAY_COLOUR = "#fd7e14"
RULE_COLOUR = "#868e96"
CHAR_WIDTH = 6.2  # px per character of a 10px axis label (a generous estimate)
MAX_LABEL_CHARS = 26


def _fmt(t: float, span: float = 10.0) -> str:
    """An axis or tooltip time, as the steps in words write it (without the `t=`); finer on a short span."""
    decimals = 2 if span < 2 else 1 if span < 20 or abs(t) < 10 else 0
    return f"{t:.{decimals}f} s"


def _anchor(frac: float) -> str:
    return "start" if frac <= 0 else "end" if frac >= 1 else "middle"


def timeline_left(numbers: Sequence[str]) -> int:
    """The left margin: room for the longest number (monospace, 11px) and the lane names beside it."""
    return max(110, int(max((len(x) for x in numbers), default=0) * 6.8) + 40)


def timeline(telemetry: dict[str, Any], width: int = 1100, lane: int = 14, max_numbers: int = 12,
             overlay: Any = None) -> str:
    """Per X: one lane per mode coloured by status over virtual time, faults as red ticks, alerts as violet dots,
    and under a lane in orange the life of each provider binding the core never held (a stray: calls to X
    reached someone the core did not know of until it was deleted). Above the lanes, the number of each of the
    machine's rules where it starts (as numbered in the steps in words). `overlay`: marks of the run's own above
    and across the lanes, such as a cluster's nemesis actions (its room(xpos) above the lanes, then its
    draw(xpos, top, bottom))."""
    timelines: dict[str, dict[str, list[list[Any]]]] = telemetry.get("timelines", {})
    numbers = list(timelines)[:max_numbers]
    if not numbers:
        return "<p class=muted>No status changes were recorded.</p>"
    end = max(float(telemetry.get("end") or 0.0), 1e-9)
    left = timeline_left(numbers)
    plot = width - left - 24

    def xpos(t: float) -> float:
        return left + plot * min(max(t, 0.0), end) / end

    top = 34  # room for the rules' numbers
    if overlay:  # and for the run's own marks; without rules (a cluster run) less of the first is needed
        top = (34 if telemetry.get("rules") else 20) + overlay.room(xpos)
    row_height = 2 * lane + 10
    height = top + row_height * len(numbers) + 24

    parts = [f'<div class=scroll><svg class=chart viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
             f'role="img" aria-label="per-number status timeline">']
    for i in range(6):
        t = end * i / 5
        x = xpos(t)
        parts.append(f'<line x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" y2="{height - 20}" stroke="#eee"/>'
                     f'<text x="{x:.1f}" y="{height - 6}" class=axis text-anchor={_anchor(i / 5)}>{_fmt(t, end)}</text>')
    parts.extend(_rule_marks(telemetry.get("rules") or [], xpos, top, height))
    for row, x_number in enumerate(numbers):
        y0 = top + row * row_height
        parts.append(f'<text x="4" y="{y0 + lane + 4}" class=label>{escape(x_number)}</text>')
        for lane_index, mode in enumerate(("XB", "AXB")):
            y = y0 + lane_index * lane
            changes = timelines[x_number].get(mode, [])
            points = [[0.0, "NOT_BIND"], *changes]
            for j, (t, status) in enumerate(points):
                t_next = points[j + 1][0] if j + 1 < len(points) else end
                x1, x2 = xpos(float(t)), xpos(float(t_next))
                colour = STATUS_COLOURS.get(status, "#adb5bd")
                parts.append(f'<rect x="{x1:.1f}" y="{y}" width="{max(x2 - x1, 0.8):.1f}" height="{lane - 2}" '
                             f'fill="{colour}"><title>{mode} {escape(str(status))} from {_fmt(float(t))}</title></rect>')
            parts.append(f'<text x="{left - 4}" y="{y + lane - 4}" class=axis text-anchor=end>{mode}</text>')
            for start, stop, sx, smode, binding_id in telemetry.get("strays", []):
                if sx == x_number and smode == mode:
                    x1, x2 = xpos(float(start)), xpos(float(stop) if stop is not None else end)
                    parts.append(f'<rect x="{x1:.1f}" y="{y + lane - 4}" width="{max(x2 - x1, 1.5):.1f}" height="3" '
                                 f'fill="{STRAY_COLOUR}"><title>stray {escape(str(binding_id))} from {_fmt(float(start))}'
                                 f'{" to " + _fmt(float(stop)) if stop is not None else ", never deleted"}</title></rect>')
        for t, fx, label in telemetry.get("faults", []):
            if fx == x_number:
                x = xpos(float(t))
                parts.append(f'<line x1="{x:.1f}" y1="{y0 - 2}" x2="{x:.1f}" y2="{y0 + 2 * lane}" stroke="{FAULT_COLOUR}" '
                             f'stroke-width="1.5"><title>{escape(str(label))} at {_fmt(float(t))}</title></line>')
        for t, ax, mode, attempts in telemetry.get("alerts", []):
            if ax == x_number:
                x = xpos(float(t))
                parts.append(f'<circle cx="{x:.1f}" cy="{y0 + lane}" r="4" fill="{ALERT_COLOUR}"><title>alert {mode} '
                             f'after {attempts} attempts at {_fmt(float(t))}</title></circle>')
    for t in telemetry.get("crashes", []):
        x = xpos(float(t))
        parts.append(f'<line x1="{x:.1f}" y1="{top - 10}" x2="{x:.1f}" y2="{height - 20}" stroke="{CRASH_COLOUR}" '
                     f'stroke-dasharray="4 3"><title>core crash at {_fmt(float(t))}</title></line>')
    if overlay:
        parts.extend(overlay.draw(xpos, top, height - 20))
    parts.append("</svg></div>")
    return "".join(parts)


def _rule_marks(rules: list[dict[str, Any]], xpos: Any, top: int, height: int) -> list[str]:
    """Each rule's number at its start; rules starting at the same point share one label ("1-3")."""
    groups: dict[int, list[int]] = {}
    for i, rule in enumerate(rules, start=1):
        groups.setdefault(round(xpos(float(rule.get("start") or 0.0))), []).append(i)
    parts = []
    if groups:
        parts.append(f'<text x="4" y="{top - 18}" class=axis>rules</text>')
    last_right = -1e9
    for x, indices in sorted(groups.items()):
        label = str(indices[0]) if len(indices) == 1 else f"{indices[0]}-{indices[-1]}"
        parts.append(f'<line x1="{x}" y1="{top - 14}" x2="{x}" y2="{height - 20}" stroke="{RULE_COLOUR}" '
                     f'stroke-dasharray="1 3"/>')
        if x - len(label) * CHAR_WIDTH / 2 > last_right + 2:  # labels never overlap: a crowded one is left out
            parts.append(f'<text x="{x}" y="{top - 18}" class=axis text-anchor=middle>{label}</text>')
            last_right = x + len(label) * CHAR_WIDTH / 2
    return parts


def histogram(values: Sequence[float], title: str, unit: str = "s", bins: int = 20, width: int = 520,
              height: int = 200, log_scale: bool = False) -> str:
    """A histogram of `values`; with `log_scale` the bins are spaced evenly in log10 (heavy tails)."""
    if not values:
        return f"<figure><figcaption>{escape(title)}</figcaption><p class=muted>no data</p></figure>"
    vals = [max(v, 1e-4) if log_scale else v for v in values]
    lo, hi = min(vals), max(vals)
    if log_scale:
        lo, hi = math.log10(lo), math.log10(hi)
        vals = [math.log10(v) for v in vals]
    if hi - lo < 1e-9:
        hi = lo + 1.0
    counts = [0] * bins
    for v in vals:
        counts[min(int((v - lo) / (hi - lo) * bins), bins - 1)] += 1
    top = max(counts)
    left, right, upper, bottom = 40, 12, 14, 30
    plot_w, plot_h = width - left - right, height - bottom - upper
    bar = plot_w / bins
    parts = [f'<figure><figcaption>{escape(title)} (n={len(values)})</figcaption>'
             f'<svg class=chart viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
             f'aria-label="{escape(title)}">']
    for i, count in enumerate(counts):
        h = plot_h * count / top
        a, b = lo + (hi - lo) * i / bins, lo + (hi - lo) * (i + 1) / bins
        if log_scale:
            a, b = 10 ** a, 10 ** b
        parts.append(f'<rect x="{left + i * bar + 1:.1f}" y="{upper + plot_h - h:.1f}" width="{bar - 2:.1f}" '
                     f'height="{h:.1f}" fill="#1c7ed6"><title>{a:.3g}-{b:.3g}{unit}: {count}</title></rect>')
    for frac in (0, 0.5, 1):
        v = lo + (hi - lo) * frac
        label = 10 ** v if log_scale else v
        parts.append(f'<text x="{left + plot_w * frac:.1f}" y="{height - 10}" class=axis text-anchor={_anchor(frac)}>'
                     f'{label:.3g} {unit}</text>')
    parts.append(f'<text x="{left - 4}" y="{upper + 8}" class=axis text-anchor=end>{top}</text>'
                 f'<line x1="{left}" y1="{upper + plot_h}" x2="{left + plot_w}" y2="{upper + plot_h}" stroke="#888"/>')
    parts.append("</svg></figure>")
    return "".join(parts)


def _short(label: str) -> str:
    return label if len(label) <= MAX_LABEL_CHARS else label[: MAX_LABEL_CHARS - 1] + "…"


def bars(counts: dict[str, int], title: str, width: int = 520, height: int = 200, colour: str = "#f08c00") -> str:
    """A bar per category (e.g. attempts per operation), its count above it and its name below, slanted when
    the name is wider than the bar (the drawing grows to hold it)."""
    if not counts:
        return f"<figure><figcaption>{escape(title)}</figcaption><p class=muted>no data</p></figure>"
    keys = list(counts)
    top = max(counts.values()) or 1
    left, right, upper = 40, 10, 16
    bar = (width - left - right) / len(keys)
    longest = max(len(_short(k)) for k in keys)
    slanted = longest * CHAR_WIDTH > bar - 4
    if slanted:  # the first slanted name reaches left of its bar: make room for it
        left = max(left, int(longest * CHAR_WIDTH * 0.82 - bar / 2) + 6)
        bar = (width - left - right) / len(keys)
    bottom = int(longest * CHAR_WIDTH * 0.6) + 24 if slanted else 30
    plot_h = height - 30 - upper
    total = upper + plot_h + bottom
    parts = [f'<figure><figcaption>{escape(title)}</figcaption><svg class=chart viewBox="0 0 {width} {total}" '
             f'width="{width}" height="{total}" role="img" aria-label="{escape(title)}">']
    for i, key in enumerate(keys):
        h = plot_h * counts[key] / top
        x = left + i * bar
        centre = x + bar / 2
        base = upper + plot_h
        if slanted:
            name = (f'<text x="{centre:.1f}" y="{base + 12}" class=axis text-anchor=end '
                    f'transform="rotate(-35 {centre:.1f} {base + 12})">{escape(_short(key))}</text>')
        else:
            name = f'<text x="{centre:.1f}" y="{base + 16}" class=axis text-anchor=middle>{escape(key)}</text>'
        parts.append(f'<rect x="{x + 2:.1f}" y="{base - h:.1f}" width="{max(bar - 4, 1):.1f}" height="{h:.1f}" '
                     f'fill="{colour}"><title>{escape(key)}: {counts[key]}</title></rect>{name}'
                     f'<text x="{centre:.1f}" y="{base - h - 4:.1f}" class=axis text-anchor=middle>{counts[key]}</text>')
    parts.append("</svg></figure>")
    return "".join(parts)
