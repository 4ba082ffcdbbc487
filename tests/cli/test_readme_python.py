"""The README's Python snippet runs as shown (saved to a file, run with the venv's python) and prints what its
comments say."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def readme_snippet() -> str:
    section = (ROOT / "README.md").read_text().split("## Using it from Python and pytest", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)[0]


def shown_outputs(snippet: str) -> list[str]:
    """What each `print(...)  # output` line says it prints: the comment up to "..." or " — " (prose)."""
    comments = re.findall(r"^\s*print\(.*\)\s+# (.*)$", snippet, flags=re.M)
    return [comment.split("...", 1)[0].split(" — ", 1)[0].strip() for comment in comments]


def test_the_readme_python_snippet_runs_as_shown(tmp_path):
    snippet = readme_snippet()
    assert "asyncio.run(" in snippet
    (tmp_path / "tour.py").write_text(snippet)
    result = subprocess.run([sys.executable, "tour.py"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    printed = result.stdout.splitlines()
    shown = shown_outputs(snippet)
    assert shown and len(printed) == len(shown), (printed, shown)
    for line, expected in zip(printed, shown):
        assert line.startswith(expected), (line, expected)
