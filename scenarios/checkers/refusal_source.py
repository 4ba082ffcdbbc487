"""A refusal the core passes on is one the provider gave (pure).

When the core settles a bind or unbind as refused by the provider (outcome `refused`), the provider's journal
must show it: a create (for a bind) or a delete (for an unbind) on that number, made while the operation ran,
that the provider answered with a refusal (4xx, not a throttle or a timeout, and read whole; on a vendor's
wire, whose refusals come in an HTTP 200 envelope, a whole 200 too). A core that makes
a refusal up -- a vendor client that rejects a request before sending it, or reads an answer as a refusal that
was not one -- loses the caller's request with a reason the provider never gave, and no other check sees it,
since any refusal is a legal answer to the linearizability model. Refusals the core reports as not sent (its
breaker open, the provider unreachable) made no call and are left out.
"""

from __future__ import annotations

from typing import Any

from ..dialect_ops import VENDOR_ACTIONS
from .invariants import _need
from .observation import Observation
from .registry import NotApplicable, Violation, check
from .wire import fault_kinds

# Journal times and the core's operation times come from one loop in-process; a call's arrival may be stamped a
# hair before the operation's creation.
SLACK = 0.05
# Answers after which the core cannot read a refusal: the call failed, whatever its status.
_UNREAD = frozenset({"timeout", "reset", "empty_reply", "truncated_body", "malformed_body", "ghost_success",
                     "wrong_shape_body"})
CALL_FOR = {"bind": "create_binding", "unbind": "delete_binding"}


def call_names(kind: str, dialect: str) -> frozenset[str]:
    """The journal's names, on `dialect`'s wire, of the call an operation of `kind` makes (BindXB, DelVirtualNum...)."""
    native = CALL_FOR[kind]
    return frozenset({native, *VENDOR_ACTIONS.get(dialect, {}).get(native, ())})


def is_refusal(call: dict[str, Any], dialect: str = "native") -> bool:
    """The provider may have refused this call and the core could read it: a 4xx other than 408 and 429, whole.
    The vendors' wires refuse inside an HTTP 200 envelope (an error code in the body, which the journal's row
    does not carry), so there any whole 200 counts too."""
    status = call.get("status")
    if status is None or int(status) in (408, 429) or fault_kinds(call) & _UNREAD:
        return False
    return 400 <= int(status) < 500 or (dialect != "native" and int(status) == 200)


def _about(call: dict[str, Any], op: dict[str, Any]) -> bool:
    """The call is on the operation's number and mode (a vendor's journal may name only the binding, or no mode)."""
    if call.get("binding_id") and op.get("binding_id") and str(call["binding_id"]) == str(op["binding_id"]):
        return True
    same_x = call.get("x") is not None and str(call["x"]) == str(op.get("x"))
    return same_x and call.get("mode") in (None, op.get("mode"))


@check("refusal_answered_by_provider")
def refusal_answered_by_provider(obs: Observation) -> str | None:
    """Every refusal the core passes on was the provider's own.

    A bind or unbind the core settled as refused had a create (or delete) on its number, made while it ran, that
    the provider answered with a 4xx refusal the core could read."""
    operations = _need(obs, "operations", "the service's operations")
    calls = _need(obs, "wire_calls", "the provider's journal of the core's calls")
    if obs.core_epoch is None:
        raise NotApplicable("the service's clock is not tied to the harness's: its operations cannot be placed "
                            "among the provider's calls")
    refused = [op for op in operations if op.get("outcome") == "refused" and op.get("kind") in CALL_FOR
               and not str(op.get("last_error") or "").startswith("not sent")]
    made_up = []
    for op in refused:
        if not isinstance(op.get("created_at"), (int, float)):
            raise NotApplicable("the service's operations do not carry their times (created_at)")
        start = float(op["created_at"]) - obs.core_epoch - SLACK
        finished = op.get("finished_at")
        end = float(finished) - obs.core_epoch + SLACK if isinstance(finished, (int, float)) else obs.now
        want = call_names(str(op["kind"]), obs.dialect)
        if not any(c.get("operation") in want and start <= float(c["at"]) <= end and _about(c, op)
                   and is_refusal(c, obs.dialect)
                   for c in calls):
            made_up.append(op)
    if made_up:
        first = made_up[0]
        raise Violation(
            "refusal the provider never gave",
            f"{len(made_up)} operation(s) settled as refused without a refusal from the provider; e.g. "
            f"{first.get('kind')} {first.get('id')} ({first.get('mode')} on {first.get('x')}): "
            f"{first.get('last_error') or 'no reason given'}, but no {CALL_FOR[str(first['kind'])]} on that number "
            f"was refused while it ran",
            {"operations": [{k: op.get(k) for k in ("id", "kind", "x", "mode", "path", "last_error")}
                            for op in made_up[:10]]},
        )
    return f"{len(refused)} refusal(s), each answered by the provider" if refused else None
