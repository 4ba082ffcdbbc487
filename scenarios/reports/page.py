"""What every report page shares: the stylesheet, the copy button (inline script, works from file://), the
command block, the timeline's legend and the tables of faults and alerts shown without hovering."""

from __future__ import annotations

from html import escape
from itertools import count
from typing import Any

from .svg import ALERT_COLOUR, CRASH_COLOUR, FAULT_COLOUR, STATUS_COLOURS, STRAY_COLOUR
from .words import at, fault_label_words, seconds

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#212529;max-width:1180px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:18px;margin:32px 0 6px;border-bottom:1px solid #dee2e6}
h3{font-size:15px;margin:18px 0 6px} h4{font-size:14px;margin:12px 0 4px}
table{border-collapse:collapse;margin:8px 0} td,th{padding:3px 10px;border-bottom:1px solid #e9ecef;text-align:left;
vertical-align:top}
.pass{color:#2b8a3e;font-weight:600} .fail{color:#c92a2a;font-weight:600} .skip{color:#868e96}
.muted{color:#868e96} .charts{display:flex;flex-wrap:wrap;gap:16px}
figure{margin:0} figcaption{font-weight:600;margin:4px 0}
.chart text.axis,.chart .axis{font-size:10px;fill:#495057} .chart .label{font-size:11px;fill:#212529;font-family:monospace}
pre{background:#f8f9fa;border:1px solid #e9ecef;padding:8px;overflow-x:auto;font-size:12px}
.violation{border-left:4px solid #c92a2a;padding:4px 12px;margin:12px 0;background:#fff5f5}
.explain{border-left:4px solid #1c7ed6;padding:4px 12px;margin:12px 0;background:#f4f8fd}
.legend span{display:inline-block;margin-right:14px} .swatch{display:inline-block;width:12px;height:12px;
vertical-align:middle;margin-right:4px;border-radius:2px}
.cmd{display:flex;gap:8px;align-items:flex-start;margin:4px 0 10px}
.cmd code{flex:1;display:block;background:#f8f9fa;border:1px solid #dee2e6;border-radius:4px;padding:7px 9px;
font:12px/1.5 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;white-space:pre-wrap;word-break:break-all}
.cmd button{font:12px system-ui,sans-serif;padding:6px 12px;border:1px solid #adb5bd;border-radius:4px;background:#fff;
cursor:pointer;min-width:64px} .cmd button:hover{background:#e9ecef}
ol.steps li{margin:2px 0} table.story{width:100%} table.story td{padding:2px 8px;border:0;font-size:13px}
table.story td.t{white-space:nowrap;color:#495057;font-family:ui-monospace,Menlo,Consolas,monospace;width:86px}
table.story tr.rule td{padding-top:10px;font-weight:600;border-bottom:1px solid #dee2e6}
table.story tr.fault td.what,table.story tr.crash td.what{color:#c92a2a} table.story tr.alert td.what{color:#5f3dc4}
table.story tr.stray td.what{color:#d9480f} table.story tr.wait td.what{color:#e67700} table.story tr.end td.what{font-weight:600;color:#c92a2a}
table.story tr.core td.what,table.story tr.call td.what{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}
table.evidence td,table.evidence th{font-size:12px} .scroll{overflow-x:auto}
nav.toc{margin:6px 0 4px} td.t{white-space:nowrap}
"""

SCRIPT = """
function pstnsimCopy(button){
  var code=document.getElementById(button.getAttribute('data-target')); var text=code.textContent;
  function said(ok){button.textContent=ok?'copied':'selected: press Ctrl+C';
    setTimeout(function(){button.textContent='copy';},2000);}
  function fallback(){
    var area=document.createElement('textarea'); area.value=text; area.setAttribute('readonly','');
    area.style.position='fixed'; area.style.opacity='0'; document.body.appendChild(area); area.select();
    var ok=false; try{ok=document.execCommand('copy');}catch(e){}
    document.body.removeChild(area);
    if(!ok){var range=document.createRange(); range.selectNodeContents(code);
      var sel=window.getSelection(); sel.removeAllRanges(); sel.addRange(range);}
    said(ok);
  }
  if(navigator.clipboard&&window.isSecureContext){navigator.clipboard.writeText(text).then(function(){said(true);},fallback);}
  else{fallback();}
}
"""

_ids = count(1)


def command_block(command: str, label: str = "") -> str:
    """The command on one logical line (it wraps on screen, never when copied) and a copy button."""
    ident = f"cmd-{next(_ids)}"
    caption = f"<p><b>{escape(label)}</b></p>" if label else ""
    return (f'{caption}<div class=cmd><code id="{ident}">{escape(command)}</code>'
            f'<button type=button data-target="{ident}" onclick="pstnsimCopy(this)">copy</button></div>')


def legend(extra: list[tuple[str, str]] | None = None, crashes: bool = True) -> str:
    """The timeline's colours; `extra`: (colour, words) of marks a run adds (a cluster's nemesis actions, which
    draw its kills themselves: `crashes=False`)."""
    items = [(colour, status) for status, colour in STATUS_COLOURS.items()]
    items += [(FAULT_COLOUR, "injected fault (red tick)"), (ALERT_COLOUR, "alert (violet dot)"),
              (CRASH_COLOUR, "core crash (dashed line)"), (STRAY_COLOUR, "provider binding the core never held")]
    if not crashes:
        items = [item for item in items if item[0] != CRASH_COLOUR]
    items += extra or []
    return swatches(items)


def swatches(items: list[tuple[str, str]]) -> str:
    """A legend line: a coloured square and its words per item."""
    return "<p class=legend>" + "".join(
        f'<span><i class=swatch style="background:{c}"></i>{escape(label)}</span>' for c, label in items
    ) + "</p>"


def is_fault(label: str | None) -> bool:
    """A journal label that is a fault: a replayed answer (`replay:seq=4`) is not, unless it carries one."""
    return bool(label) and not (str(label).startswith("replay:") and "+" not in str(label))


def faults_table(telemetry: dict[str, Any], limit: int = 60) -> str:
    """Each injected fault of the shown example: when, on which call, what it did (the red ticks, spelled out)."""
    calls = [c for c in telemetry.get("calls") or [] if is_fault(c.get("fault"))]
    if calls:
        rows = "".join(
            f"<tr><td class=t>{escape(at(c['t']))}</td><td>{escape(str(c.get('x') or c.get('binding_id') or ''))}</td>"
            f"<td>{escape(str(c.get('action')))} {escape(str(c.get('mode') or ''))}</td>"
            f"<td><code>{escape(str(c['fault']))}</code></td>"
            f"<td>{escape(fault_label_words(c['fault'], float(c.get('took') or 0)))}</td></tr>"
            for c in calls[:limit])
    else:
        faults = telemetry.get("faults") or []
        if not faults:
            return "<p class=muted>No fault was injected into the core's calls in this example.</p>"
        rows = "".join(f"<tr><td class=t>{escape(at(t))}</td><td>{escape(str(x))}</td><td></td>"
                       f"<td><code>{escape(str(label))}</code></td><td>{escape(fault_label_words(str(label)))}</td></tr>"
                       for t, x, label in faults[:limit])
        calls = faults
    more = f"<p class=muted>{len(calls) - limit} more in this example.</p>" if len(calls) > limit else ""
    replayed = any(str(c[2] if isinstance(c, list) else c.get("fault")).startswith(("replay:", "UNRECORDED"))
                   for c in calls)
    title = "Faults replayed from the recording, and calls it lacked" if replayed else "Injected faults"
    return (f"<h4>{title} ({len(calls)})</h4><table><tr><th>when</th><th>X</th><th>call</th><th>fault</th>"
            f"<th>what it did</th></tr>{rows}</table>{more}")


def crashes_table(telemetry: dict[str, Any]) -> str:
    """The core's crashes in the shown example (the dashed lines), with how long it stayed down; "" if none."""
    restarts = telemetry.get("restarts") or [[t, None] for t in telemetry.get("crashes") or []]
    if not restarts:
        return ""
    rows = "".join(f"<tr><td class=t>{escape(at(t))}</td><td>{escape(seconds(d)) if d is not None else '?'}</td></tr>"
                   for t, d in restarts)
    return (f"<h4>Core crashes ({len(restarts)})</h4><table><tr><th>when</th><th>down for (then restarted on the "
            f"same database)</th></tr>{rows}</table>")


def alerts_table(telemetry: dict[str, Any], limit: int = 50, whole: str = "this example") -> str:
    alerts = telemetry.get("alerts") or []
    if not alerts:
        return f"<p class=muted>No alert was raised in {escape(whole)}.</p>"
    rows = "".join(f"<tr><td class=t>{escape(at(t))}</td><td>{escape(str(x))}</td><td>{escape(str(m))}</td><td>{a}</td></tr>"
                   for t, x, m, a in alerts[:limit])
    return (f"<h4>Alerts ({len(alerts)})</h4><table><tr><th>when</th><th>X</th><th>mode</th>"
            f"<th>failed attempts</th></tr>{rows}</table>")
