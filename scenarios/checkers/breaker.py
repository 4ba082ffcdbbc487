"""The circuit breaker's property, read from the wire: it opens only after the configured run of consecutive
failed calls, refuses calls while open, and lets one probe through once its cool-down has passed.

What went out is the provider's journal (what actually reached the wire, `wire.core_calls`); the refusals
are the core's own record of the calls it refused unsent, and the run of failures is counted from its record
of each call's outcome, since a call cut off by the network never reaches the journal. Over a vendor's wire,
where one core call may be several requests, what went out is the core's record of the calls it let out.
A restarted core starts with a closed breaker.
"""

from __future__ import annotations

import math
from typing import Any

from .invariants import _need
from .observation import Observation
from .registry import NotApplicable, Violation, check
from .wire import end, failed

# Completions and arrivals this close together (seconds) may have been seen in either order.
EPS = 0.05


def _lives(obs: Observation) -> list[float]:
    """When each process life of the core started (loop time): -inf, then each restart."""
    return [-math.inf, *sorted(at + down for at, down in obs.crashes)]


def _life_start(lives: list[float], t: float, *, latest: bool) -> float:
    """When the process life holding time `t` started; near a restart either life may hold it: `latest` picks the
    later one."""
    return max(s for s in lives if s <= (t + EPS if latest else t - EPS))


def breaker_inputs(obs: Observation) -> tuple[Any, list[dict[str, Any]], list[float]]:
    """The policy, the core's calls and its refusals (loop times), or skip the check saying why."""
    policy = _need(obs, "policy", "retry policy")
    if policy.breaker_threshold is None:
        raise NotApplicable("the service's circuit breaker configuration is not known")
    refusals = _need(obs, "breaker_refusals", "the core's record of calls its breaker refused")
    calls = _need(obs, "wire_calls", "the provider's journal of the core's calls")
    return policy, calls, sorted(refusals)


def told_calls(obs: Observation, wire: list[dict[str, Any]], timeout: float) -> list[tuple[float, float, bool]]:
    """(start, end, failed) of each call in the order the breaker heard of it: the core's own record when it is
    observable (a transport failure, or a call the provider still holds, never reaches the journal), else the
    journal's calls in the order they ended."""
    if obs.breaker_calls is not None:
        return list(obs.breaker_calls)
    return sorted(((float(c["at"]), end(c, timeout), failed(c, timeout)) for c in wire), key=lambda t: t[1])


@check("breaker_opens_after_threshold")
def breaker_opens_after_threshold(obs: Observation) -> str | None:
    """The circuit breaker opens only after breaker_threshold consecutive failed calls, and lets a probe through
    once breaker_cooldown has passed (refusals from the core, calls sent from the provider's journal)."""
    policy, wire, refusals = breaker_inputs(obs)
    threshold, cooldown, timeout = policy.breaker_threshold, policy.breaker_cooldown, policy.provider_timeout
    lives = _lives(obs)
    told = told_calls(obs, wire, timeout)

    def run_before(t: float, start: float, *, lenient_success: bool) -> list[float]:
        """When each failed call since the last success ended, among calls of the life that started at `start`
        told by `t`. Order near `t` is uncertain: `lenient_success` counts a success up to EPS after `t` and a
        failure only up to EPS before it, and leaves out calls made right at a restart (either life's); otherwise
        the other way round."""
        own = [(e, bad) for s, e, bad in told if (s > start + EPS if lenient_success else s >= start - EPS)]
        success_by = t + EPS if lenient_success else t - EPS
        last_ok = max((e for e, bad in own if not bad and e <= success_by), default=-math.inf)
        return [e for e, bad in own if bad and last_ok < e <= (t - EPS if lenient_success else t + EPS)]

    problems: list[dict[str, Any]] = []
    for r in refusals:
        start = _life_start(lives, r, latest=False)
        run = run_before(r, start, lenient_success=False)
        if len(run) < threshold:
            problems.append({"what": "refused too early", "refused_at": round(r, 3), "consecutive_failures": len(run),
                             "threshold": threshold})
            continue
        last = max(run)
        in_flight = [c for c in told if start - EPS <= c[0] <= r + EPS and c[1] >= r - EPS]
        if r > last + cooldown + EPS and not in_flight:
            problems.append({"what": "no probe after the cool-down", "refused_at": round(r, 3),
                             "last_failure_at": round(last, 3), "cooldown": cooldown})
    # What went out: the journal's arrivals; on a vendor's wire one core call may be several requests (the
    # second sent after the breaker opened on another call's failure), so there the core's own record of the
    # calls its breaker admitted.
    if obs.dialect == "native":
        sent = [(float(c["at"]), end(c, timeout), c) for c in wire]
    else:
        sent = [(start, stop, {"admitted_at": start, "ended_at": stop, "failed": bad}) for start, stop, bad in told]
    for s, _, call in sent:
        start = _life_start(lives, s, latest=True)
        run = run_before(s, start, lenient_success=True)
        if len(run) < threshold:
            continue
        last = max(run)
        if s < last + cooldown - EPS:
            problems.append({"what": "call sent while the circuit was open", "sent_at": round(s, 3),
                             "consecutive_failures": len(run), "last_failure_at": round(last, 3), "call": call})
            continue
        probes = [c for at, stop, c in sent if c is not call and last + cooldown - EPS <= at < s - EPS
                  and stop > s + EPS]
        if probes:
            problems.append({"what": "a second probe while the first was in flight", "sent_at": round(s, 3),
                             "probe": probes[0], "call": call})
    if problems:
        kinds = sorted({p["what"] for p in problems})
        raise Violation(
            "circuit breaker off its configuration",
            f"{len(problems)} time(s) the breaker (threshold {threshold}, cool-down {cooldown:g} s) did not behave "
            f"as configured: {', '.join(kinds)}",
            {"problems": problems[:20]},
        )
    if not refusals:
        return "the breaker never refused a call in this run: only that no call went out while it should be open"
    return None
