"""report.html's replay section: the verdict, each business step beside the recorded exchanges it led to and
what the service sent during the replay, the calls the recording lacked and the exchanges nobody asked for."""

from __future__ import annotations

from html import escape
from typing import Any

from .page import command_block
from .words import at

REPLAY_STYLE = """
.verdict{font-size:16px;font-weight:600;padding:8px 12px;margin:10px 0;border-radius:4px}
.verdict.bad{background:#fff5f5;color:#c92a2a;border-left:4px solid #c92a2a}
.verdict.good{background:#ebfbee;color:#2b8a3e;border-left:4px solid #2b8a3e}
table.steps td{vertical-align:top} table.steps td.calls{font-family:monospace;font-size:11px;min-width:250px}
table.steps td.answer{font-size:12px;max-width:150px} table.steps td.differs{background:#fff3bf;font-weight:600}
.scroll{overflow-x:auto} td.t{white-space:nowrap}
.unrec{color:#c92a2a;font-weight:600} .matched{color:#2b8a3e} .never{color:#e67700}
"""
MAX_ROWS = 500


def replay_section(replay: dict[str, Any]) -> str:
    return replay_verdict(replay) + replay_details(replay)


def replay_verdict(replay: dict[str, Any]) -> str:
    """The headline: reproduced, no longer reproduces, violated or passed; the trace and its business source."""
    verdict = str(replay.get("verdict", ""))
    recorded = ", ".join(replay.get("recorded_violations") or [])
    now = ", ".join(replay.get("violations") or [])
    text = {
        "reproduced": f"reproduced: {now}" + (f" (recorded: {recorded})" if set(replay.get("violations") or [])
                                               != set(replay.get("recorded_violations") or []) else ""),
        "no longer reproduces": f"the incident no longer reproduces (recorded: {recorded})",
        "violated": f"violated: {now}",
        "passed": "no check violated",
    }.get(verdict, verdict)
    good = verdict in ("no longer reproduces", "passed")
    steps = replay.get("steps") or []
    out = [f"<div class='verdict {'good' if good else 'bad'}'>{escape(text)}</div>",
           f"<p class=muted>trace {escape(str(replay.get('trace')))} · dialect {escape(str(replay.get('dialect')))} · "
           f"{len(steps)} business operation(s), {escape(str(replay.get('business_source')))}</p>"]
    for note in replay.get("notes") or []:
        out.append(f"<p class=muted>note: {escape(str(note))}</p>")
    return "".join(out)


def replay_details(replay: dict[str, Any]) -> str:
    """The command to run it again, each business step beside the recording, and what did not match."""
    steps = replay.get("steps") or []
    out = []
    out.append(command_block(f"pstnsim replay {replay.get('trace')}", "Replay this trace again:"))
    out.append("<h3 id=replayed>Business steps beside the recording</h3><p class=muted>Times are seconds from the start of the "
               "recording; an answer that differs from the recorded one is highlighted.</p>")
    rows = []
    for step in steps[:MAX_ROWS]:
        numbers = " ".join(f"{k}={escape(str(step[k]))}" for k in ("a", "b") if step.get(k))
        recorded_answer, answer = step.get("recorded_answer"), step.get("answer")
        differs = " differs" if recorded_answer and answer and recorded_answer != answer else ""
        rows.append(
            f"<tr><td>{step['seq']}</td><td class=t>{escape(at(step['offset']))}</td>"
            f"<td><b>{escape(step['op'])} {escape(step['mode'])}</b> x={escape(str(step['x']))} {numbers}</td>"
            f"<td class=answer>{escape(str(recorded_answer or '—'))}</td>"
            f"<td class='answer{differs}'>{escape(str(answer or ''))}</td>"
            f"<td class=calls>{_calls(step.get('recorded') or [], recorded=True)}</td>"
            f"<td class=calls>{_calls(step.get('sent') or [], recorded=False)}</td></tr>"
        )
    out.append("<div class=scroll><table class=steps><tr><th>#</th><th>when</th><th>business operation</th><th>answer recorded</th>"
               "<th>answer now</th><th>recorded exchanges</th><th>what the service sent now</th></tr>"
               + "".join(rows) + "</table></div>")
    if len(steps) > MAX_ROWS:
        out.append(f"<p class=muted>{len(steps) - MAX_ROWS} more step(s) in summary.json.</p>")
    unrecorded = replay.get("unrecorded") or []
    out.append(f"<h3>Calls the recording did not have ({len(unrecorded)})</h3>")
    out.append(_table(unrecorded) if unrecorded else "<p class=muted>None: every call the service made was "
                                                     "answered from the recording.</p>")
    never = replay.get("never_asked") or []
    out.append(f"<h3>Recorded exchanges no call asked for ({len(never)})</h3>")
    out.append(_table(never) if never else "<p class=muted>None.</p>")
    return "".join(out)


def _calls(calls: list[dict[str, Any]], recorded: bool) -> str:
    if not calls:
        return "<span class=muted>none</span>"
    lines = []
    for call in calls[:40]:
        mark = ""
        if recorded:
            mark = " <span class=matched>✓ asked</span>" if call.get("answered") else " <span class=never>never asked</span>"
        elif call.get("unrecorded"):
            mark = " <span class=unrec>UNRECORDED</span>"
        elif call.get("matched") is not None:
            mark = f" <span class=matched>= #{call['matched']}</span>"
        lines.append(f"#{call['seq']} {escape(at(call['offset']))} {escape(call['action'])} → {escape(str(call['outcome']))}{mark}")
    if len(calls) > 40:
        lines.append(f"… {len(calls) - 40} more")
    return "<br>".join(lines)


def _table(calls: list[dict[str, Any]]) -> str:
    rows = "".join(
        f"<tr><td>#{c['seq']}</td><td class=t>{escape(at(c['offset']))}</td><td>{escape(c['action'])}</td>"
        f"<td>{escape(' '.join(f'{k}={v}' for k, v in (c.get('params') or {}).items()))}</td>"
        f"<td>{escape(str(c['outcome']))}</td></tr>"
        for c in calls[:MAX_ROWS]
    )
    more = f"<p class=muted>{len(calls) - MAX_ROWS} more in summary.json.</p>" if len(calls) > MAX_ROWS else ""
    return (f"<table><tr><th>seq</th><th>when</th><th>action</th><th>numbers</th><th>outcome</th></tr>{rows}"
            f"</table>{more}")
