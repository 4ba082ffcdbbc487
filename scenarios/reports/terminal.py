"""The terminal view: progress while scenarios run (a bar with an estimate on a terminal, a line now and then
in a log), then a summary table and each violation, its replay command on a line of its own.

Whatever the terminal width, a command someone may paste is printed unwrapped and alone on its line, and a
harness error's cause is the last thing printed.
"""

from __future__ import annotations

import time

from rich import box
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from ..events import (
    CheckFailed,
    Event,
    ExampleDone,
    RunFinished,
    RunStarted,
    ScenarioFinished,
    ScenarioStarted,
    StepDone,
)
from .cluster_facts import cluster_facts
from .cluster_view import backend_words, nemesis_count
from .collector import RunRecord

LOG_EVERY = 10.0  # seconds of wall time between progress lines when the output is not a terminal


def _console() -> Console:
    """Logs and CI are not terminals: give the summary table room instead of rich's 80-column default."""
    console = Console()
    if not console.is_terminal:
        console = Console(width=120)
    return console


def estimate_left(done: int, total: int | None, elapsed: float, budget: float | None) -> float | None:
    """Seconds left for a scenario: from the pace of the examples done, capped by what is left of its budget."""
    guesses = []
    if done and total:
        guesses.append(elapsed / done * max(0, total - done))
    if budget is not None:
        guesses.append(max(0.0, budget - elapsed))
    return min(guesses) if guesses else None


def _about(seconds: float | None) -> str:
    if seconds is None:
        return "…"
    if seconds <= 0:
        return "finishing the example in progress"
    if seconds < 90:
        return f"about {seconds:.0f} s left"
    return f"about {seconds / 60:.0f} min left"


