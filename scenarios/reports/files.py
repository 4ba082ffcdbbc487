"""Writes reports/<run-id>/{summary.json, junit.xml, report.html} when the run finishes."""

from __future__ import annotations

from pathlib import Path

from ..events import Event, RunFinished, RunStarted
from .collector import RunRecord
from .html import write_html
from .junit import write_junit
from .summary_json import write_summary


class ReportFiles:
    """A subscriber: collects the run and writes the three files at RunFinished."""

    def __init__(self) -> None:
        self.record = RunRecord()
        self.directory: Path | None = None
        self.written: list[Path] = []

    def __call__(self, event: Event) -> None:
        self.record(event)
        if isinstance(event, RunStarted):
            self.directory = Path(event.report_dir)
            self.directory.mkdir(parents=True, exist_ok=True)
        elif isinstance(event, RunFinished) and self.directory is not None:
            self.written = [
                write_summary(self.record, self.directory / "summary.json"),
                write_junit(self.record, self.directory / "junit.xml"),
                write_html(self.record, self.directory / "report.html"),
            ]
