"""The core's attempt counts against the provider's journal (pure): every failed call is one attempt used up.

attempts_capped_at_provider bounds the calls from above; this bounds the core's count from below, on the old
(synchronous) path as on the new one: a core that forgets a failed call grants an operation more calls than
max_attempts allows, and raises its alert late or never.
"""

from __future__ import annotations

from typing import Any

from .observation import Observation
from .registry import NotApplicable, Violation, check
from .routing import _calls_by_operation, _need

# Answers the core takes as a failed attempt (docs/core.md): none at all (timeout, reset), throttling, a timeout
# at the gateway, and any 5xx.
FAILED = (None, 408, 429)
# A call answered this much later than the core's timeout is one the core gave up on.
HELD_SLACK = 0.1
# A crash just after a failed call's answer (before the core wrote the attempt down) loses that one count.
CRASH_SLACK = 1.0


def _failed(call: dict[str, Any], timeout: float) -> bool:
    """`call` is one attempt (routing._attempts): a call the HTTP client resent at once carries the resend's
    answer, which is the one the core saw."""
    if float(call["end"]) - float(call["at"]) > timeout + HELD_SLACK:
        return True  # held past the core's timeout: the core saw no answer, whatever the provider said later
    status = call.get("status")
    return status in FAILED or (isinstance(status, int) and status >= 500)


@check("failed_calls_counted")
def failed_calls_counted(obs: Observation) -> str | None:
    """Every failed create or delete call at the provider counts as one of its operation's attempts, on either path."""
    policy = _need(obs, "policy", "retry policy")
    operations = _need(obs, "operations", "core operations")
    calls = _need(obs, "write_calls", "provider journal")
    if any("attempts" not in op for op in operations):
        raise NotApplicable("the service's operations do not show their attempt counts")
    ops = {str(op.get("id")): op for op in operations if op.get("kind") in ("bind", "unbind")}
    by_op = _calls_by_operation(calls, set(ops))
    if ops and [c for c in calls if c.get("key")] and not by_op:
        raise NotApplicable("the service's Idempotency-Keys do not end in its operation ids")
    if ops and calls and not any(c.get("key") for c in calls):
        raise NotApplicable("the service sends no Idempotency-Key: the journal's calls cannot be told apart by operation")
    crashes = sorted(obs.crash_times)
    short, checked = [], 0
    for op_id, made in by_op.items():
        failed = [c for c in made if _failed(c, policy.provider_timeout)]
        if not failed:
            continue
        checked += 1
        lost = sum(1 for t in crashes if any(c["at"] <= t <= c["end"] + CRASH_SLACK for c in failed))
        counted = int(ops[op_id].get("attempts") or 0)
        if counted + lost < len(failed):
            short.append({"operation_id": op_id, "path": ops[op_id].get("path"), "kind": ops[op_id].get("kind"),
                          "attempts": counted, "failed_calls": len(failed), "lost_to_crashes": lost,
                          "calls": [{"at": round(c["at"], 3), "status": c.get("status")} for c in failed][:20]})
    if short:
        raise Violation(
            "failed calls not counted as attempts",
            f"{len(short)} of {checked} operation(s) with failed provider calls count fewer attempts than the calls "
            "that failed (less one per crash that cut such a call off)",
            {"operations": short[:20], "crash_times": [round(t, 3) for t in crashes]},
        )
    return f"{checked} operation(s) with failed calls, each counted" if checked else None


@check("sweeps_count_no_attempts")
def sweeps_count_no_attempts(obs: Observation) -> str | None:
    """A sweep (the clean-up after a bind that ended in doubt) never counts attempts and never raises an alert."""
    operations = _need(obs, "operations", "core operations")
    sweeps = [op for op in operations if op.get("kind") == "sweep"]
    if not sweeps:
        return None
    alerted = {str(a.get("operation_id")) for a in obs.alerts or ()}
    wrong = [{"operation_id": op.get("id"), "origin": op.get("origin"), "attempts": op.get("attempts"),
              "alerted": str(op.get("id")) in alerted, "last_error": op.get("last_error")}
             for op in sweeps if int(op.get("attempts") or 0) > 0 or str(op.get("id")) in alerted]
    if wrong:
        raise Violation(
            "a sweep counted attempts",
            f"{len(wrong)} of {len(sweeps)} sweep(s) counted attempts or raised an alert: a sweep retries until it "
            "is done, and a count would give it up or alert on a clean-up that is working",
            {"sweeps": wrong[:20]},
        )
    return f"{len(sweeps)} sweep(s), none counted an attempt"
