"""`benchmarks/harness_power.py --mutation` on a tiny sample, so the mutation benchmark does not rot: mutants of
the core's number validation run against one small scenario, and the gate's verdicts (a violated check, a harness
error, a hang, a pass) each counted as what they are."""

from __future__ import annotations

import importlib.util
import json
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "benchmarks"


def _load(name: str):  # type: ignore[no-untyped-def]
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCH))


def test_a_core_that_rejects_or_mangles_every_number_is_never_counted_a_survivor(monkeypatch, capsys, tmp_path):
    # Every mutant of numbers.py either refuses valid numbers or stores the wrong part of them: the gate must
    # fail on each (a violated check, or a run that could not bind anything), never pass.
    harness_power = _load("harness_power")
    out_json = tmp_path / "power.json"
    monkeypatch.setattr(sys, "argv", [
        "harness_power.py", "--mutation", "--mutants", "2", "--sample-seed", "3", "--module", "numbers.py",
        "--examples", "3", "--scenario", str(ROOT / "scenarios" / "examples" / "xb_storm_5xx.toml"),
        "--json", str(out_json)])
    assert harness_power.main() == 0
    out = capsys.readouterr().out
    figures = json.loads(out_json.read_text())["mutation"]
    assert figures["sample_seed"] == 3 and figures["modules"] == ["numbers.py"]
    assert figures["tried"] == 2, out
    assert figures["survived"] == 0 and figures["score"] == 1.0, out
    assert figures["killed"] + figures["errors"] + figures["timeouts"] == 2
    assert "mutation score 100%" in out and "sample seed 3" in out
    assert all(r["where"].startswith("binding_core/numbers.py:") and r["before"] != r["after"]
               for r in figures["results"])


def test_the_same_seed_draws_the_same_mutants_and_an_edited_core_finds_them_again(tmp_path):
    mutation = _load("mutation_testing")
    core = ROOT / "binding_core"
    population = mutation.enumerate_mutants(core, ("gray.py", "queue.py"))
    first, again = mutation.sample(population, 5, 11), mutation.sample(population, 5, 11)
    assert first == again and len({(m.module, m.line, m.col) for m in first}) == 5
    # The same mutants in a copy with a line added on top: found again one line lower.
    edited = tmp_path / "binding_core"
    edited.mkdir()
    for module in ("gray.py", "queue.py"):
        (edited / module).write_text("# an edit\n" + (core / module).read_text())
    rows = []
    for m in first:
        original, mutated = mutation.mutated_source(core, m)
        before, after = mutation._changed_line(original, mutated)
        rows.append({"module": m.module, "line": m.line, "operator": m.operator, "before": before, "after": after})
    found, gone = mutation.same_mutants(edited, rows)
    assert gone == []
    assert [(m.module, m.line - 1, m.operator) for m in found] == [(m.module, m.line, m.operator) for m in first]


def test_the_gates_exit_and_a_hang_are_counted_apart(tmp_path):
    mutation = _load("mutation_testing")
    verdicts = {}
    for name, body in {
        "passes": 'print(json.dumps({"exit": 0}))',
        "violated": 'print(json.dumps({"exit": 1, "checks": ["no_lost_binding"]})); sys.exit(1)',
        "crashes": 'raise ImportError("a mutant broke an import")',
        "hangs": "threading.Event().wait()",
    }.items():
        gate = tmp_path / f"{name}.py"
        gate.write_text(textwrap.dedent(f"""\
            import json, sys, threading
            {body}
            """))
        verdicts[name] = mutation.run_gate(None, [], timeout=2 if name == "hangs" else 60, gate=gate)[:2]
    assert verdicts["passes"][0] == "survived"
    assert verdicts["violated"] == ("killed", {"exit": 1, "checks": ["no_lost_binding"]})
    assert verdicts["crashes"][0] == "error" and "a mutant broke an import" in verdicts["crashes"][1]["error"]
    assert verdicts["hangs"][0] == "timeout"


def test_a_mutant_inside_an_annotation_nothing_evaluates_is_left_out_as_equivalent(tmp_path):
    mutation = _load("mutation_testing")
    core = tmp_path / "binding_core"
    core.mkdir()
    (core / "m.py").write_text("from __future__ import annotations\n\n\ndef f(x: int | None) -> int:\n"
                               "    return 0 if x is None else x | 1\n")
    verdicts = {}
    for m in mutation.enumerate_mutants(core, ("m.py",)):
        if m.operator.startswith("core/ReplaceBinaryOperator_BitOr_"):
            result = mutation.try_mutant(core, m, [], timeout=1, python=sys.executable) if m.line == 4 else None
            verdicts[m.line] = result.verdict if result else mutation.in_annotation(
                m, mutation.annotation_spans((core / "m.py").read_text()))
    # `int | None` (line 4) is a string nothing evaluates; `x | 1` (line 5) is code.
    assert verdicts == {4: "equivalent", 5: False}
