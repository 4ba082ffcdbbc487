"""report.html: one self-contained page (inline CSS, SVG and a copy-button script, nothing fetched) for a run.

Failures come first: failed scenarios before passed ones and, in each, the failed checks with their evidence,
the commands that reproduce them, the minimal sequence and the failing example's own timeline and steps in
words; then every check (failed, passed, skipped) and the charts pooled over all examples.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from .cluster_facts import cluster_facts, cluster_html
from .cluster_view import backend_words, nemesis_words, run_words
from .collector import RunRecord, ScenarioRecord
from .explain import example_html, failure_html
from .page import SCRIPT, STYLE
from .replay_html import REPLAY_STYLE, replay_details, replay_verdict
from .svg import FAULT_COLOUR, bars, histogram

_STATUS_ORDER = {"failed": 0, "passed": 1, "skipped": 2}
# A scenario's verdict (ScenarioFinished.verdict) as the page shows it: (label, css class).
_VERDICTS = {"passed": ("passed", "pass"), "violated": ("FAILED", "fail"), "harness error": ("HARNESS ERROR", "fail"),
             "vacuous": ("VACUOUS: nothing was checked", "fail"), "interrupted": ("INTERRUPTED", "skip"),
             "reproduced": ("REPRODUCED", "fail"), "no longer reproduces": ("no longer reproduces", "pass")}


def _verdict(scenario: ScenarioRecord) -> tuple[str, str]:
    said = getattr(scenario.finished, "verdict", "") if scenario.finished else ""
    if said in _VERDICTS:
        return _VERDICTS[said]
    return ("passed", "pass") if scenario.passed else ("FAILED", "fail")


def _checks_table(scenario: ScenarioRecord) -> str:
    if not scenario.checks:
        return f'<h3 id="{escape(scenario.name)}-checks">Checks</h3><p class=muted>No check ran.</p>'
    ordered = sorted(scenario.checks, key=lambda c: _STATUS_ORDER.get(c["status"], 3))
    why = any(c.get("reason") for c in ordered)
    rows = "".join(
        f"<tr><td>{escape(c['name'])}</td><td class={ {'passed': 'pass', 'failed': 'fail'}.get(c['status'], 'skip')}>"
        f"{c['status']}</td><td>{escape(c['description'])}</td>"
        + (f"<td class=muted>{escape(c.get('reason') or '')}</td>" if why else "") + "</tr>"
        for c in ordered
    )
    counts = {s: sum(1 for c in scenario.checks if c["status"] == s) for s in _STATUS_ORDER}
    said = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    return (f'<h3 id="{escape(scenario.name)}-checks">Checks ({escape(said) or "none ran"})</h3>'
            "<table><tr><th>check</th><th>result</th><th>property</th>"
            + ("<th>why</th>" if why else "") + f"</tr>{rows}</table>")


def _charts(telemetry: dict, pooled: str, clock: str) -> str:
    attempts = {str(k): v for k, v in sorted(telemetry.get("attempts", {}).items(), key=lambda kv: int(kv[0]))}
    return "".join([
        f"<h3>Distributions ({pooled})</h3><div class=charts>",
        histogram(telemetry.get("latencies", []), f"Provider call latency ({clock} seconds)", log_scale=True),
        histogram(telemetry.get("settle_times", []), f"Operation time to settle ({clock} seconds)"),
        bars(attempts, "Failed attempts per core operation"),
        bars(telemetry.get("fault_counts", {}), "Injected faults by kind", colour=FAULT_COLOUR),
        "</div>",
    ])


def _scenario_section(scenario: ScenarioRecord, clock: str) -> str:
    finished = scenario.finished
    label, css = _verdict(scenario)
    out = [f'<h2 id="{escape(scenario.name)}">{escape(scenario.name)} — <span class={css}>{escape(label)}</span></h2>']
    if scenario.description:
        out.append(f"<p>{escape(scenario.description)}</p>")
    facts = cluster_facts(finished.telemetry) if finished else None
    if finished:
        counts = ", ".join(f"{k}: {v}" for k, v in finished.counts.items())
        if facts is not None:  # real processes in real time: no examples, no virtual clock
            said = (f"{escape(run_words(facts))} · {finished.steps} burst(s) of traffic · "
                    f"{finished.virtual_time:.1f} s real (traffic and settling)")
        else:
            said = (f"{finished.examples} example(s) · {finished.steps} step(s) · "
                    f"{finished.virtual_time:.1f} s {clock}")
        out.append(f"<p class=muted>seed {scenario.seed} · dialect {escape(scenario.dialect)} · "
                   f"{said} in {finished.wall_time:.2f} s wall"
                   + (f" · operations {escape(counts)}" if counts else "") + "</p>")
        note = getattr(finished, "note", "")
        if note:
            out.append(f"<p class=explain>{escape(note)}</p>")
        if facts is not None:
            out.append(cluster_html(facts))
        if finished.error:
            cause = finished.error.strip().splitlines()[-1] if finished.error.strip() else "unknown"
            out.append(f"<div class=violation><h4>The harness failed (not a check): {escape(cause)}</h4>"
                       f"<details><summary>traceback</summary><pre>{escape(finished.error)}</pre></details></div>")
    telemetry = dict(finished.telemetry) if finished else {}
    if scenario.replay is not None:
        out.append(replay_verdict(scenario.replay))
    if scenario.violations:
        out.append(_jump_to(scenario, bool(telemetry.get("timelines") or telemetry.get("operations")),
                            cluster=facts is not None))
        out.append(failure_html(scenario, telemetry))
    if scenario.replay is not None:
        out.append(replay_details(scenario.replay))
    shown = bool(telemetry.get("timelines") or telemetry.get("operations"))
    if shown and scenario.violations:
        out.append(example_html(scenario, telemetry, failing=True))
    out.append(_checks_table(scenario))
    if shown and not scenario.violations:
        out.append(example_html(scenario, telemetry, failing=False))
    if telemetry.get("error"):
        out.append(f"<p class=muted>{escape(str(telemetry['error']))}</p>")
    elif not shown:
        out.append("<p class=muted>No timeline: this run recorded no operation or status change.</p>")
    if telemetry:
        pooled = "this replay" if scenario.replay is not None else "this run" if facts is not None else "all examples"
        out.append(_charts(telemetry, pooled, clock))
    return "".join(out)


def _jump_to(scenario: ScenarioRecord, shown: bool, cluster: bool = False) -> str:
    name = escape(scenario.name)
    places = [("checks", "all checks")]
    if cluster:
        places = [("reproduce", "reproduce it"), *places]
    elif scenario.replay is None:
        places = [("reproduce", "reproduce it"), ("sequence", "minimal sequence"), *places]
    else:
        places = [("replayed", "the steps beside the recording"), *places]
    if shown:
        places[-1:-1] = [("example", "the replay's timeline" if scenario.replay is not None
                          else "the run's timeline" if cluster else "the failing example's timeline"),
                         ("steps", "step by step")]
    links = " · ".join(f'<a href="#{where if where == "replayed" else f"{name}-{where}"}">{what}</a>'
                       for where, what in places)  # a replay page has one scenario: its steps' id is plain
    return f"<nav class=toc>Jump to: {links}</nav>"


def _failed_first(record: RunRecord) -> list[ScenarioRecord]:
    return sorted(record.scenarios.values(), key=lambda s: s.passed)  # stable: file order within each group


def render_html(record: RunRecord) -> str:
    started, finished = record.started, record.finished
    cluster = bool(started and started.mode == "cluster")
    kind = "replay" if any(s.replay is not None for s in record.scenarios.values()) else \
        "chaos cluster" if cluster else "chaos run"
    title = f"pstnsim {kind} {started.run_id if started else ''}"
    verdict = "<span class=pass>PASSED</span>" if finished and finished.passed else "<span class=fail>FAILED</span>"
    if finished is not None and getattr(finished, "interrupted", False):
        verdict = "<span class=skip>INTERRUPTED</span>"
    elif finished is not None and not finished.passed and not finished.violations and \
            getattr(finished, "harness_errors", 0):
        verdict = "<span class=fail>HARNESS ERROR</span>"
    exit_code = getattr(finished, "exit_code", None) if finished is not None else None
    scenarios = _failed_first(record)
    clock = "real" if started and started.mode in ("real-time", "cluster") else "virtual"
    if cluster:
        head, table = _cluster_head(record, scenarios, title, verdict, exit_code)
    else:
        head, table = _head(record, scenarios, title, verdict, exit_code, clock)
    sections = "".join(_scenario_section(s, clock) for s in scenarios)
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{escape(title)}</title>"
            f"<style>{STYLE}{REPLAY_STYLE}</style><script>{SCRIPT}</script></head>"
            f"<body>{head}{table}{sections}</body></html>\n")


def _violated(s: ScenarioRecord) -> str:
    return escape(', '.join(v['check'] for v in s.violations)) or (
        'harness error' if s.finished and s.finished.error else '—')


def _head(record: RunRecord, scenarios: list[ScenarioRecord], title: str, verdict: str, exit_code: int | None,
          clock: str) -> tuple[str, str]:
    """An in-process or by-URL run: examples, and the clock the examples ran on."""
    started, finished = record.started, record.finished
    summary_rows = "".join(
        f'<tr><td><a href="#{escape(s.name)}">{escape(s.name)}</a></td>'
        f"<td class={_verdict(s)[1]}>{escape(_verdict(s)[0])}</td>"
        f"<td>{escape(', '.join(v['check'] for v in s.violations)) or ('harness error' if s.finished and s.finished.error else '—')}</td>"
        f"<td>{s.finished.examples if s.finished else 0}</td>"
        f"<td>{(s.finished.virtual_time if s.finished else 0):.0f} s</td>"
        f"<td>{(s.finished.wall_time if s.finished else 0):.2f} s</td></tr>"
        for s in scenarios
    )
    head = (f"<h1>{escape(title)} — {verdict}</h1><p class=muted>seed {started.seed if started else '?'} · "
            f"mode {escape(started.mode if started else '?')} · "
            f"{(finished.wall_time if finished else 0):.1f} s wall · "
            f"{(finished.virtual_time if finished else 0):.0f} s {clock}"
            + (f" · exit code {exit_code}" if exit_code is not None else "") + "</p>")
    table = (f"<table><tr><th>scenario</th><th>result</th><th>violated checks</th><th>examples</th><th>{clock} time</th>"
             f"<th>wall</th></tr>{summary_rows}</table>")
    return head, table


def _cluster_head(record: RunRecord, scenarios: list[ScenarioRecord], title: str, verdict: str,
                  exit_code: int | None) -> tuple[str, str]:
    """A cluster run: real seconds, and per scenario its replicas, backends and nemesis actions."""
    started, finished = record.started, record.finished
    rows = []
    for s in scenarios:
        facts = cluster_facts(s.finished.telemetry) if s.finished else None
        rows.append(
            f'<tr><td><a href="#{escape(s.name)}">{escape(s.name)}</a></td>'
            f"<td class={_verdict(s)[1]}>{escape(_verdict(s)[0])}</td><td>{_violated(s)}</td>"
            f"<td>{escape(str(facts.get('replicas', '?'))) if facts else '—'}</td>"
            f"<td>{escape(backend_words(facts)) if facts else '—'}</td>"
            f"<td>{escape(nemesis_words(facts)) if facts else '—'}</td>"
            f"<td>{(s.finished.virtual_time if s.finished else 0):.1f} s</td>"
            f"<td>{(s.finished.wall_time if s.finished else 0):.2f} s</td></tr>")
    head = (f"<h1>{escape(title)} — {verdict}</h1><p class=muted>seed {started.seed if started else '?'} · "
            f"mode cluster (real processes, real time) · "
            f"{(finished.virtual_time if finished else 0):.1f} s of traffic and settling in "
            f"{(finished.wall_time if finished else 0):.1f} s wall"
            + (f" · exit code {exit_code}" if exit_code is not None else "") + "</p>")
    table = ("<table><tr><th>scenario</th><th>result</th><th>violated checks</th><th>replicas</th><th>backend</th>"
             "<th>nemesis</th><th>real time</th><th>wall</th></tr>" + "".join(rows) + "</table>")
    return head, table


def write_html(record: RunRecord, path: Path) -> Path:
    path.write_text(render_html(record), encoding="utf-8")
    return path
