"""The harness's invariants 1-7 (docs/harness.md, "Invariants") as registered checks over an `Observation`
(pure: no I/O).

Each function's first docstring line is the description the reports show.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from ..history import Outcome
from .linearizability import check_history
from .observation import MODES, Observation
from .registry import NotApplicable, Violation, check


def _need(obs: Observation, name: str, what: str) -> Any:
    """The observation's field `name`, or skip the check saying why it is missing (never pass it)."""
    value = getattr(obs, name)
    if value is None:
        why = obs.unavailable.get(name)
        raise NotApplicable(f"{what} not observed: {why}" if why else f"{what} not observed in this run")
    return value


def _view(row: dict[str, Any], mode: str) -> dict[str, Any]:
    return row.get(mode.lower()) or {"status": "NOT_BIND"}


@check("no_operation_left")
def no_operation_left(obs: Observation) -> str | None:
    """1. After quiescence no binding is left in OPERATION and no operation is pending or running."""
    rows = _need(obs, "core_numbers", "core status")
    stuck = [
        {"x": row["x"], "mode": mode, "version": _view(row, mode).get("version")}
        for row in rows
        for mode in MODES
        if _view(row, mode).get("status") == "OPERATION"
    ]
    open_ops = [op for op in (obs.operations or []) if op.get("state") in ("pending", "running")]
    if stuck or open_ops:
        raise Violation(
            "binding left in OPERATION",
            f"{len(stuck)} status row(s) still OPERATION and {len(open_ops)} operation(s) not finished after quiescence",
            {"rows": stuck, "operations": open_ops[:20]},
        )
    if obs.operations is None:
        return "only the status rows were checked: " + (obs.unavailable.get("operations") or "no operations observed")
    return None


def _provider_by_x_mode(obs: Observation) -> dict[tuple[str, str], list[dict[str, Any]]]:
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for binding in _need(obs, "provider_bindings", "provider ledger"):
        if binding.get("status", "active") == "active":
            grouped[(binding["x"], binding["mode"])].append(binding)
    return grouped


def _mode_matches(obs: Observation, mode: str) -> None:
    rows = _need(obs, "core_numbers", "core status")
    provider = _provider_by_x_mode(obs)
    mismatches = []
    for row in rows:
        view = _view(row, mode)
        held = provider.get((row["x"], mode), [])
        status = view.get("status")
        if status == "BIND":
            want = (view.get("a"), view.get("b")) if mode == "AXB" else (None, view.get("b"))
            same = [b for b in held if (b.get("a") if mode == "AXB" else None, b.get("b")) == want]
            if len(held) != 1 or len(same) != 1:
                mismatches.append({"x": row["x"], "core": view, "provider": held})
        elif status == "NOT_BIND" and held:
            mismatches.append({"x": row["x"], "core": view, "provider": held})
    if mismatches:
        raise Violation(
            f"core and provider disagree on {mode}",
            f"{len(mismatches)} virtual number(s) where the core's {mode} status is not what the provider holds",
            {"mismatches": mismatches},
        )


@check("xb_matches_provider")
def xb_matches_provider(obs: Observation) -> None:
    """2. Core XB BIND to B on X <=> the provider holds exactly one XB binding X -> B; NOT_BIND <=> none."""
    _mode_matches(obs, "XB")


@check("axb_matches_provider")
def axb_matches_provider(obs: Observation) -> None:
    """3. Core AXB BIND (A, B) on X <=> the provider holds exactly that one AXB binding; NOT_BIND <=> none."""
    _mode_matches(obs, "AXB")


@check("no_orphan_or_duplicate")
def no_orphan_or_duplicate(obs: Observation) -> None:
    """4. Every provider binding on a managed X is one the core holds as BIND; none is duplicated."""
    rows = _need(obs, "core_numbers", "core status")
    provider = _provider_by_x_mode(obs)
    bound = [(row["x"], mode, _view(row, mode)) for row in rows for mode in MODES
             if _view(row, mode).get("status") == "BIND"]
    known_ids = {view.get("binding_id") for _, _, view in bound}
    # A service that does not show the provider's binding ids is matched by its numbers instead.
    known_numbers = {(x, mode, view.get("a") if mode == "AXB" else None, view.get("b")) for x, mode, view in bound}
    by_id = all(view.get("binding_id") for _, _, view in bound)
    managed = obs.managed_xs or {row["x"] for row in rows}
    orphans, duplicates = [], []
    for (x, mode), held in provider.items():
        if x not in managed:
            continue
        if len(held) > 1:
            duplicates.append({"x": x, "mode": mode, "bindings": held})
        for binding in held:
            numbers = (x, mode, binding.get("a") if mode == "AXB" else None, binding.get("b"))
            if (binding.get("binding_id") not in known_ids) if by_id else (numbers not in known_numbers):
                orphans.append(binding)
    if orphans or duplicates:
        raise Violation(
            "orphan or duplicate provider binding",
            f"{len(orphans)} binding(s) the core does not know of (a privacy leak) and "
            f"{len(duplicates)} X/mode pair(s) bound more than once at the provider",
            {"orphans": orphans, "duplicates": duplicates},
        )


