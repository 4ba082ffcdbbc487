"""A cluster run's reports (hand-built events, no processes): they speak of real seconds, replicas, backends and
nemesis actions, mark each action on the timeline with its replica, and show which replica served what and
when one was down or paused. An in-process run's reports do not change."""

from __future__ import annotations

import io
import re
from html import unescape

from rich.console import Console

from scenarios.events import (
    CheckFailed, CheckPassed, EventBus, ExampleDone, RunFinished, RunStarted, ScenarioFinished, ScenarioStarted,
    StepDone,
)
from scenarios.reports import ReportFiles
from scenarios.reports.terminal import TerminalReport

X = "13783016613"

FACTS = {
    "replicas": 2, "duration": 20.0, "seed": 7, "lease": 3.0,
    "backend": {"database": "postgresql", "database_name": "pstnsim_c_7_ab", "broker": "rabbitmq",
                "broker_namespace": "pstnsim-c-7-cd"},
    "nemesis_log": [
        {"at": 2.0, "planned_at": 2.0, "action": "kill", "replica": 0, "params": {"downtime": 1.5},
         "outcome": "done", "details": {"down_for": 1.5}, "ended_at": 3.5},
        {"at": 6.0, "planned_at": 6.0, "action": "pause", "replica": 1, "params": {"past_lease": 1.0},
         "outcome": "done", "details": {"paused_for": 4.0}, "ended_at": 10.0},
        {"at": 11.0, "planned_at": 11.0, "action": "cut_db", "replica": 0, "params": {}, "outcome": "done",
         "details": {"terminated": 1}, "ended_at": 11.01},
        {"at": 14.0, "planned_at": 14.0, "action": "cut_broker", "replica": 1, "params": {}, "outcome": "done",
         "details": {}, "ended_at": 14.0},
        {"at": 16.0, "planned_at": 16.0, "action": "duplicate", "replica": None, "params": {"messages": 1},
         "outcome": "done", "details": {"messages": [{"op": "op_7"}]}, "ended_at": 16.4},
        {"at": 18.0, "planned_at": 18.0, "action": "kill", "replica": 1, "params": {}, "outcome": "skipped",
         "details": {"reason": "not running"}, "ended_at": 18.0},
    ],
    "process_events": [
        {"t": -0.3, "event": "started", "replica": 0}, {"t": -0.2, "event": "started", "replica": 1},
        {"t": 2.0, "event": "killed", "replica": 0}, {"t": 3.5, "event": "restarted", "replica": 0},
        {"t": 6.0, "event": "paused", "replica": 1}, {"t": 10.0, "event": "resumed", "replica": 1},
        {"t": 14.0, "event": "broker cut", "replica": 1},
    ],
    "requests_per_replica": {"replica-0": 5, "replica-1": 4},
    # When each answer came, per replica (seconds from the start of traffic).
    "requests_over_time": {"replica-0": [0.5, 1.0, 7.0, 8.0, 9.0], "replica-1": [0.7, 4.0, 12.0, 15.0]},
    "settle": {"limit": 40.0, "quiet": True, "took": 0.5},
    "replay_command": "pstnsim chaos cluster c.toml --replicas 2 --db postgresql://x/test --seed 7 --replay r.json",
}
TELEMETRY = {"end": 21.0, "timelines": {X: {"XB": [[1.0, "OPERATION"], [4.0, "BIND"]], "AXB": []}},
             "faults": [[2.5, X, "status 503"]], "alerts": [], "latencies": [0.01], "settle_times": [3.0],
             "attempts": {}, "fault_counts": {"status": 1}, "cluster": FACTS}


def emit_cluster_run(tmp_path, failing: bool = False) -> tuple[str, str]:
    files, out = ReportFiles(), io.StringIO()
    bus = EventBus([files, TerminalReport(Console(file=out, width=120))])
    bus.emit(RunStarted(0.0, "run-c", 7, ("cluster_demo",), "cluster", str(tmp_path / "run-c")))
    bus.emit(ScenarioStarted(0.1, "cluster_demo", 7, "two replicas", 1, 3, "native", time_budget=20.0))
    for step in (1, 2, 3):
        bus.emit(StepDone(0.1 + step * 6, "cluster_demo", 0, step, "burst", step * 6.0))
    bus.emit(ExampleDone(21.0, "cluster_demo", 0, 3, 21.0))
    bus.emit(CheckPassed(21.1, "cluster_demo", "no_operation_left", "1. nothing left in OPERATION"))
    if failing:
        bus.emit(CheckFailed(21.2, "cluster_demo", "liveness", "5. ends in time", "operation did not end in time",
                             "1 accepted operation took too long", {"operations": []}, (),
                             FACTS["replay_command"]))
    bus.emit(ScenarioFinished(21.5, "cluster_demo", 7, not failing, 1, 3, 21.0, 24.0, {"ok": 3, "fail": 1},
                              TELEMETRY, verdict="violated" if failing else "passed"))
    bus.emit(RunFinished(22.0, "run-c", not failing, 1, int(failing), 24.0, 21.0, str(tmp_path / "run-c"),
                         exit_code=int(failing)))
    return (tmp_path / "run-c" / "report.html").read_text(), out.getvalue()


def visible(html: str) -> str:
    """The page's text as a reader sees it (tooltips left out)."""
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", re.sub(r"<title>.*?</title>", "", html))))


