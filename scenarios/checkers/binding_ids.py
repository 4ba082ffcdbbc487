"""Which provider binding each bound row names (pure): a row in BIND must say which binding it holds.

The status checks match a core row with the provider's bindings by their numbers; a row that lost its binding
id still matches, yet its next unbind deletes nothing (or someone else's binding) and leaves a live privacy
binding behind.
"""

from __future__ import annotations

from collections import defaultdict

from .observation import MODES, Observation
from .invariants import _need
from .registry import NotApplicable, Violation, check


@check("bound_rows_name_their_binding")
def bound_rows_name_their_binding(obs: Observation) -> str | None:
    """Every core row in BIND names the binding id the provider holds for it, and no other row names one."""
    rows = _need(obs, "core_numbers", "core status")
    views = [(row["x"], mode, row.get(mode.lower()) or {"status": "NOT_BIND"}) for row in rows for mode in MODES]
    bound = [(x, mode, view) for x, mode, view in views if view.get("status") == "BIND"]
    if not any("binding_id" in view for _, _, view in views):
        raise NotApplicable("the service's status rows do not show binding ids")
    if bound and not any(view.get("binding_id") for _, _, view in bound):
        raise NotApplicable("the service shows no binding id for any bound row")
    held: dict[tuple[str, str], set[str]] = defaultdict(set)
    for binding in obs.provider_bindings or ():
        if binding.get("status", "active") == "active":
            held[(binding["x"], binding["mode"])].add(str(binding.get("binding_id")))
    # The native wire hands out the provider's own ids; a vendor's wire may name a binding its own way.
    compare = obs.provider_bindings is not None and obs.dialect == "native"
    wrong = []
    for x, mode, view in views:
        named = view.get("binding_id")
        if view.get("status") == "BIND":
            if not named:
                wrong.append({"x": x, "mode": mode, "core": view, "why": "bound but names no binding"})
            elif compare and str(named) not in held.get((x, mode), set()):
                wrong.append({"x": x, "mode": mode, "core": view, "provider": sorted(held.get((x, mode), set())),
                              "why": "names a binding the provider does not hold on this number"})
        elif named:
            wrong.append({"x": x, "mode": mode, "core": view, "why": "not bound but names a binding"})
    if wrong:
        raise Violation(
            "a bound row does not name its binding",
            f"{len(wrong)} status row(s) whose binding id is not the provider binding they hold "
            "(an unbind of such a row cannot delete the right binding)",
            {"rows": wrong[:20]},
        )
    return None if compare else f"checked that {len(bound)} bound row(s) name a binding (ids not compared on this wire)"