# Core and provider clocks may differ by this much (seconds); a binding must predate an operation's end by
# more than this to count as one the operation should have seen.
CLOCK_SLACK = 0.5


@check("provider_agrees_at_each_end")
def provider_agrees_at_each_end(obs: Observation) -> None:
    """2-4. No operation ends disowning a binding with its own numbers that the provider already holds.

    Quiescence alone can miss a leak a later clean-up hides: a bind reported refused while the binding its
    first attempt made stays at the provider until a sweep deletes it, or an unbind reported done while its
    binding still routes calls. Bindings a late call creates after the end are left to the quiescent checks
    (they must be gone by then)."""
    transitions = _need(obs, "transitions", "core transitions")
    operations = _need(obs, "operations", "core operations")
    history = _need(obs, "provider_history", "provider binding history")
    if any("b" not in op for op in operations):
        raise NotApplicable("the service's operations do not carry their numbers (a, b)")
    if any("at" not in t for t in transitions):
        raise NotApplicable("the service's transitions do not carry their time (at)")
    ops: dict[str, dict[str, Any]] = {str(op.get("id")): op for op in operations}
    lives: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for binding in history:
        lives[(binding["x"], binding["mode"])].append(binding)
    leaks = []
    for t in transitions:
        op = ops.get(str(t.get("operation_id")))
        if t.get("from") != "OPERATION" or op is None or (obs.managed_xs and t.get("x") not in obs.managed_xs):
            continue
        at = float(t["at"])
        held = op.get("binding_id") if t.get("to") == "BIND" else None
        numbers = (op.get("a") if t["mode"] == "AXB" else None, op.get("b"))
        for binding in lives.get((t["x"], t["mode"]), []):
            ended = binding.get("ended_at")
            if binding["binding_id"] == held or float(binding["created_at"]) > at - CLOCK_SLACK:
                continue
            if (binding.get("a") if t["mode"] == "AXB" else None, binding.get("b")) != numbers:
                continue  # not one this operation could have made or meant
            if ended is None or float(ended) > at + CLOCK_SLACK:
                leaks.append({"operation_id": t.get("operation_id"), "x": t["x"], "mode": t["mode"],
                              "core_after": t.get("to"), "ended_at": at, "binding": binding})
    if leaks:
        raise Violation(
            "an operation ended disowning a binding the provider held",
            f"{len(leaks)} time(s) an operation ended with the core recording something other than a binding "
            "with its own numbers that the provider already held (calls reached someone the core did not know of)",
            {"leaks": leaks[:20]},
        )


@check("liveness")
def liveness(obs: Observation) -> str | None:
    """5. Every accepted operation ends within attempts x (timeout + max backoff), plus each crash's outage and
    lease, on the run's clock (virtual in-process, real against a service or a cluster)."""
    policy = _need(obs, "policy", "retry policy")
    history = _need(obs, "history", "operation history")
    limit = policy.deadline() + obs.downtime
    late = []
    for op in history:
        if op.kind == "read" or op.core_operation_id is None:
            continue
        if op.ended_at is None:
            if op.detail == "unfinished":
                late.append({**op.to_dict(), "took": None})
            continue
        took = op.ended_at - op.invoked_at
        if took > limit:
            late.append({**op.to_dict(), "took": round(took, 3)})
    late.extend(obs.unsettled)
    if late:
        raise Violation(
            "operation did not end in time",
            f"{len(late)} accepted operation(s) took longer than {limit:g} s on the run's clock or never ended",
            {"limit": round(limit, 3), "operations": late[:20]},
        )
    if obs.operations is None:
        return (f"checked only that every number left OPERATION within {limit:g} s; per-operation ends: "
                + (obs.unavailable.get("operations") or "no operations observed"))
    return None


@check("retries_capped")
def retries_capped(obs: Observation) -> None:
    """5. No operation is attempted more often than the configured maximum."""
    policy = _need(obs, "policy", "retry policy")
    operations = _need(obs, "operations", "core operations")
    over = [op for op in operations if int(op.get("attempts") or 0) > policy.max_attempts]
    if over:
        raise Violation(
            "retries above the cap",
            f"{len(over)} operation(s) attempted more than max_attempts={policy.max_attempts} times",
            {"operations": over[:20]},
        )


