"""Checks are registered functions over plain data that raise a typed `Violation`.

Each check takes an `Observation` (see `observation.py`) and returns normally
when the property holds (a string it returns notes what part it could check). A check whose data is missing (for example the
transition history of a team's own service reached only by URL) raises
`NotApplicable` and is reported as skipped, never as passed.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

CheckFunction = Callable[[Any], "str | None"]


class Violation(Exception):
    """A property that does not hold: a short title, a message a person can act on, and the evidence."""

    def __init__(self, title: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(f"{title}: {message}")
        self.title = title
        self.message = message
        self.details = details or {}

    def to_dict(self) -> dict[str, Any]:
        return {"title": self.title, "message": self.message, "details": self.details}


class NotApplicable(Exception):
    """The data this check needs was not observed in this run."""


@dataclass(frozen=True)
class Check:
    name: str
    function: CheckFunction
    description: str
    # "settle": after quiescence only; "step": also while operations are in flight.
    phase: str = "settle"


@dataclass
class CheckRegistry:
    checks: dict[str, Check] = field(default_factory=dict)

    def register(self, name: str, phase: str = "settle") -> Callable[[CheckFunction], CheckFunction]:
        def decorate(function: CheckFunction) -> CheckFunction:
            if name in self.checks:
                raise ValueError(f"check {name!r} registered twice")
            # The docstring's first paragraph is the property in words (a long one wraps over lines).
            first = inspect.cleandoc(function.__doc__ or "").split("\n\n")[0]
            self.checks[name] = Check(name, function, " ".join(first.split()) or name, phase)
            return function

        return decorate

    def select(self, names: Iterable[str] | None = None, phase: str | None = None) -> list[Check]:
        """The named checks (all if None), optionally only those that may run at `phase`."""
        if names is None:
            chosen = list(self.checks.values())
        else:
            unknown = [n for n in names if n not in self.checks]
            if unknown:
                raise KeyError(f"unknown check(s): {', '.join(unknown)}; known: {', '.join(self.checks)}")
            chosen = [self.checks[n] for n in names]
        if phase == "step":
            chosen = [c for c in chosen if c.phase == "step"]
        return chosen


CHECKS = CheckRegistry()
check = CHECKS.register


@dataclass
class CheckResult:
    name: str
    status: str  # "passed" | "failed" | "skipped"
    violation: Violation | None = None
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "status": self.status}
        if self.violation is not None:
            data["violation"] = self.violation.to_dict()
        if self.reason:
            data["reason"] = self.reason
        return data


def run_checks(observation: Any, checks: Iterable[Check]) -> list[CheckResult]:
    """Run every check; a check's bug (any other exception) propagates, it is not a violation."""
    results = []
    for item in checks:
        try:
            note = item.function(observation)
        except Violation as violation:
            results.append(CheckResult(item.name, "failed", violation))
        except NotApplicable as reason:
            results.append(CheckResult(item.name, "skipped", reason=str(reason)))
        else:  # a check that could look at only part of its property returns a note saying which part
            results.append(CheckResult(item.name, "passed", reason=note if isinstance(note, str) else ""))
    return results
