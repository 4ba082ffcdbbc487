"""The default gate drives the Tencent and Volcengine clients too (tencent_wire, volcengine_wire): defects in
those clients, which no native-wire scenario ever runs, are caught; the bundled clients pass.

Each defect is a mutant of the client (the mutation benchmark's: benchmarks/mutation_testing.py), found by the
line it changes, run against the scenario on a copy of binding_core in its own process."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "binding_core"
EXAMPLES = ROOT / "scenarios" / "examples"


def _mutation():  # type: ignore[no-untyped-def]
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        spec = importlib.util.spec_from_file_location("mutation_testing", ROOT / "benchmarks" / "mutation_testing.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["mutation_testing"] = module
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))


def defect(module: str, line: int, operator: str, before: str, after: str):  # type: ignore[no-untyped-def]
    """The mutant that changes `before` to `after` (the one nearest `line` when the text repeats)."""
    mutation = _mutation()
    found, gone = mutation.same_mutants(CORE, [{"module": module, "line": line, "operator": operator,
                                                "before": before, "after": after}])
    assert found, f"the line this defect changes is gone from binding_core/{module}: {gone}"
    return mutation, found[0]


def test_the_bundled_clients_pass_both_vendor_wires():
    mutation = _mutation()
    verdict, data, _ = mutation.run_gate(None, [str(EXAMPLES / "tencent_wire.toml"),
                                                str(EXAMPLES / "volcengine_wire.toml")], timeout=600)
    assert verdict == "survived", data


@pytest.mark.parametrize("scenario, module, line, operator, before, after", [
    # A release that stops after the first DelVirtualNum although references are left: the number stays bound.
    ("tencent_wire", "provider/tencent.py", 152, "core/AddNot",
     "if not isinstance(outcome, Ok):", "if not not isinstance(outcome, Ok):"),
    # Volcengine lookups that take a released subscription (Status != 1) for a live binding.
    ("volcengine_wire", "provider/volcengine.py", 156, "core/AddNot",
     'if not isinstance(record, dict) or record.get("Status") != 1 or not record.get("SubId"):',
     'if not not isinstance(record, dict) or record.get("Status") != 1 or not record.get("SubId"):'),
    # Volcengine lookups that match an AXB binding on the wrong A party.
    ("volcengine_wire", "provider/volcengine.py", 124, "core/ReplaceComparisonOperator_NotEq_Eq",
     "if (a is not None and binding.a != a) or (b is not None and binding.b != b):",
     "if (a is not None and binding.a == a) or (b is not None and binding.b != b):"),
], ids=["tencent-release-once", "volcengine-released-as-live", "volcengine-wrong-a"])
def test_a_vendor_client_defect_fails_the_gate(scenario, module, line, operator, before, after):
    mutation, mutant = defect(module, line, operator, before, after)
    result = mutation.try_mutant(CORE, mutant, [str(EXAMPLES / f"{scenario}.toml")], timeout=600,
                                 python=sys.executable)
    assert result.verdict == "killed", (result.verdict, result.error)
    assert result.scenario == scenario and result.checks
