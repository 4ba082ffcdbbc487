"""Fault rules as data: parsing and strict validation of `{"id", "match", "action", "when"}`.

No I/O and no randomness here: a rule is a frozen value; `engine.py` decides
with it and `middleware.py` / `push.py` apply the decision.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Mapping

MATCH_FIELDS = ("dialect", "operation", "x", "a", "b", "path")
_GLOB = re.compile(r"[*?\[]")
WHEN_FIELDS = ("probability", "first", "every", "nth", "window")
WINDOW_FIELDS = ("start", "end")

# Actions applied to an HTTP request by the fault middleware.
REQUEST_KINDS = (
    "latency",
    "timeout",
    "status",
    "reset",
    "empty_reply",
    "truncated_body",
    "malformed_body",
    "wrong_shape_body",
    "ghost_success",
    "delayed_visibility",
)
# Actions applied to an outbound push (call record, expiry notice) by the pusher.
PUSH_KINDS = ("drop", "duplicate", "delay", "reorder")
KINDS = REQUEST_KINDS + PUSH_KINDS
# Terminal kinds end the request; latency only delays it and combines with them.
DISTRIBUTIONS = ("fixed", "uniform", "lognormal")
FAULT_STATUSES = (429, 500, 502, 503, 504)
# A `status` action may also refuse outright, applying nothing (a ghost success never answers with a refusal: its
# change was applied). 409: a conflict, the refusal a synchronous caller must be told as one.
REFUSAL_STATUSES = (409,)
GHOST_THEN = ("status", "reset", "timeout")

# The keys each action kind accepts, besides "kind"; the value says which are required.
_ACTION_KEYS: dict[str, dict[str, bool]] = {
    "latency": {"distribution": False, "seconds": False, "min": False, "max": False, "median": False, "sigma": False},
    "timeout": {"seconds": False},
    "status": {"status": True, "retry_after": False},
    "reset": {},
    "empty_reply": {},
    "truncated_body": {},
    "malformed_body": {},
    "wrong_shape_body": {},
    "ghost_success": {"then": False, "status": False, "retry_after": False, "seconds": False},
    "delayed_visibility": {"seconds": True},
    "drop": {},
    "duplicate": {"copies": False},
    "delay": {"seconds": True},
    "reorder": {"seconds": False},
}


class RuleError(ValueError):
    """A rule that cannot be loaded; the message names the rule and the offending key."""


@dataclass(frozen=True)
class Match:
    """Each field is a list of fnmatch patterns (any may match); an empty list matches everything."""

    dialect: tuple[str, ...] = ()
    operation: tuple[str, ...] = ()
    x: tuple[str, ...] = ()
    a: tuple[str, ...] = ()
    b: tuple[str, ...] = ()
    path: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Compiled once: (field, exact values, glob patterns) for the fields that constrain anything.
        checks = []
        for name in MATCH_FIELDS:
            patterns = getattr(self, name)
            if patterns:
                exact = frozenset(p for p in patterns if not _GLOB.search(p))
                globs = tuple(p for p in patterns if _GLOB.search(p))
                checks.append((name, exact, globs))
        object.__setattr__(self, "_checks", tuple(checks))

    def matches(self, values: Mapping[str, str | None]) -> bool:
        for name, exact, globs in self._checks:  # type: ignore[attr-defined]
            value = values.get(name)
            if value is None:
                return False
            if value not in exact and not any(fnmatchcase(value, p) for p in globs):
                return False
        return True

    def to_dict(self) -> dict[str, Any]:
        return {name: list(getattr(self, name)) if len(getattr(self, name)) != 1 else getattr(self, name)[0]
                for name in MATCH_FIELDS if getattr(self, name)}


@dataclass(frozen=True)
class When:
    """All given conditions must hold. Counts are 1-based per (rule, request key)."""

    probability: float | None = None
    first: int | None = None
    every: int | None = None
    nth: int | None = None
    # Seconds since the provider started (its clock), [start, end).
    window: tuple[float | None, float | None] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in ("probability", "first", "every", "nth"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        if self.window is not None:
            out["window"] = {k: v for k, v in zip(WINDOW_FIELDS, self.window) if v is not None}
        return out


@dataclass(frozen=True)
class Action:
    kind: str
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_push(self) -> bool:
        return self.kind in PUSH_KINDS

    def get(self, name: str, default: Any = None) -> Any:
        return self.params.get(name, default)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **self.params}


@dataclass(frozen=True)
class FaultRule:
    id: str
    match: Match
    action: Action
    when: When

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "match": self.match.to_dict(), "action": self.action.to_dict(), "when": self.when.to_dict()}


def parse_rule(data: object, *, default_id: str) -> FaultRule:
    """Validate one rule; unknown keys, wrong types and unknown kinds raise RuleError naming them."""
    where = f"rule {default_id}"
    if not isinstance(data, Mapping):
        raise RuleError(f"{where}: a rule must be an object, got {type(data).__name__}")
    _no_unknown(data, ("id", "match", "action", "when"), where)
    rule_id = data.get("id", default_id)
    if not isinstance(rule_id, str) or not rule_id or len(rule_id) > 100:
        raise RuleError(f"{where}: id must be a non-empty string of at most 100 characters")
    where = f"rule {rule_id}"
    if "action" not in data:
        raise RuleError(f"{where}: action is required")
    action = _parse_action(data["action"], where)
    match = _parse_match(data.get("match", {}), where)
    if action.is_push and match.path:
        raise RuleError(f"{where}: match.path does not apply to a push action ({action.kind})")
    when = _parse_when(data.get("when", {}), where)
    return FaultRule(id=rule_id, match=match, action=action, when=when)


def parse_rules(items: object, *, first_index: int = 1) -> list[FaultRule]:
    if not isinstance(items, list):
        raise RuleError(f"rules must be a list, got {type(items).__name__}")
    rules = [parse_rule(item, default_id=f"rule-{first_index + i}") for i, item in enumerate(items)]
    seen: set[str] = set()
    for rule in rules:
        if rule.id in seen:
            raise RuleError(f"rule {rule.id}: duplicate id")
        seen.add(rule.id)
    return rules


def load_rules_file(path: str | Path) -> list[FaultRule]:
    """A TOML file of `[[rules]]` tables (docs/faults.md)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise RuleError(f"{path}: {exc}") from exc
    _no_unknown(data, ("rules",), str(path))
    try:
        return parse_rules(data.get("rules", []))
    except RuleError as exc:
        raise RuleError(f"{path}: {exc}") from exc


