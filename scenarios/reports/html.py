"""report.html: one self-contained page (inline CSS and SVG, nothing fetched) for a whole run."""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

from .collector import RunRecord, ScenarioRecord
from .replay_html import REPLAY_STYLE, replay_section
from .svg import ALERT_COLOUR, CRASH_COLOUR, FAULT_COLOUR, STATUS_COLOURS, STRAY_COLOUR, bars, histogram, timeline

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#212529;max-width:1180px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:18px;margin:28px 0 6px;border-bottom:1px solid #dee2e6}
h3{font-size:15px;margin:16px 0 6px}
table{border-collapse:collapse;margin:8px 0} td,th{padding:3px 10px;border-bottom:1px solid #e9ecef;text-align:left}
.pass{color:#2b8a3e;font-weight:600} .fail{color:#c92a2a;font-weight:600} .skip{color:#868e96}
.muted{color:#868e96} .charts{display:flex;flex-wrap:wrap;gap:16px}
figure{margin:0} figcaption{font-weight:600;margin:4px 0}
.chart text.axis,.chart .axis{font-size:10px;fill:#495057} .chart .label{font-size:11px;fill:#212529;font-family:monospace}
pre{background:#f8f9fa;border:1px solid #e9ecef;padding:8px;overflow-x:auto;font-size:12px}
.violation{border-left:4px solid #c92a2a;padding:4px 12px;margin:12px 0;background:#fff5f5}
.legend span{display:inline-block;margin-right:14px} .swatch{display:inline-block;width:12px;height:12px;
vertical-align:middle;margin-right:4px;border-radius:2px}
"""


def _legend() -> str:
    items = [(colour, status) for status, colour in STATUS_COLOURS.items()]
    items += [(FAULT_COLOUR, "injected fault"), (ALERT_COLOUR, "alert"), (CRASH_COLOUR, "core crash"),
              (STRAY_COLOUR, "provider binding the core never held")]
    return "<p class=legend>" + "".join(
        f'<span><i class=swatch style="background:{c}"></i>{escape(label)}</span>' for c, label in items
    ) + "</p>"


def _scenario_section(scenario: ScenarioRecord) -> str:
    finished = scenario.finished
    verdict = "<span class=pass>passed</span>" if scenario.passed else "<span class=fail>FAILED</span>"
    out = [f'<h2 id="{escape(scenario.name)}">{escape(scenario.name)} — {verdict}</h2>']
    if scenario.description:
        out.append(f"<p>{escape(scenario.description)}</p>")
    if finished and finished.failure_trace:
        out.append(f"<p><b>Provider trace of the failing example:</b> {escape(finished.failure_trace)} — replays "
                   f"without Hypothesis:</p><pre>pstnsim replay {escape(finished.failure_trace)}</pre>")
    if finished:
        counts = ", ".join(f"{k}: {v}" for k, v in finished.counts.items())
        out.append(f"<p class=muted>seed {scenario.seed} · dialect {escape(scenario.dialect)} · {finished.examples} example(s) · {finished.steps} step(s) · "
                   f"{finished.virtual_time:.1f} s virtual in {finished.wall_time:.2f} s wall · {escape(counts)}</p>")
        if finished.error:
            out.append(f"<div class=violation><b>The harness failed</b><pre>{escape(finished.error)}</pre></div>")
    if scenario.replay is not None:
        out.append(replay_section(scenario.replay))
    shown: tuple[str, tuple[str, ...]] | None = None
    for violation in scenario.violations:
        steps = "\n".join(violation["steps"]) or "(no steps recorded)"
        details = json.dumps(violation["details"], indent=1, default=str)
        sequence = (violation["replay_command"], tuple(violation["steps"]))
        if sequence == shown:  # several checks failed on the same example: show its program once
            how = "<p class=muted>Same failing sequence and replay command as above.</p>"
        else:
            sequence_label = "Business operations replayed" if scenario.replay is not None else "Minimal failing sequence"
            how = (f"<p><b>Replay:</b></p><pre>{escape(violation['replay_command'])}</pre>"
                   f"<p><b>{sequence_label}:</b></p><pre>{escape(steps)}</pre>")
            shown = sequence
        out.append(
            f"<div class=violation><h3>{escape(violation['check'])}: {escape(violation['title'])}</h3>"
            f"<p>{escape(violation['message'])}</p>{how}"
            f"<details><summary>evidence</summary><pre>{escape(details[:50000])}</pre></details></div>"
        )
    rows = "".join(
        f"<tr><td>{escape(c['name'])}</td><td class={ {'passed': 'pass', 'failed': 'fail'}.get(c['status'], 'skip')}>"
        f"{c['status']}</td><td>{escape(c['description'])}</td><td class=muted>{escape(c.get('reason') or '')}</td></tr>"
        for c in scenario.checks
    )
    out.append(f"<table><tr><th>check</th><th>result</th><th>property</th><th></th></tr>{rows}</table>")
    telemetry = finished.telemetry if finished else {}
    if telemetry:
        which = telemetry.get("label", "")
        out.append(f"<h3>Per-number timeline {escape(which)}</h3>{_legend()}{timeline(telemetry)}")
        out.append('<div class=charts>')
        out.append(histogram(telemetry.get("latencies", []), "Provider call latency (virtual, all examples)", log_scale=True))
        out.append(histogram(telemetry.get("settle_times", []), "Operation time to settle (virtual, all examples)"))
        attempts = {str(k): v for k, v in sorted(telemetry.get("attempts", {}).items(), key=lambda kv: int(kv[0]))}
        out.append(bars(attempts, "Failed attempts per core operation (all examples)"))
        out.append(bars(telemetry.get("fault_counts", {}), "Injected faults by kind (all examples)", colour=FAULT_COLOUR))
        out.append("</div>")
        alerts = telemetry.get("alerts", [])
        if alerts:
            rows = "".join(f"<tr><td>{t:.1f}s</td><td>{escape(x)}</td><td>{escape(m)}</td><td>{a}</td></tr>"
                           for t, x, m, a in alerts[:50])
            out.append(f"<h3>Alerts ({len(alerts)})</h3><table><tr><th>virtual time</th><th>X</th><th>mode</th>"
                       f"<th>attempts</th></tr>{rows}</table>")
    return "".join(out)


def render_html(record: RunRecord) -> str:
    started, finished = record.started, record.finished
    kind = "replay" if any(s.replay is not None for s in record.scenarios.values()) else "chaos run"
    title = f"pstnsim {kind} {started.run_id if started else ''}"
    verdict = "<span class=pass>PASSED</span>" if finished and finished.passed else "<span class=fail>FAILED</span>"
    summary_rows = "".join(
        f'<tr><td><a href="#{escape(s.name)}">{escape(s.name)}</a></td>'
        f"<td class={'pass' if s.passed else 'fail'}>{'passed' if s.passed else 'FAILED'}</td>"
        f"<td>{len(s.violations)}</td><td>{s.finished.examples if s.finished else 0}</td>"
        f"<td>{(s.finished.virtual_time if s.finished else 0):.0f}s</td>"
        f"<td>{(s.finished.wall_time if s.finished else 0):.2f}s</td></tr>"
        for s in record.scenarios.values()
    )
    head = (f"<h1>{escape(title)} — {verdict}</h1><p class=muted>seed {started.seed if started else '?'} · "
            f"mode {escape(started.mode if started else '?')} · "
            f"{(finished.wall_time if finished else 0):.1f} s wall · "
            f"{(finished.virtual_time if finished else 0):.0f} s virtual</p>")
    table = (f"<table><tr><th>scenario</th><th>result</th><th>violations</th><th>examples</th><th>virtual</th>"
             f"<th>wall</th></tr>{summary_rows}</table>")
    sections = "".join(_scenario_section(s) for s in record.scenarios.values())
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{escape(title)}</title>"
            f"<style>{STYLE}{REPLAY_STYLE}</style></head><body>{head}{table}{sections}</body></html>\n")


def write_html(record: RunRecord, path: Path) -> Path:
    path.write_text(render_html(record), encoding="utf-8")
    return path
