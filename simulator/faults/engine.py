"""The fault engine: which fault (if any) a request or a push gets. Pure decisions, no I/O.

Determinism: a decision depends only on (seed, rule id, request key, n) where n
counts the earlier requests with that key that matched the rule. Each decision
draws from its own `random.Random(f"{seed}:{rule_id}:{key}:{n}")`, never from a
shared stream, so concurrent requests on different X get the same faults in
any arrival order.
"""

from __future__ import annotations

import fnmatch
import math
import random
import re
from collections import defaultdict
from fnmatch import fnmatchcase
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from ..dialects.base import RequestInfo
from .rules import Action, FaultRule, RuleError, parse_rule, parse_rules


@dataclass(frozen=True)
class Decision:
    """What the middleware does to one request: wait `delay` seconds, then apply `action` (None: serve normally)."""

    delay: float = 0.0
    action: Action | None = None
    rule_ids: tuple[str, ...] = ()
    # The latency outlasted the provider's request deadline: answered 504, never applied, action dropped.
    past_deadline: bool = False

    @property
    def label(self) -> str:
        """How the journal and metrics name the fault: e.g. "latency+status:503", "latency+deadline"."""
        parts = ["latency"] if self.delay > 0 else []
        if self.past_deadline:
            parts.append("deadline")
        elif self.action is not None:
            parts.append(describe_action(self.action))
        return "+".join(parts)


def describe_action(action: Action) -> str:
    if action.kind == "status":
        return f"status:{action.get('status')}"
    if action.kind == "ghost_success":
        then = action.get("then")
        return f"ghost_success:{action.get('status') if then == 'status' else then}"
    return action.kind


@dataclass
class _RuleStats:
    matched: int = 0
    fired: int = 0


@dataclass
class FaultEngine:
    """The rule table plus the per-(rule, key) counters that make decisions replayable."""

    seed: int = 0
    rules: list[FaultRule] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._counts: dict[tuple[str, str], int] = defaultdict(int)
        self._stats: dict[str, _RuleStats] = defaultdict(_RuleStats)
        self._next_id = len(self.rules) + 1
        # (dialect, operation) -> the HTTP rules whose dialect and operation patterns admit it, in table order:
        # a request no rule can match costs one dict lookup. Rebuilt whenever the table changes.
        self._candidates: dict[tuple[str, str], tuple[tuple[FaultRule, _Residual], ...]] = {}
        self._candidates_of: tuple[int, int] = (id(self.rules), len(self.rules))

    # ---- the rule table --------------------------------------------------

    def list(self) -> list[dict[str, Any]]:
        return [
            {**rule.to_dict(), "matched": self._stats[rule.id].matched, "fired": self._stats[rule.id].fired}
            for rule in self.rules
        ]

    def replace(self, items: object) -> list[FaultRule]:
        """Validate all, then swap the whole table (nothing changes if one rule is bad)."""
        rules = parse_rules(items, first_index=1)
        self.rules = rules
        self._next_id = len(rules) + 1
        self.reset_counters()
        return rules

    def extend(self, rules: Iterable[FaultRule]) -> None:
        for rule in rules:
            self._insert(rule)

    def add(self, item: object) -> FaultRule:
        """Add one rule; a rule with an existing id replaces that rule in place (its counters restart)."""
        while any(r.id == f"rule-{self._next_id}" for r in self.rules):
            self._next_id += 1
        rule = parse_rule(item, default_id=f"rule-{self._next_id}")
        self._insert(rule)
        return rule

    def remove(self, rule_id: str) -> bool:
        before = len(self.rules)
        self.rules = [r for r in self.rules if r.id != rule_id]
        self._forget(rule_id)
        self._candidates.clear()
        return len(self.rules) != before

    def clear(self) -> None:
        self.rules = []
        self._next_id = 1
        self.reset_counters()

    def reset_counters(self) -> None:
        self._counts.clear()
        self._stats.clear()
        self._candidates.clear()

    def _insert(self, rule: FaultRule) -> None:
        for i, existing in enumerate(self.rules):
            if existing.id == rule.id:
                self.rules[i] = rule
                self._forget(rule.id)
                self._candidates.clear()
                return
        self.rules.append(rule)
        self._candidates.clear()
        self._next_id += 1

    def _forget(self, rule_id: str) -> None:
        for key in [k for k in self._counts if k[0] == rule_id]:
            del self._counts[key]
        self._stats.pop(rule_id, None)

    # ---- decisions -------------------------------------------------------

    def decide(self, info: RequestInfo, path: str | None, elapsed: float) -> Decision | None:
        """For an HTTP request: latency rules add up; the first firing terminal rule decides the outcome."""
        if not self.rules:
            return None
        candidates = self._candidates_for(info.dialect, info.operation)
        if not candidates:
            return None
        delay = 0.0
        terminal: Action | None = None
        fired: list[str] = []
        values: dict[str, str | None] | None = None
        for rule, residual in candidates:
            if not _may_match(residual, info, path):
                continue  # its other patterns refuse this request: not counted, nothing drawn
            if values is None:
                values = _values(info, path)
            rng = self._fires(rule, info, values, elapsed)
            if rng is None:
                continue
            if rule.action.kind == "latency":
                delay += sample_latency(rule.action, rng)
                fired.append(rule.id)
            elif terminal is None:
                terminal = rule.action
                fired.append(rule.id)
        if not fired:
            return None
        return Decision(delay=delay, action=terminal, rule_ids=tuple(fired))

    def _candidates_for(self, dialect: str, operation: str) -> tuple[tuple[FaultRule, _Residual], ...]:
        """HTTP rules that may match a request of this dialect and operation, each with its checks on the
        other fields (x, a, b, path) compiled for `_may_match`."""
        table = (id(self.rules), len(self.rules))
        if table != self._candidates_of:  # the list was swapped or grown from outside the methods above
            self._candidates.clear()
            self._candidates_of = table
        key = (dialect, operation)
        found = self._candidates.get(key)
        if found is None:
            values = {"dialect": dialect, "operation": operation}
            found = self._candidates[key] = tuple(
                (rule, _residual(rule)) for rule in self.rules
                if not rule.action.is_push and _admits(rule, values))
        return found

    def decide_push(self, info: RequestInfo, elapsed: float) -> tuple[str, Action] | None:
        """For an outbound push (`info.operation` is "push:<kind>"): the first firing push rule."""
        chosen: tuple[str, Action] | None = None
        values = _values(info, None)
        for rule in self.rules:
            if not rule.action.is_push:
                continue
            if self._fires(rule, info, values, elapsed) is not None and chosen is None:
                chosen = (rule.id, rule.action)
        return chosen

    def _fires(self, rule: FaultRule, info: RequestInfo, values: dict[str, str | None],
               elapsed: float) -> random.Random | None:
        """Count this request against the rule and say whether the rule fires (with its seeded generator)."""
        if not rule.match.matches(values):
            return None
        when = rule.when
        if when.window is not None:
            start, end = when.window
            if (start is not None and elapsed < start) or (end is not None and elapsed >= end):
                return None
        key = info.key
        counter = (rule.id, key)
        self._counts[counter] += 1
        n = self._counts[counter]
        stats = self._stats[rule.id]
        stats.matched += 1
        if when.first is not None and n > when.first:
            return None
        if when.every is not None and n % when.every != 0:
            return None
        if when.nth is not None and n != when.nth:
            return None
        rng = random.Random(f"{self.seed}:{rule.id}:{key}:{n}")
        if when.probability is not None and rng.random() >= when.probability:
            return None
        stats.fired += 1
        return rng


