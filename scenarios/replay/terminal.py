"""The terminal view of `pstnsim replay`: what is replayed, how the service's calls compared with the
recording, each violation; the CLI prints the verdict line last."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape

from ..events import CheckFailed, Event, ReplayCompared, RunFinished, RunStarted, ScenarioFinished
from ..reports.terminal import _console

MAX_LISTED = 10


class ReplayTerminal:
    """A subscriber; `quiet` keeps only the violations (the CLI still prints the verdict)."""

    def __init__(self, console: Console | None = None, quiet: bool = False) -> None:
        self.console = console or _console()
        self.quiet = quiet

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted) and not self.quiet:
            where = "in-process, virtual time" if event.mode == "in-process" else "real time, service by URL"
            self.console.print(f"[bold]pstnsim replay[/] {escape(event.scenarios[0])} · dialect {event.dialect} · "
                               f"{where} · seed {event.seed}")
        elif isinstance(event, ReplayCompared) and not self.quiet:
            self._compared(event)
        elif isinstance(event, CheckFailed):
            self.console.print(f"[red bold]VIOLATION[/] {escape(event.check)}: {escape(event.title)}\n"
                               f"  {escape(event.message)}")
        elif isinstance(event, ScenarioFinished) and event.error:
            self.console.print(f"[red]harness error:[/] {escape(event.error.strip().splitlines()[-1])}")
        elif isinstance(event, RunFinished) and not self.quiet:
            self.console.print(f"replay took {event.virtual_time:.1f} s on the replay's clock, {event.wall_time:.1f} s "
                               f"wall; reports in {escape(event.report_dir)}/")

    def _compared(self, event: ReplayCompared) -> None:
        sent = sum(len(step["sent"]) for step in event.steps)
        recorded = sum(len(step["recorded"]) for step in event.steps)
        self.console.print(f"  {len(event.steps)} business operation(s), {escape(event.business_source)}; "
                           f"{recorded} recorded exchange(s) led from them")
        self.console.print(f"  the service's calls tied to a step: {sent}; not in the recording: "
                           f"{len(event.unrecorded)}; recorded exchanges never asked for: {len(event.never_asked)}")
        for call in event.unrecorded[:MAX_LISTED]:
            self.console.print(f"    [yellow]UNRECORDED[/] {_call(call)}")
        if len(event.unrecorded) > MAX_LISTED:
            self.console.print(f"    ... {len(event.unrecorded) - MAX_LISTED} more (report.html)")
        for note in event.notes:
            self.console.print(f"  note: {escape(note)}")


def _call(call: dict[str, Any]) -> str:
    numbers = " ".join(f"{k}={v}" for k, v in (call.get("params") or {}).items())
    return escape(f"{call['offset']:.3f}s {call['action']} {numbers} -> {call['outcome']}")
