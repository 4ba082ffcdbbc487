"""The report and docs show each check's property in words: whole sentences, never cut at a line break."""

from scenarios.checkers import CHECKS


def test_every_check_states_its_property_in_a_whole_sentence():
    for check in CHECKS.checks.values():
        assert check.description.endswith((".", ")")), f"{check.name}: {check.description!r} is cut off"
        assert "  " not in check.description and "\n" not in check.description, check.name


def test_the_docs_name_every_check():
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[2] / "docs" / "harness.md").read_text()
    missing = [name for name in CHECKS.checks if f"`{name}`" not in docs]
    assert not missing, f"docs/harness.md does not describe: {', '.join(missing)}"