@check("alert_iff_threshold")
def alert_iff_threshold(obs: Observation) -> None:
    """5. Exactly one alert per operation whose attempts reached the threshold, and none for the others."""
    policy = _need(obs, "policy", "retry policy")
    operations = _need(obs, "operations", "core operations")
    alerts = _need(obs, "alerts", "alerts")
    per_operation = Counter(str(a.get("operation_id")) for a in alerts)
    wrong = []
    for op in operations:
        reached = int(op.get("attempts") or 0) >= policy.alert_threshold
        raised = per_operation.pop(str(op.get("id")), 0)
        if raised != (1 if reached else 0):
            wrong.append({"operation": op, "alerts": raised, "threshold": policy.alert_threshold})
    stray = [a for a in alerts if str(a.get("operation_id")) in per_operation]
    if wrong or stray:
        raise Violation(
            "alert not raised exactly when the threshold is reached",
            f"{len(wrong)} operation(s) with the wrong number of alerts, {len(stray)} alert(s) for unknown operations",
            {"operations": wrong[:20], "stray_alerts": stray[:20], "threshold": policy.alert_threshold},
        )


@check("legal_transitions", phase="step")
def legal_transitions(obs: Observation) -> None:
    """During the run: every status change is a legal move of the core's transitions table."""
    transitions = _need(obs, "transitions", "transition history")
    legal = _need(obs, "legal_transitions", "legal-move table")
    illegal = [t for t in transitions if (t["from"], t["to"]) not in legal]
    if illegal:
        raise Violation(
            "illegal status change",
            f"{len(illegal)} transition(s) outside the legal table {sorted(legal)}",
            {"transitions": illegal[:20]},
        )


@check("versions_step_by_one", phase="step")
def versions_step_by_one(obs: Observation) -> None:
    """6. Per X and mode, each status change raises the version by exactly one and starts where the last ended."""
    transitions = _need(obs, "transitions", "transition history")
    broken = []
    chains: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for t in transitions:
        chains[(t["x"], t["mode"])].append(t)
    for (x, mode), chain in chains.items():
        previous_version, previous_to = None, "NOT_BIND"
        for t in chain:
            expected_version = 1 if previous_version is None else previous_version + 1
            if t["from"] != previous_to or (previous_version is not None and t["version"] != expected_version):
                broken.append({"x": x, "mode": mode, "expected_from": previous_to,
                               "expected_version": expected_version, "transition": t})
                break
            previous_version, previous_to = t["version"], t["to"]
    if obs.core_numbers is not None:
        last = {key: chain[-1] for key, chain in chains.items()}
        for row in obs.core_numbers:
            for mode in MODES:
                view, t = _view(row, mode), last.get((row["x"], mode))
                shown = view.get("version") if view.get("version") is not None else t and t["version"]
                if t is not None and (shown, view.get("status")) != (t["version"], t["to"]):
                    broken.append({"x": row["x"], "mode": mode, "row": view, "last_transition": t})
    if broken:
        raise Violation(
            "version or status chain broken",
            f"{len(broken)} X/mode pair(s) where a change skipped, repeated or lost a version",
            {"chains": broken[:20]},
        )


@check("linearizable")
def linearizable(obs: Observation) -> None:
    """6. The client history (invoke/ok/fail/info) is linearizable per X and mode against the binding register."""
    history = _need(obs, "history", "operation history")
    bad = [v for v in check_history(history, getattr(history, "initial", None)) if v.linearizable is False]
    if bad:
        raise Violation(
            "history not linearizable",
            f"{len(bad)} X/mode key(s) whose observed results no serial order explains",
            {
                "keys": [
                    {"x": v.key[0], "mode": v.key[1], "why": v.explanation,
                     "operations": [op.to_dict() for op in v.operations][:40]}
                    for v in bad[:5]
                ]
            },
        )


def expected_route(core_row: dict[str, Any], caller: str) -> str | None:
    """Whom `caller` dialling X should reach by the core's view (AXB: A<->B; XB: anyone else -> B), None: rejected."""
    axb, xb = _view(core_row, "AXB"), _view(core_row, "XB")
    if axb.get("status") == "BIND":
        if caller == axb.get("a"):
            return axb.get("b")
        if caller == axb.get("b"):
            return axb.get("a")
    if xb.get("status") == "BIND" and caller != xb.get("b"):
        return xb.get("b")
    return None


@check("calls_routed_as_core_says")
def calls_routed_as_core_says(obs: Observation) -> None:
    """7. Calls placed through the simulator reach whom the core's view says (or are rejected)."""
    calls = _need(obs, "calls", "placed calls")
    wrong = []
    for probe in calls:
        want = expected_route(probe.core_row, probe.caller)
        got = probe.callee if probe.outcome == "connected" else None
        if want != got:
            wrong.append({"caller": probe.caller, "x": probe.x, "expected": want, "got": got,
                          "reason": probe.reason, "core": probe.core_row})
    if wrong:
        raise Violation(
            "call misrouted",
            f"{len(wrong)} call(s) routed differently from the core's view",
            {"calls": wrong[:20]},
        )


def history_outcomes(obs: Observation) -> dict[str, int]:
    """Counts of ok/fail/info operations, for the reports."""
    counts = Counter(op.outcome.value if op.outcome else "open" for op in (obs.history or []))
    return {o.value: counts.get(o.value, 0) for o in Outcome}
