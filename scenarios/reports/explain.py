"""report.html's explanation of one scenario's shown example: which example it is and why, its steps in words,
its timeline with the faults and alerts spelled out, and for a failure the minimal sequence in words, the
evidence in the timeline's frame and the commands that reproduce it."""

from __future__ import annotations

from html import escape
from typing import Any

from .cluster_facts import cluster_facts
from .cluster_svg import INSTANT, NemesisOverlay, replica_chart, state_legend
from .cluster_view import legend_items, nemesis_marks
from .collector import ScenarioRecord
from .evidence import evidence_html, evidence_summary
from .narrative import Section, story
from .page import alerts_table, command_block, crashes_table, faults_table, legend, swatches
from .sequence import FRAME, parse_program, sequence_words
from .svg import timeline, timeline_left
from .words import at

# The machine's rule names, for a rule whose arguments are not known (a passing example has no program).
RULE_TITLES = {
    "burst": "burst of operations", "burst_one_number": "burst of operations on one number",
    "advance_time": "wait", "add_fault": "add a fault rule", "remove_fault": "remove a fault rule",
    "crash_during_burst": "burst, and the core is killed and restarted",
    "crash_during_backoff": "wait, then the core is killed and restarted",
    "expire_at_provider": "the provider expires a binding; the business unbinds it",
    "switch_gray": "change the gray list", "settle": "settle: faults off, wait until quiet, check",
    "rebind_at_doubt_end": "the sweep's race: bind, unbind, bind again as the in-doubt window ends",
}


def zero_of(telemetry: dict[str, Any]) -> dict[str, float]:
    """The origin the example's times are measured from (in-process: the fixed epoch and loop time 0)."""
    from simulator.clock import FIXED_EPOCH

    return telemetry.get("origin") or {"epoch": FIXED_EPOCH, "loop": 0.0}


def which_example(scenario: ScenarioRecord, telemetry: dict[str, Any]) -> str:
    """One sentence: which example the timeline and the steps show, and why that one."""
    examples = scenario.finished.examples if scenario.finished else 0
    if cluster_facts(telemetry) is not None:
        return ("The whole cluster run: its business traffic on the replicas, in real seconds from the start of "
                "traffic, with the nemesis's actions marked at the moments they began (numbered as in the Cluster "
                "box above; a shaded band while one lasted).")
    if scenario.replay is not None:
        return "The replay of the recorded incident (one run of its business operations)."
    if telemetry.get("failing"):
        return ("The failing example: the last example that violated a check, the one whose sequence is listed "
                "above and whose replay command reproduces it (not an earlier example, nor a passing one).")
    number = telemetry.get("example")
    shown = f"example {number} of {examples}" if number else "one example"
    return (f"No example failed. Shown: {shown}, the one whose numbers changed status most often "
            "(the busiest); the charts further down pool every example.")


def story_table(sections: list[Section]) -> str:
    rows = []
    for section in sections:
        span = f"{at(section.start)} – {at(section.end)}" if section.end is not None else f"from {at(section.start)}"
        rows.append(f"<tr class=rule><td class=t></td><td class=what>{escape(section.title)} "
                    f"<span class=muted>({escape(span)})</span></td></tr>")
        if not section.lines:
            rows.append("<tr><td class=t></td><td class='what muted'>nothing happened meanwhile</td></tr>")
        for line in section.lines:
            rows.append(f"<tr class={line.kind}><td class=t>{escape(at(line.t))}</td>"
                        f"<td class=what>{escape(line.text)}</td></tr>")
    return "<table class=story>" + "".join(rows) + "</table>"


def _rule_titles(telemetry: dict[str, Any], program: tuple[str, ...]) -> list[str]:
    numbers, parties = telemetry.get("numbers") or [], telemetry.get("parties") or []
    logged = telemetry.get("rules") or []
    worded = sequence_words(program, numbers, parties) if program else []
    called = [c.rule for c in parse_program(program) if c.rule not in FRAME] if program else []
    if called[: len(logged)] != [r.get("rule") for r in logged]:
        worded = []  # not the same example's program: say only what each rule was
    return [worded[i] if i < len(worded) else RULE_TITLES.get(r.get("rule"), r.get("rule", "?"))
            for i, r in enumerate(logged)]


def ending(scenario: ScenarioRecord) -> str:
    if not scenario.violations:
        return ""
    names = ", ".join(v["check"] for v in scenario.violations)
    if scenario.replay is not None:
        return f"the replay's last step was done; the harness waited until nothing was pending and checked: VIOLATED {names}"
    return f"the harness turned faults off, waited until nothing was pending and checked: VIOLATED {names}"