def _admits(rule: FaultRule, values: dict[str, str]) -> bool:
    """Whether the rule's patterns for the fields in `values` (and only those) admit them."""
    for name, exact, globs in rule.match._checks:  # type: ignore[attr-defined]
        if name in values:
            value = values[name]
            if value is None or (value not in exact and not any(fnmatchcase(value, p) for p in globs)):
                return False
    return True


# A rule's checks on the fields other than dialect and operation: (field, exact values, compiled globs).
_Residual = tuple[tuple[str, frozenset[str], tuple[Callable[[str], Any], ...]], ...]


def _residual(rule: FaultRule) -> _Residual:
    return tuple((name, exact, tuple(re.compile(fnmatch.translate(p)).match for p in globs))
                 for name, exact, globs in rule.match._checks  # type: ignore[attr-defined]
                 if name not in ("dialect", "operation"))


def _may_match(residual: _Residual, info: RequestInfo, path: str | None) -> bool:
    """The rule's x / a / b / path patterns admit this request (what Match.matches says of those fields)."""
    for name, exact, globs in residual:
        value = path if name == "path" else getattr(info, name)
        if value is None:
            return False
        if value not in exact and not any(glob(value) for glob in globs):
            return False
    return True


def _values(info: RequestInfo, path: str | None) -> dict[str, str | None]:
    return {"dialect": info.dialect, "operation": info.operation, "x": info.x, "a": info.a, "b": info.b, "path": path}


def sample_latency(action: Action, rng: random.Random) -> float:
    distribution = action.get("distribution", "fixed")
    if distribution == "uniform":
        return rng.uniform(action.get("min"), action.get("max"))
    if distribution == "lognormal":
        return rng.lognormvariate(math.log(action.get("median")), action.get("sigma"))
    return float(action.get("seconds"))


__all__ = ["Decision", "FaultEngine", "RuleError", "describe_action", "sample_latency"]