def _no_unknown(data: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise RuleError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(allowed)}")


def _parse_match(data: object, where: str) -> Match:
    if not isinstance(data, Mapping):
        raise RuleError(f"{where}: match must be an object")
    _no_unknown(data, MATCH_FIELDS, f"{where}: match")
    values: dict[str, tuple[str, ...]] = {}
    for name, raw in data.items():
        items = raw if isinstance(raw, list) else [raw]
        if not items or not all(isinstance(p, str) and p for p in items):
            raise RuleError(f"{where}: match.{name} must be a non-empty string or a list of them")
        values[name] = tuple(items)
    return Match(**values)


def _number(value: object, name: str, where: str, *, minimum: float = 0.0, integer: bool = False,
            strict_min: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise RuleError(f"{where}: {name} must be a {'whole ' if integer else ''}number, got {value!r}")
    if integer and (not isinstance(value, int)):
        raise RuleError(f"{where}: {name} must be a whole number, got {value!r}")
    if value < minimum or (strict_min and value == minimum):
        raise RuleError(f"{where}: {name} must be {'>' if strict_min else '>='} {minimum:g}, got {value!r}")
    return value


def _parse_when(data: object, where: str) -> When:
    if not isinstance(data, Mapping):
        raise RuleError(f"{where}: when must be an object")
    _no_unknown(data, WHEN_FIELDS, f"{where}: when")
    values: dict[str, Any] = {}
    if "probability" in data:
        p = _number(data["probability"], "when.probability", where)
        if p > 1:
            raise RuleError(f"{where}: when.probability must be between 0 and 1, got {p!r}")
        values["probability"] = float(p)
    for name in ("first", "every", "nth"):
        if name in data:
            values[name] = int(_number(data[name], f"when.{name}", where, minimum=1, integer=True))
    if "window" in data:
        window = data["window"]
        if not isinstance(window, Mapping) or not window:
            raise RuleError(f"{where}: when.window must be an object with start and/or end (seconds since start)")
        _no_unknown(window, WINDOW_FIELDS, f"{where}: when.window")
        start = _number(window["start"], "when.window.start", where) if "start" in window else None
        end = _number(window["end"], "when.window.end", where) if "end" in window else None
        if start is not None and end is not None and end <= start:
            raise RuleError(f"{where}: when.window.end must be after start")
        values["window"] = (start, end)
    return When(**values)


def _parse_action(data: object, where: str) -> Action:
    if not isinstance(data, Mapping):
        raise RuleError(f"{where}: action must be an object with a kind")
    kind = data.get("kind")
    if kind not in _ACTION_KEYS:
        raise RuleError(f"{where}: action.kind must be one of {', '.join(KINDS)}, got {kind!r}")
    allowed = _ACTION_KEYS[kind]
    _no_unknown(data, ("kind", *allowed), f"{where}: action ({kind})")
    for name, required in allowed.items():
        if required and name not in data:
            raise RuleError(f"{where}: action ({kind}) needs {name}")
    params = {k: v for k, v in data.items() if k != "kind"}
    checker = _ACTION_CHECKS.get(kind)
    if checker:
        params = checker(params, f"{where}: action ({kind})")
    return Action(kind=kind, params=params)


def _check_latency(p: dict[str, Any], where: str) -> dict[str, Any]:
    distribution = p.setdefault("distribution", "fixed")
    if distribution not in DISTRIBUTIONS:
        raise RuleError(f"{where}: distribution must be one of {', '.join(DISTRIBUTIONS)}, got {distribution!r}")
    needs = {"fixed": ("seconds",), "uniform": ("min", "max"), "lognormal": ("median", "sigma")}[distribution]
    extra = sorted(set(p) - {"distribution", *needs})
    if extra:
        raise RuleError(f"{where}: a {distribution} latency takes {', '.join(needs)}, not {', '.join(extra)}")
    for name in needs:
        if name not in p:
            raise RuleError(f"{where}: a {distribution} latency needs {name}")
        _number(p[name], name, where)
    if distribution == "uniform" and p["max"] < p["min"]:
        raise RuleError(f"{where}: max must be >= min")
    if distribution == "lognormal" and p["median"] <= 0:
        raise RuleError(f"{where}: median must be > 0")
    return p


def _check_status(p: dict[str, Any], where: str, allowed: tuple[int, ...] = FAULT_STATUSES + REFUSAL_STATUSES) -> dict[str, Any]:
    if p.get("status") not in allowed:
        raise RuleError(f"{where}: status must be one of {', '.join(map(str, allowed))}, got {p.get('status')!r}")
    if "retry_after" in p:
        _number(p["retry_after"], "retry_after", where)
    elif p["status"] == 429:
        p["retry_after"] = 1
    return p


def _check_ghost(p: dict[str, Any], where: str) -> dict[str, Any]:
    then = p.setdefault("then", "status")
    if then not in GHOST_THEN:
        raise RuleError(f"{where}: then must be one of {', '.join(GHOST_THEN)}, got {then!r}")
    if then == "status":
        p.setdefault("status", 503)
        _check_status(p, where, FAULT_STATUSES)
    elif "status" in p or "retry_after" in p:
        raise RuleError(f"{where}: status/retry_after only go with then = \"status\"")
    if "seconds" in p:
        if then != "timeout":
            raise RuleError(f"{where}: seconds only goes with then = \"timeout\"")
        _number(p["seconds"], "seconds", where, strict_min=True)
    return p


def _check_seconds(p: dict[str, Any], where: str) -> dict[str, Any]:
    if "seconds" in p:
        _number(p["seconds"], "seconds", where, strict_min=True)
    return p


def _check_duplicate(p: dict[str, Any], where: str) -> dict[str, Any]:
    p.setdefault("copies", 2)
    _number(p["copies"], "copies", where, minimum=2, integer=True)
    return p


_ACTION_CHECKS = {
    "latency": _check_latency,
    "status": _check_status,
    "ghost_success": _check_ghost,
    "timeout": _check_seconds,
    "delayed_visibility": _check_seconds,
    "delay": _check_seconds,
    "reorder": _check_seconds,
    "duplicate": _check_duplicate,
}
