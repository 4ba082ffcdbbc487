"""Invariant and history checks: a registry of named checks, each raising `Violation`."""

from . import invariants  # noqa: F401  (registers the checks)
from . import breaker, refusals, timing  # noqa: F401,E402  (the breaker, retry-gap and refusal checks)
from . import deliveries, routing  # noqa: F401  (alert deliveries, gray paths, attempts at the provider)
from . import refusal_source  # noqa: F401  (a refusal passed on is one the provider gave)
from . import attempt_counts, binding_ids  # noqa: F401  (failed calls counted; a bound row names its binding)
from . import answers  # noqa: F401  (answers in the contract; a truthful /health)
from . import holders  # noqa: F401  (one holder per operation at a time; no call after it settled)
from .observation import CallProbe, Observation, RetryPolicy
from .registry import CHECKS, Check, CheckResult, NotApplicable, Violation, check, run_checks

DEFAULT_CHECKS: tuple[str, ...] = tuple(CHECKS.checks)

__all__ = [
    "CHECKS", "Check", "CheckResult", "CallProbe", "DEFAULT_CHECKS", "NotApplicable", "Observation",
    "RetryPolicy", "Violation", "check", "run_checks",
]