def test_the_page_speaks_of_replicas_backends_and_nemesis_actions_in_real_seconds(tmp_path):
    html, _ = emit_cluster_run(tmp_path)
    text = visible(html)
    assert "pstnsim chaos cluster run-c" in text
    assert "virtual" not in text and "example(s)" not in text and "all examples" not in text
    head = text[: text.index("Cluster ")]
    assert "2 replica(s) · postgresql + rabbitmq · 5 of 6 nemesis action(s) done" in head
    assert "3 burst(s) of traffic · 21.0 s real" in head
    assert "replicas backend nemesis real time" in head  # the summary table's columns


def test_the_timeline_marks_each_nemesis_action_with_its_replica_and_a_legend_entry(tmp_path):
    html, _ = emit_cluster_run(tmp_path)
    timeline = html[html.index('aria-label="per-number status timeline"'):]
    timeline = timeline[: timeline.index("</svg>")]
    labels = re.findall(r"<text [^>]*style=\"fill:[^\"]+\">([^<]+)<title>", timeline)
    assert labels == ["1 kill r0", "2 pause r1", "3 cut db r0", "4 cut broker r1", "5 dup", "6 kill r1"]
    assert "at 2.00 s kill replica 0 (down_for 1.5): done" in timeline  # the whole action in its tooltip
    legend = visible(html[: html.index('aria-label="per-number status timeline"')])
    for words in ("nemesis: kill and restart of a replica", "nemesis: replica paused (SIGSTOP) and resumed",
                  "nemesis: replica's database sessions terminated", "nemesis: replica's broker connection cut",
                  "nemesis: broker messages duplicated, redelivered or dead-lettered"):
        assert words in legend
    assert "core crash" not in legend  # the kills are the nemesis's marks


def test_the_replica_chart_shows_who_served_what_and_when_each_was_down_or_paused(tmp_path):
    html, _ = emit_cluster_run(tmp_path)
    assert "Requests per replica over time" in visible(html)
    chart = html[html.index('aria-label="requests per replica over time"'):]
    chart = chart[: chart.index("</svg>")]
    assert "replica-0 killed (down until restarted) from 2.0 s to 3.5 s" in chart
    assert "replica-1 paused (SIGSTOP, until resumed) from 6.0 s to 10.0 s" in chart
    answered = re.findall(r"(replica-\d) answered (\d+) request", chart)
    assert sum(int(n) for r, n in answered if r == "replica-0") == 5
    assert sum(int(n) for r, n in answered if r == "replica-1") == 4
    assert "5 answered" in chart and "4 answered" in chart
    assert "at 11.00 s cut_db replica 0" in chart and "at 14.00 s cut_broker replica 1" in chart


def test_the_steps_in_words_tell_each_nemesis_action_on_its_replica(tmp_path):
    html, _ = emit_cluster_run(tmp_path)
    steps = visible(html[html.index("its steps in words"):])
    assert "t=2.00 s nemesis (1): kill replica 0 (down_for 1.5): done" in steps
    assert "t=6.00 s nemesis (2): pause replica 1 (paused_for 4.0): done" in steps
    assert "the core was killed" not in steps


def test_without_answer_times_the_chart_still_shows_the_replicas_states_and_says_what_is_missing(tmp_path):
    saved = FACTS.pop("requests_over_time")
    try:
        html, _ = emit_cluster_run(tmp_path)
    finally:
        FACTS["requests_over_time"] = saved
    assert "replica-0 killed (down until restarted)" in html
    assert "not when it answered them" in visible(html)


def test_a_failed_cluster_check_is_reproduced_by_the_cluster_replay_not_hypothesis(tmp_path):
    html, _ = emit_cluster_run(tmp_path, failing=True)
    text = visible(html)
    assert "Run the same schedule again" in text and FACTS["replay_command"] in text
    assert "Hypothesis" not in text and "example" not in text.replace("examples", "")


def test_the_terminal_says_bursts_real_seconds_replicas_and_nemesis(tmp_path):
    _, out = emit_cluster_run(tmp_path)
    assert "virtual" not in out and "example" not in out
    assert "cluster_demo: 3 burst(s) of traffic over 20 real seconds, with the nemesis" in out
    assert "cluster_demo: 1/3 bursts" in out
    assert "passed (2 x postgresql+rabbitmq, nemesis 5/6 done, 3 bursts, 21.0 s real" in out
    table = out.split("chaos cluster summary")[1]
    assert re.search(r"cluster_demo +passed .* 2 x postgresql\+rabbitmq +5/6 +21\.0", table)
    assert "chaos cluster summary" in out and "cluster_demo" in out.split("chaos cluster summary")[1]
    assert "21 s of traffic and settling (real time)" in out


def test_an_in_process_run_keeps_its_examples_virtual_time_and_plain_timeline(tmp_path):
    from tests.scenarios.test_reports import emit_run

    _, out = emit_run(tmp_path, failing=False)
    html = (tmp_path / "run-1" / "report.html").read_text()
    assert "240 s virtual" in out and "chaos summary" in out
    assert "3 example(s) · 30 step(s) · 120.0 s virtual" in visible(html)
    assert "nemesis" not in html and "requests per replica" not in html
    assert "core crash (dashed line)" in html
