"""What the service says to its callers and operators is true to its contract (pure).

`answers_in_contract`: every answer to a bind or unbind has a status the service's API allows for it (for the
bundled core, its OpenAPI document). Any 4xx reads as a refusal and any 5xx as an unknown outcome, so a core that
answers a conflict with a 410 would pass every other check; the caller's code, written to the contract, would not.

`health_tells_truth`: the service's GET /health, read at the start of each example and after quiescence, answers,
reports a credentials problem only when the provider refused the core's credentials, and counts exactly the
operations the service lists. An operator acts on it: a made-up credentials problem pages someone for nothing, and
wrong counts hide stuck work.
"""

from __future__ import annotations

from typing import Any

from .observation import Observation
from .registry import NotApplicable, Violation, check

KINDS = ("bind", "unbind")
STATES = ("pending", "running", "done", "dead")
# The statuses with which a provider refuses a caller's credentials (native: a gateway's 401/403).
AUTH_STATUSES = frozenset({401, 403})


@check("answers_in_contract")
def answers_in_contract(obs: Observation) -> str | None:
    """Every answer the service gives to a bind or unbind has a status its contract allows for that request.

    A status outside the contract (for the bundled core: 200, 202, 400, 409, 413, 415, 422, 502, 503, 504) is a
    violation, not an unknown outcome or a refusal."""
    allowed = obs.answer_statuses
    if allowed is None:
        raise NotApplicable("the adapter does not state which statuses the service's API answers "
                            "(its `answer_statuses`)")
    sent = [r for r in obs.requests if r.get("kind") in KINDS]
    answered = [r for r in sent if r.get("status") is not None]
    if not sent:
        return "no bind or unbind was sent in this example"
    if not answered:
        raise NotApplicable(f"none of the {len(sent)} bind/unbind answers carried an HTTP status")
    outside = [r for r in answered if int(r["status"]) not in allowed]
    if outside:
        first = outside[0]
        statuses = sorted({int(r["status"]) for r in outside})
        raise Violation(
            "answer outside the contract",
            f"{len(outside)} of {len(answered)} bind/unbind answers had a status the service's contract does not "
            f"allow ({', '.join(map(str, statuses))}; allowed: {', '.join(map(str, sorted(allowed)))}); e.g. "
            f"{first.get('kind')} {first.get('mode')} on {first.get('x')} answered {first.get('status')}",
            {"answers": [{k: r.get(k) for k in ("kind", "x", "mode", "status", "operation_id", "outcome")}
                         for r in outside[:10]]},
        )
    return f"{len(answered)} answer(s), each with a status in the contract"


def _credentials_refused(obs: Observation) -> bool:
    """The provider may have refused the core's credentials: a 401/403 in its journal (over a vendor's wire, whose
    refusals come in an HTTP 200 envelope the journal's row does not open, any whole 200 or 4xx too)."""
    if obs.wire_calls is None:
        return True  # the journal could not be read: nothing shows the problem made up
    for call in obs.wire_calls:
        status = call.get("status")
        if status is None:
            continue
        if int(status) in AUTH_STATUSES or (obs.dialect != "native" and (int(status) == 200 or 400 <= int(status) < 500)):
            return True
    return False


def _problem(snapshot: dict[str, Any], obs: Observation) -> str | None:
    """What is untrue in one /health snapshot, or None."""
    when = "at the example's start" if snapshot.get("at") == "start" else "after quiescence"
    body = snapshot.get("body")
    if snapshot.get("status") != 200 or not isinstance(body, dict):
        return f"GET /health {when} answered {snapshot.get('status') or 'nothing'}, not 200 with a JSON object"
    problems = [str(p) for p in body.get("problems") or []]
    credentials = [p for p in problems if "credential" in p.lower()]
    if credentials and not _credentials_refused(obs):
        return (f"GET /health {when} reports a credentials problem the provider never caused (no call was refused "
                f"with 401/403): {credentials[0]}")
    counts, listed = body.get("operations"), snapshot.get("listed")
    if isinstance(counts, dict) and listed is not None:
        wrong = {s: (counts.get(s, 0), listed.get(s, 0)) for s in STATES if counts.get(s, 0) != listed.get(s, 0)}
        if wrong:
            said = ", ".join(f"{s} {c} (listed {n})" for s, (c, n) in wrong.items())
            return f"GET /health {when} counts operations other than those the service lists: {said}"
    return None


@check("health_tells_truth")
def health_tells_truth(obs: Observation) -> str | None:
    """The service's health report tells the truth at quiescence: no credentials problem unless the provider refused the
    core's credentials, and its operation counts equal the operations the service lists.

    Read at the start of each example (nothing run yet) and after quiescence; a report that does not answer 200
    with a JSON object is a violation too."""
    snapshots = obs.health
    if snapshots is None:
        raise NotApplicable(obs.unavailable.get("health", "the service's health report was not read"))
    if not snapshots:
        raise NotApplicable("no health report was read in this example")
    untrue = [p for p in (_problem(s, obs) for s in snapshots) if p]
    if untrue:
        raise Violation("untrue health report", untrue[0], {"problems": untrue,
                                                             "reports": [dict(s) for s in snapshots]})
    return None
