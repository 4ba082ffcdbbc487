"""The binding rules as pure functions: which parties a mode takes, which bindings may share an X, and where
a call to X goes. No state: the ledger passes in the bindings that matter.

Routing (what a call to X reaches; the harness checks calls against the core's view of the same):
- AXB (A, B on X): A -> X reaches B, B -> X reaches A, both shown X.
- AXN (A on X, optional default N): A -> X reaches N; anyone else -> X reaches A.
- XB (B on X): anyone not matched above -> X reaches B, shown X.
- Several AXB on one X only with disjoint numbers; at most one XB or AXN per X.
"""

from __future__ import annotations

from typing import Iterable

from ..errors import InvalidArgument
from .records import MODES, Binding


def check_parties(mode: str, a: str | None, b: str | None) -> None:
    """Raise InvalidArgument unless `mode` is known and takes exactly these parties (already normalised)."""
    if mode not in MODES:
        raise InvalidArgument(f"mode must be one of {', '.join(MODES)}, got {mode!r}", field="mode")
    if mode == "XB" and (b is None or a is not None):
        raise InvalidArgument("an XB binding takes b and no a", field="a" if a else "b")
    if mode == "AXB" and (a is None or b is None):
        raise InvalidArgument("an AXB binding takes both a and b", field="b" if a else "a")
    if mode == "AXN" and a is None:
        raise InvalidArgument("an AXN binding takes a", field="a")
    if a is not None and a == b:
        raise InvalidArgument("a and b must be different numbers", field="b")


def conflict(x: str, candidate: Binding, others: Iterable[Binding], ignore: str | None = None) -> str | None:
    """Why `candidate` cannot sit on `x` beside `others` (its active bindings), or None if it can."""
    for other in others:
        if other.binding_id == ignore:
            continue
        if candidate.mode in ("XB", "AXN") and other.mode in ("XB", "AXN"):
            return f"{x} already has an {other.mode} binding ({other.binding_id})"
        pair_modes = {candidate.mode, other.mode}
        if pair_modes <= {"AXB", "AXN"} and candidate.numbers() & other.numbers():
            shared = ", ".join(sorted(candidate.numbers() & other.numbers()))
            return f"{shared} already bound on {x} by {other.binding_id}: routing would be ambiguous"
    return None


def route(caller: str, active: list[Binding]) -> tuple[str | None, str, Binding | None]:
    """Where `caller` dialling an owned X with these active bindings goes: (callee, reason, binding)."""
    for binding in active:
        if binding.mode == "AXB" and caller == binding.a:
            return binding.b, "AXB_A_TO_B", binding
        if binding.mode == "AXB" and caller == binding.b:
            return binding.a, "AXB_B_TO_A", binding
    for binding in active:
        if binding.mode == "AXN":
            if caller == binding.a:
                if binding.b:
                    return binding.b, "AXN_A_TO_N", binding
                return None, "NO_DEFAULT_CALLEE", binding
            return binding.a, "AXN_N_TO_A", binding
    for binding in active:
        if binding.mode == "XB":
            if caller == binding.b:
                return None, "CALLER_IS_CALLEE", binding
            return binding.b, "XB", binding
    return None, ("NOT_A_PARTY" if active else "NO_BINDING"), None
