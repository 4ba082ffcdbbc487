"""The terminal view: a rich progress bar while scenarios run, then a summary table and each violation."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..events import (
    CheckFailed,
    Event,
    ExampleDone,
    RunFinished,
    RunStarted,
    ScenarioFinished,
    ScenarioStarted,
)
from .collector import RunRecord


def _console() -> Console:
    """Logs and CI are not terminals: give the summary table room instead of rich's 80-column default."""
    console = Console()
    if not console.is_terminal:
        console = Console(width=120)
    return console


class TerminalReport:
    """A subscriber; `quiet` keeps only the summary (no progress bar)."""

    def __init__(self, console: Console | None = None, quiet: bool = False) -> None:
        self.console = console or _console()
        self.quiet = quiet
        self.record = RunRecord()
        self.progress: Progress | None = None
        self.task = None

    def __call__(self, event: Event) -> None:
        self.record(event)
        if isinstance(event, RunStarted):
            wire = f"dialect {event.dialect}" if event.dialect else "each file's dialect"
            self.console.print(f"[bold]pstnsim chaos[/] run {event.run_id} · seed {event.seed} · {event.mode} · "
                               f"{wire} · {len(event.scenarios)} scenario(s)")
        elif isinstance(event, ScenarioStarted) and not self.quiet:
            self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TimeElapsedColumn(), console=self.console, transient=True)
            self.progress.start()
            self.task = self.progress.add_task(event.scenario, total=event.budget_examples)
        elif isinstance(event, ExampleDone) and self.progress is not None:
            self.progress.update(self.task, completed=event.example + 1)
        elif isinstance(event, CheckFailed):
            self._stop()
            self.console.print(f"[red bold]VIOLATION[/] {event.scenario} · {event.check}: {event.title}\n"
                               f"  {event.message}\n  replay: [cyan]{event.replay_command}[/]")
        elif isinstance(event, ScenarioFinished):
            self._stop()
            mark = "[green]passed[/]" if event.passed else "[red]FAILED[/]"
            self.console.print(f"  {event.scenario}: {mark} ({event.examples} examples, "
                               f"{event.virtual_time:.0f} s virtual, {event.wall_time:.1f} s wall)")
            if event.error:
                self.console.print(f"[red]  harness error:[/] {event.error.splitlines()[-1] if event.error else ''}")
            if event.failure_trace:
                self.console.print(f"  failure trace: {event.failure_trace}\n  replay without Hypothesis: "
                                   f"[cyan]pstnsim replay {event.failure_trace}[/]")
        elif isinstance(event, RunFinished):
            self._stop()
            self.console.print(self.summary_table())
            verdict = "[green bold]PASSED[/]" if event.passed else f"[red bold]FAILED[/] ({event.violations} violation(s))"
            self.console.print(f"{verdict} in {event.wall_time:.1f} s wall, {event.virtual_time:.0f} s virtual; "
                               f"reports in {event.report_dir}/")

    def _stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    def summary_table(self) -> Table:
        table = Table(title="chaos summary")
        for column in ("scenario", "seed", "dialect", "result", "checks", "violations", "ops ok/fail/info", "virtual", "wall"):
            table.add_column(column)
        for s in self.record.scenarios.values():
            f = s.finished
            passed = sum(1 for c in s.checks if c["status"] == "passed")
            counts = f.counts if f else {}
            table.add_row(
                s.name, str(s.seed), s.dialect, "[green]passed[/]" if s.passed else "[red]FAILED[/]",
                f"{passed}/{len(s.checks)}", str(len(s.violations)),
                f"{counts.get('ok', 0)}/{counts.get('fail', 0)}/{counts.get('info', 0)}",
                f"{f.virtual_time:.0f}s" if f else "-", f"{f.wall_time:.1f}s" if f else "-",
            )
        return table
