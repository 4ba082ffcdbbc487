"""Hypothesis strategies for fault rules in the provider's format: every action of the fault engine.

The machine draws from the kinds a scenario allows (`workload.fault_kinds`);
rule ids are given by the caller so a rule can be removed again.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

# Provider operations that the core's calls hit (native dialect).
WRITE_OPERATIONS = ("create_binding", "delete_binding")
READ_OPERATIONS = ("list_bindings", "get_binding")


def _actions(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    if kind == "status":
        return st.sampled_from((500, 502, 503, 504)).map(lambda s: {"kind": "status", "status": s})
    if kind == "throttle":
        return st.sampled_from((0.5, 2, 10)).map(lambda r: {"kind": "status", "status": 429, "retry_after": r})
    if kind == "timeout":
        return st.just({"kind": "timeout"})
    if kind == "latency":
        return st.one_of(
            st.sampled_from((0.2, 1.0, 5.0)).map(lambda s: {"kind": "latency", "distribution": "fixed", "seconds": s}),
            st.just({"kind": "latency", "distribution": "uniform", "min": 0.0, "max": 3.0}),
            st.just({"kind": "latency", "distribution": "lognormal", "median": 0.5, "sigma": 1.5}),
        )
    if kind in ("reset", "empty_reply", "truncated_body", "malformed_body"):
        return st.just({"kind": kind})
    if kind == "ghost_success":
        return st.one_of(
            st.sampled_from((500, 503, 504)).map(lambda s: {"kind": "ghost_success", "then": "status", "status": s}),
            st.just({"kind": "ghost_success", "then": "reset"}),
            st.just({"kind": "ghost_success", "then": "timeout"}),
        )
    if kind == "slow_lookup":  # lookups answered late but inside the core's timeout: a sweep's look-then-delete gap
        return st.sampled_from((0.5, 1.0, 1.5)).map(lambda s: {"kind": "latency", "distribution": "fixed", "seconds": s})
    if kind == "delayed_visibility":
        return st.sampled_from((1.0, 5.0, 30.0)).map(lambda s: {"kind": "delayed_visibility", "seconds": s})
    if kind == "push":
        return st.sampled_from(({"kind": "drop"}, {"kind": "duplicate"}, {"kind": "delay", "seconds": 5.0},
                                {"kind": "reorder"}))
    raise ValueError(f"unknown fault kind {kind!r}")


_WHEN = st.one_of(
    st.just({}),  # always, until removed: a hard outage of that operation
    st.sampled_from((0.2, 0.5)).map(lambda p: {"probability": p}),
    st.integers(1, 3).map(lambda n: {"first": n}),
    st.integers(2, 3).map(lambda n: {"every": n}),
    st.integers(1, 3).map(lambda n: {"nth": n}),
)


def fault_rules(kinds: tuple[str, ...], xs: list[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """One rule (without its id): an allowed action, on some provider operation (optionally one of `xs`),
    under some `when`. `xs` may be indices the caller maps to numbers later (they print short)."""
    ops = WRITE_OPERATIONS + READ_OPERATIONS

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        kind = draw(st.sampled_from(kinds))
        action = dict(draw(_actions(kind)))
        if kind == "push":
            return {"action": action, "when": draw(_WHEN)}
        writes_only = kind in ("ghost_success", "delayed_visibility")
        operation = draw(st.sampled_from(READ_OPERATIONS if kind == "slow_lookup" else
                                         WRITE_OPERATIONS if writes_only else ops))
        match: dict[str, Any] = {"operation": operation}
        if operation == "create_binding" and draw(st.booleans()):
            match["x"] = draw(st.sampled_from(xs))
        return {"match": match, "action": action, "when": draw(_WHEN)}

    return build()