def example_html(scenario: ScenarioRecord, telemetry: dict[str, Any], failing: bool) -> str:
    """The shown example: which one and why, its timeline with faults and alerts, then its steps in words."""
    program = tuple(scenario.violations[0]["steps"]) if scenario.violations and scenario.replay is None else ()
    facts = cluster_facts(telemetry)
    whole = "the replay" if scenario.replay is not None else "the run" if facts is not None else "the example"
    sections = story(telemetry, _rule_titles(telemetry, program), ending(scenario), whole=whole)
    heading = "The failing example" if failing else "Timeline of the shown example"
    if scenario.replay is not None:
        heading = "The replay"
    steps = story_table(sections)
    if not failing:
        steps = f"<details><summary>its steps in words</summary>{steps}</details>"
    else:
        steps = (f'<h4 id="{escape(scenario.name)}-steps">Step by step</h4>'
                 + ("<p class=muted>Times are real seconds from the start of the traffic, the same as the timeline, "
                    "the nemesis's actions and the evidence.</p>" if facts is not None else
                    "<p class=muted>Times are seconds from the start of this example "
                    "(virtual time in-process, wall-clock time against a service by URL), the same as the timeline "
                    "and the evidence.</p>") + steps)
    if facts is not None:
        heading = "The failing run" if failing else "Timeline of the run"
        return (f'<h3 id="{escape(scenario.name)}-example">{heading}</h3>'
                f"<p class=explain>{escape(which_example(scenario, telemetry))}</p>"
                f"{cluster_timeline(telemetry, facts)}{faults_table(telemetry)}{alerts_table(telemetry, whole='this run')}{steps}")
    return (f'<h3 id="{escape(scenario.name)}-example">{heading}</h3>'
            f"<p class=explain>{escape(which_example(scenario, telemetry))}</p>"
            f"{legend()}{timeline(telemetry)}{faults_table(telemetry)}{crashes_table(telemetry)}"
            f"{alerts_table(telemetry)}{steps}")


def cluster_timeline(telemetry: dict[str, Any], facts: dict[str, Any]) -> str:
    """The numbers' status bars under the nemesis's marks, then each replica's state and traffic on the same
    time axis (the nemesis's effect on who served what)."""
    marks = nemesis_marks(facts)
    end = max([float(telemetry.get("end") or 0.0), *(m.end for m in marks)])
    shown = {**telemetry, "end": end}
    left = timeline_left(list(telemetry.get("timelines") or {})[:12])
    replicas = replica_chart(facts, marks, end, left=left)
    served = ("" if isinstance(facts.get("requests_over_time"), dict) else
              "<p class=muted>This run recorded each replica's total of answered requests, not when it answered "
              "them: the lanes show when each replica could serve.</p>")
    chart = ""
    if replicas:
        cuts = legend_items([m for m in marks if m.action in INSTANT])
        chart = f"<h4>Requests per replica over time</h4>{swatches(state_legend(facts, end) + cuts)}{replicas}{served}"
    return f"{legend(legend_items(marks), crashes=False)}{timeline(shown, overlay=NemesisOverlay(marks))}{chart}"


def failure_html(scenario: ScenarioRecord, telemetry: dict[str, Any]) -> str:
    """Failed checks with their evidence, how to reproduce, the minimal sequence in words."""
    finished = scenario.finished
    zero = zero_of(telemetry)
    anchor = escape(scenario.name)
    whole = "the traffic" if cluster_facts(telemetry) is not None else "the example"
    out = ["<h3>Failed checks</h3>"]
    for violation in scenario.violations:
        out.append(f"<div class=violation><h4>{escape(violation['check'])}: {escape(violation['title'])}</h4>"
                   f"<p>{escape(violation['message'])}</p>"
                   f"<details><summary>evidence: {escape(evidence_summary(violation['details']))} "
                   f"<span class=muted>(times as in the timeline)</span></summary>"
                   f"{evidence_html(violation['details'], zero, whole)}</details></div>")
    first = scenario.violations[0]
    if scenario.replay is not None:  # its command and business steps are in the replay's own section above
        return "".join(out)
    out.append(f'<h3 id="{anchor}-reproduce">Reproduce it</h3>')
    if cluster_facts(telemetry) is not None:  # no Hypothesis: the replay file holds the traffic and the nemesis
        out.append(command_block(first["replay_command"], "Run the same schedule again (the same traffic and "
                                 "nemesis actions at the same times, the same seed):"))
        out.append("<p class=muted>What it cannot repeat is the timing inside the replicas (which one claims an "
                   "operation first, where in an attempt a kill lands): a failure that hangs on such a race may "
                   "need a few runs.</p>")
        return "".join(out)
    out.append(command_block(first["replay_command"], "Replay this exact example with Hypothesis:"))
    if "--replay" in first["replay_command"]:
        out.append("<p class=muted>The same command is saved as replay.sh beside this report "
                   "(<code>sh replay.sh</code> from anywhere). Its blob replays only on the same Hypothesis "
                   "version; the provider trace below replays on any.</p>")
    if finished and finished.failure_trace:
        out.append(command_block(f"pstnsim replay {finished.failure_trace}",
                                 "Or replay its provider trace, without Hypothesis (also after a fix):"))
    numbers, parties = telemetry.get("numbers") or [], telemetry.get("parties") or []
    words = sequence_words(first["steps"], numbers, parties)
    if words:
        items = "".join(f"<li>{escape(w)}</li>" for w in words)
        out.append(f'<h3 id="{anchor}-sequence">Minimal failing sequence</h3><p class=muted>The steps of the '
                   "failing example, as Hypothesis shrank them to the fewest that still fail (unless the run used "
                   f"--no-shrink), in words:</p><ol class=steps>{items}</ol>")
    program = "\n".join(first["steps"]) or "(no steps recorded)"
    out.append(f"<details><summary>as Hypothesis printed it</summary><pre>{escape(program)}</pre></details>")
    return "".join(out)
