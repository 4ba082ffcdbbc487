"""Report writers: subscribers of the runner's events (summary.json, junit.xml, report.html, terminal)."""

from .collector import RunRecord
from .files import ReportFiles

__all__ = ["ReportFiles", "RunRecord"]
