"""The project's docs and code cite only what the project ships: every `*.md` they name exists in the repository
(a design note kept outside it is of no use to a user who cloned it)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ["README.md", "Makefile", "pyproject.toml", "docs", "examples", "simulator", "binding_core", "scenarios",
           "benchmarks", "tests"]
TEXT_SUFFIXES = {".md", ".py", ".toml", ".yml", ".yaml", ".json", ".html", ".txt", ""}
MD_NAME = re.compile(r"(?<![\w/.-])([\w./-]*\w\.md)\b")


def project_files() -> list[Path]:
    files: list[Path] = []
    for name in SOURCES:
        path = ROOT / name
        candidates = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        files += [p for p in candidates if p.suffix in TEXT_SUFFIXES and "__pycache__" not in p.parts]
    return files


def resolves(cited: str, citing: Path) -> bool:
    """Whether `cited` names a file the project ships. `docs/<page>.md` counts as the project's own even before the
    page is written (docs/traces.md is the lead's); what this looks for is a note kept outside the project."""
    if "://" in cited or cited.startswith("docs/"):
        return True
    name = cited.lstrip("./")
    return any((base / name).is_file() for base in (citing.parent, ROOT, ROOT / "docs"))


def test_every_markdown_file_cited_is_shipped():
    unresolved = []
    for path in project_files():
        if path == Path(__file__):
            continue
        text = path.read_text(errors="replace")
        for number, line in enumerate(text.splitlines(), 1):
            for cited in MD_NAME.findall(line):
                if "shared/docs" in line or not resolves(cited, path):
                    unresolved.append(f"{path.relative_to(ROOT)}:{number}: {cited}")
    assert not unresolved, "cited but not in the project:\n" + "\n".join(unresolved)


def test_the_checker_notices_a_note_from_outside(tmp_path):
    citing = tmp_path / "module.py"
    assert not resolves("DOMAIN.md", citing)
    assert MD_NAME.findall('"""Checks (see HARNESS.md, and docs/harness.md)."""') == ["HARNESS.md", "docs/harness.md"]
    assert resolves("harness.md", ROOT / "docs" / "core.md") and not resolves("HARNESS.md", citing)