class TerminalReport:
    """A subscriber; `quiet` keeps only the summary (no progress)."""

    def __init__(self, console: Console | None = None, quiet: bool = False) -> None:
        self.console = console or _console()
        self.quiet = quiet
        self.record = RunRecord()
        self.progress: Progress | None = None
        self.task = None
        self.scenario: ScenarioStarted | None = None
        self.done = 0
        self.last_line = 0.0
        self.cluster = False  # a cluster run: real seconds, bursts, replicas and the nemesis (no examples)

    def __call__(self, event: Event) -> None:
        self.record(event)
        if isinstance(event, RunStarted):
            wire = f"dialect {event.dialect}" if event.dialect else "each file's dialect"
            self.cluster = event.mode == "cluster"
            verb = "cluster" if self.cluster else "run"
            self.console.print(f"[bold]pstnsim chaos[/] {verb} {event.run_id} · seed {event.seed} · {event.mode} · "
                               f"{wire} · {len(event.scenarios)} scenario(s)")
        elif isinstance(event, ScenarioStarted):
            self._started(event)
        elif isinstance(event, (ExampleDone, StepDone)):
            self._advanced(event)
        elif isinstance(event, CheckFailed):
            self._stop()
            self.console.print(f"[red bold]VIOLATION[/] {event.scenario} · {event.check}: {event.title}\n"
                               f"  {event.message}")
            self._command("replay (exit 0 once it no longer reproduces):", event.replay_command)
        elif isinstance(event, ScenarioFinished):
            self._finished(event)
        elif isinstance(event, RunFinished):
            self._run_finished(event)

    # ---- progress ----------------------------------------------------------------

    def _started(self, event: ScenarioStarted) -> None:
        self.scenario, self.done, self.last_line = event, 0, time.monotonic()
        if self.quiet:
            return
        budget = f", time budget {event.time_budget:.0f} s" if event.time_budget is not None else ""
        total = "" if event.time_budget is not None and event.budget_examples >= 10**6 else f"up to {event.budget_examples} "
        if not self.console.is_terminal:
            if self.cluster:
                self.console.print(f"  {event.scenario}: {event.budget_steps} burst(s) of traffic over "
                                   f"{event.time_budget or 0:.0f} real seconds, with the nemesis")
            else:
                self.console.print(f"  {event.scenario}: {total}examples x {event.budget_steps} steps{budget}")
            return
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[count]}"),
                                 TimeElapsedColumn(), TextColumn("{task.fields[left]}"), console=self.console,
                                 transient=True)
        self.progress.start()
        self.task = self.progress.add_task(event.scenario, total=self._total(event), count="", left=_about(None))

    @staticmethod
    def _total(event: ScenarioStarted) -> float:
        return event.time_budget if event.time_budget is not None else float(event.budget_examples)

    def _advanced(self, event: ExampleDone | StepDone) -> None:
        start = self.scenario
        if start is None or self.quiet or event.scenario != start.scenario:
            return
        elapsed = event.wall - start.wall
        if self.cluster:
            self._cluster_advanced(event, start, elapsed)
            return
        if isinstance(event, ExampleDone):
            self.done = event.example + 1
        limited = start.budget_examples < 10**6
        left = estimate_left(self.done, start.budget_examples if limited else None, elapsed, start.time_budget)
        if limited and self.done >= start.budget_examples:
            left = None  # every example ran; a failure may still be shrinking
        count = f"{self.done}/{start.budget_examples} examples" if limited else f"{self.done} examples"
        if self.progress is not None:
            completed = min(elapsed, start.time_budget) if start.time_budget is not None else self.done
            self.progress.update(self.task, completed=completed, count=count, left=_about(left))
        elif (isinstance(event, ExampleDone) and self.done == 1) or time.monotonic() - self.last_line >= LOG_EVERY:
            self.last_line = time.monotonic()
            self.console.print(f"  {start.scenario}: {count} · {elapsed:.1f} s · {_about(left)}")

    def _cluster_advanced(self, event: ExampleDone | StepDone, start: ScenarioStarted, elapsed: float) -> None:
        """Bursts answered so far against the traffic's real seconds; past them, the replicas are settling."""
        if isinstance(event, StepDone):
            self.done += 1
        duration = start.time_budget or 0.0
        count = f"{self.done}/{start.budget_steps} bursts"
        left = "settling, then the checks" if isinstance(event, ExampleDone) or elapsed >= duration else \
            _about(duration - elapsed)
        if self.progress is not None:
            self.progress.update(self.task, completed=min(elapsed, duration), count=count, left=left)
        elif self.done == 1 or isinstance(event, ExampleDone) or time.monotonic() - self.last_line >= LOG_EVERY:
            self.last_line = time.monotonic()
            self.console.print(f"  {start.scenario}: {count} · {elapsed:.1f} s real · {left}")

    def _stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    # ---- results -------------------------------------------------------------------

    def _command(self, label: str, command: str) -> None:
        """A command to paste: its own line, never wrapped, cropped or styled (CI logs keep it whole)."""
        self.console.print(f"  {label}")
        self.console.print(Text(command), soft_wrap=True, crop=False, overflow="ignore", no_wrap=True,
                           highlight=False, markup=False)

    def _finished(self, event: ScenarioFinished) -> None:
        self._stop()
        mark = {"passed": "[green]passed[/]", "no longer reproduces": "[green]no longer reproduces[/]",
                "vacuous": "[red]VACUOUS[/]", "harness error": "[red]HARNESS ERROR[/]",
                "interrupted": "[yellow]INTERRUPTED[/]", "reproduced": "[red]FAILED (reproduced)[/]"}.get(
            event.verdict, "[green]passed[/]" if event.passed else "[red]FAILED[/]")
        facts = cluster_facts(event.telemetry)
        if self.cluster or facts is not None:
            said = ""
            if facts is not None:
                done, total = nemesis_count(facts)
                said = (f"{facts.get('replicas', '?')} x {backend_words(facts).replace(' + ', '+')}, "
                        f"nemesis {done}/{total} done, ")
            self.console.print(f"  {event.scenario}: {mark} ({said}{event.steps} bursts, "
                               f"{event.virtual_time:.1f} s real, {event.wall_time:.1f} s wall)")
        else:
            self.console.print(f"  {event.scenario}: {mark} ({event.examples} examples, "
                               f"{event.virtual_time:.0f} s virtual, {event.wall_time:.1f} s wall)")
        if event.note:
            self.console.print(f"  note: {event.note}", markup=False, highlight=False)
        if event.failure_trace:
            self._command("the failing example's provider trace replays without Hypothesis (any version):",
                          f"pstnsim replay {event.failure_trace}")

    def _run_finished(self, event: RunFinished) -> None:
        self._stop()
        self.console.print(self.summary_table())
        replayed = [s for s in self.record.scenarios.values() if s.finished and s.finished.verdict ==
                    "no longer reproduces"]
        if event.interrupted:
            verdict = "[yellow bold]INTERRUPTED[/] (Ctrl-C): partial reports"
        elif event.passed and replayed:
            verdict = "[green bold]NO LONGER REPRODUCES[/] (the replayed failure did not happen; every check held)"
        elif event.passed:
            verdict = "[green bold]PASSED[/]"
        elif event.violations:
            verdict = f"[red bold]FAILED[/] ({event.violations} violation(s))"
        else:
            verdict = "[red bold]HARNESS ERROR[/] (no check failed; the run could not go on: the cause is below)"
        code = f"; exit {event.exit_code}" if event.exit_code is not None else ""
        clock = "of traffic and settling (real time)" if self.cluster else "virtual"
        self.console.print(f"{verdict} in {event.wall_time:.1f} s wall, {event.virtual_time:.0f} s {clock}; "
                           f"reports in {event.report_dir}/{code}")
        commands = [v["replay_command"] for s in self.record.scenarios.values() for v in s.violations
                    if "--replay" in v["replay_command"]]
        if commands:
            self.console.print(f"  replay: sh {event.report_dir}/replay.sh  (or the command above)",
                               markup=False, highlight=False)
        # The cause of a harness error comes last, so it is what a log's tail shows.
        for s in self.record.scenarios.values():
            if s.finished and s.finished.error:
                cause = s.finished.error.strip().splitlines()[-1]
                self.console.print(Text(f"{s.finished.verdict or 'harness error'} in {s.name}: {cause}",
                                        style="red"), soft_wrap=True)

    def summary_table(self) -> Table:
        if self.cluster:
            return self.cluster_table()
        table = Table(title="chaos summary")
        for column in ("scenario", "seed", "dialect", "result", "checks", "violations", "ops ok/fail/info", "virtual", "wall"):
            table.add_column(column)
        for s in self.record.scenarios.values():
            f = s.finished
            passed = sum(1 for c in s.checks if c["status"] == "passed")
            skipped = sum(1 for c in s.checks if c["status"] == "skipped")
            counts = f.counts if f else {}
            verdict = f.verdict if f and f.verdict else ("passed" if s.passed else "FAILED")
            colour = "green" if s.passed else ("yellow" if verdict == "interrupted" else "red")
            table.add_row(
                s.name, str(s.seed), s.dialect, f"[{colour}]{verdict}[/]",
                f"{passed}/{len(s.checks)}" + (f" ({skipped} skipped)" if skipped else ""), str(len(s.violations)),
                f"{counts.get('ok', 0)}/{counts.get('fail', 0)}/{counts.get('info', 0)}",
                f"{f.virtual_time:.0f}s" if f else "-", f"{f.wall_time:.1f}s" if f else "-",
            )
        return table

    def cluster_table(self) -> Table:
        """A cluster run's summary: replicas, backend and nemesis actions instead of examples, real seconds."""
        # No column rules and one space between columns: the scenario's name and the backend stay whole at 120.
        table = Table(title="chaos cluster summary", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
                      collapse_padding=True)
        table.add_column("scenario", no_wrap=True)
        for column in ("result", "checks", "violated", "ok/fail/info"):
            table.add_column(column, no_wrap=True)
        table.add_column("replicas x backend", no_wrap=True)
        table.add_column("nemesis done", no_wrap=True)
        table.add_column("real s", no_wrap=True)  # wall time: the run's last line
        for s in self.record.scenarios.values():
            f = s.finished
            facts = cluster_facts(f.telemetry) if f else None
            passed = sum(1 for c in s.checks if c["status"] == "passed")
            skipped = sum(1 for c in s.checks if c["status"] == "skipped")
            counts = f.counts if f else {}
            verdict = f.verdict if f and f.verdict else ("passed" if s.passed else "FAILED")
            colour = "green" if s.passed else ("yellow" if verdict == "interrupted" else "red")
            done, total = nemesis_count(facts) if facts else (0, 0)
            table.add_row(
                s.name, f"[{colour}]{verdict}[/]",
                f"{passed}/{len(s.checks)}" + (f" ({skipped} skip)" if skipped else ""), str(len(s.violations)),
                f"{counts.get('ok', 0)}/{counts.get('fail', 0)}/{counts.get('info', 0)}",
                f"{facts.get('replicas', '?')} x {backend_words(facts).replace(' + ', '+')}" if facts else "-",
                f"{done}/{total}" if facts else "-",
                f"{f.virtual_time:.1f}" if f else "-",
            )
        return table
