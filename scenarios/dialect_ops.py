"""Fault rules written for the native API, moved onto a vendor's wire: one pure table and one function.

Scenario files and drawn faults name the provider's native operations
(`create_binding`, `delete_binding`, `list_bindings`, `get_binding`). When the
core speaks a vendor dialect, the same logical operation arrives as that
vendor's actions, so each native name becomes the actions the core's client
sends for it (binding_core/provider/aliyun.py, tencent.py, volcengine.py) and the rule is
pinned to the vendor's dialect.

NPP (tencent) has no lookup action: the core's client finds a binding by
probing with GetVirtualNum (giving the reference back with DelVirtualNum) and
"gets" one by releasing it. A real NPP outage is per action, and there is no
read action to be down, so a rule on reads alone is not installed on that wire
(`translate_rule` returns None); create/delete faults hit the probes too, as
they would in production.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

DIALECTS = ("native", "aliyun", "tencent", "volcengine")

# native operation -> the vendor actions the core's client sends to do it.
VENDOR_ACTIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "aliyun": {
        "create_binding": ("BindXB", "BindAxb"),
        "delete_binding": ("UnBindXB", "UnbindSubscription"),
        # find_bindings: XB looks X up in the work-number listing (then BindXB, a create-or-get, when X carries
        # one: that call is a create on the wire and stays with create_binding); AXB asks QuerySubsId, the detail.
        "list_bindings": ("ListXTelephones", "QuerySubsId", "QuerySubscriptionDetail"),
        # get_binding / locating a binding for delete: the work-number listing, then each number's detail.
        "get_binding": ("ListXTelephones", "QuerySubscriptionDetail"),
    },
    "tencent": {
        "create_binding": ("GetVirtualNum",),
        "delete_binding": ("DelVirtualNum",),
        "list_bindings": (),  # no lookup action: probes are GetVirtualNum + DelVirtualNum
        "get_binding": (),  # answered by releasing (DelVirtualNum)
    },
    "volcengine": {
        "create_binding": ("BindAXN", "BindAXB"),  # the core's XB is an AXN on vms
        "delete_binding": ("UnbindAXN", "UnbindAXB"),
        "list_bindings": ("QuerySubscriptionForList",),
        # get_binding, and learning a binding's family before an unbind the client has not seen it make
        "get_binding": ("QuerySubscription",),
    },
}


# The native operations the core's settling lookups use on each wire: on NPP a lookup is a create-or-get
# probe and its release; an Aliyun XB is found with BindXB (create-or-get) after the listing.
SETTLE_LOOKUPS: dict[str, tuple[str, ...]] = {
    "native": ("list_bindings", "get_binding"),
    "aliyun": ("list_bindings", "get_binding", "create_binding"),
    "tencent": ("create_binding", "delete_binding"),
    "volcengine": ("list_bindings", "get_binding"),
}
# Actions after which a request never succeeds: with no `when`, the rule is a hard outage.
_ALWAYS_FAILS = frozenset({"status", "timeout", "reset", "empty_reply", "truncated_body", "malformed_body",
                           "ghost_success"})


def blocks_settling(rule: dict[str, Any], dialect: str) -> bool:
    """Whether `rule` (native names) is a hard outage of a call the core's settling lookups need on `dialect`'s
    wire. While one is installed no dead operation can be settled by any core: that time is downtime to the
    liveness bound, like a crash's."""
    if rule.get("when") or (rule.get("action") or {}).get("kind") not in _ALWAYS_FAILS:
        return False
    match = rule.get("match") or {}
    if match.get("dialect", dialect) != dialect:
        return False
    if "operation" not in match:
        return True
    operations = match["operation"] if isinstance(match["operation"], list) else [match["operation"]]
    return any(fnmatchcase(lookup, str(op)) for op in operations for lookup in SETTLE_LOOKUPS[dialect])


def vendor_actions(dialect: str, operation: str) -> tuple[str, ...]:
    """The actions `operation` (a native name or a glob over native names) becomes on `dialect`'s wire.

    A name that is no native operation (already a vendor action, say) is kept as written; a native
    operation the vendor has no action for becomes nothing.
    """
    if dialect == "native":
        return (operation,)
    table = VENDOR_ACTIONS[dialect]
    natives = [name for name in table if fnmatchcase(name, operation)]
    if not natives:
        return (operation,)
    out: list[str] = []
    for name in natives:
        out.extend(a for a in table[name] if a not in out)
    return tuple(out)


def translate_rule(rule: dict[str, Any], dialect: str) -> dict[str, Any] | None:
    """`rule` (the provider's rule format) aimed at `dialect`'s wire; a new dict, the input is untouched.
    None when none of its operations exists on that wire (the rule has nothing to hit).

    Left as written: native runs, push rules (they act on outbound pushes, not
    on the core's calls) and rules that already name a dialect (their author
    chose the wire).
    """
    if dialect not in DIALECTS:
        raise ValueError(f"unknown dialect {dialect!r}; known: {', '.join(DIALECTS)}")
    match = rule.get("match") or {}
    if dialect == "native" or "dialect" in match:
        return dict(rule)
    if "operation" not in match:
        return _pinned(rule, dialect)
    operations = match["operation"] if isinstance(match["operation"], list) else [match["operation"]]
    actions: list[str] = []
    for operation in operations:
        actions.extend(a for a in vendor_actions(dialect, operation) if a not in actions)
    if not actions:
        return None
    return {**rule, "match": {**match, "operation": actions, "dialect": dialect}}


def _pinned(rule: dict[str, Any], dialect: str) -> dict[str, Any]:
    """A request rule with no operation (every call) is pinned to the vendor's wire; a push rule is kept."""
    from simulator.faults.rules import PUSH_KINDS

    if rule.get("action", {}).get("kind") in PUSH_KINDS:
        return dict(rule)
    return {**rule, "match": {**(rule.get("match") or {}), "dialect": dialect}}


def translate_rules(rules: list[dict[str, Any]], dialect: str) -> list[dict[str, Any]]:
    """The rules that exist on `dialect`'s wire, translated (see translate_rule)."""
    return [t for t in (translate_rule(rule, dialect) for rule in rules) if t is not None]


def core_operations(dialect: str) -> frozenset[str]:
    """Every operation name the core's calls carry on `dialect`'s wire (what the reports count as provider calls)."""
    natives = tuple(VENDOR_ACTIONS["aliyun"])
    if dialect == "native":
        return frozenset(natives)
    return frozenset(a for name in natives for a in VENDOR_ACTIONS[dialect][name])
