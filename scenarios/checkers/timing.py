"""Retry timing, read from the wire: the gap before each retry of an operation lies within the retry policy's
bounds, and a sweep after a lost call waits out the in-doubt window before it looks.

The core's policy (docs/core.md): after the n-th failed attempt the next one waits a uniform draw from
[0, min(max_delay, base_delay * 2**(n-1))] (full jitter); lookups that settle a dead operation or sweep for
strays wait the same way between tries. Longer gaps are legal only where the core had to wait for something
else: its circuit breaker, a crash and the lease of the dead process's claims, the in-doubt window before a
dead operation's settling query or a sweep, another operation on the same number and mode.
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from typing import Any

from .breaker import EPS, told_calls
from .invariants import _need
from .observation import Observation
from .registry import NotApplicable, Violation, check
from .wire import end, failed, may_apply, operation_id

# Seconds a retry may come after its due time: the worker wakes at the due time, a busy loop a little later.
GAP_SLACK = 1.0


def attribute(calls: list[dict[str, Any]], operations: list[dict[str, Any]], offset: float
              ) -> tuple[dict[str, list[dict[str, Any]]], set[str]]:
    """The calls of each operation (by id), and the operations whose calls could not all be told apart.

    Creates and deletes carry the operation's id in their Idempotency-Key; a lookup names only its number and
    mode (an operation open on them at the time: the bind or unbind first, else a sweep), a read by id the
    binding an unbind was deleting."""
    by_id = {str(op["id"]): op for op in operations}
    owned: dict[str, list[dict[str, Any]]] = defaultdict(list)
    ambiguous: set[str] = set()
    windows: dict[tuple[Any, Any], list[dict[str, Any]]] = defaultdict(list)
    for op in operations:
        windows[(op.get("x"), op.get("mode"))].append(op)

    def open_at(op: dict[str, Any], t: float) -> bool:
        created = float(op.get("created_at") or 0.0) + offset
        finished = op.get("finished_at")
        return created - EPS <= t <= (math.inf if finished is None else float(finished) + offset + EPS)

    for call in calls:
        op_id = operation_id(call)
        if op_id is not None:
            if op_id in by_id:
                owned[op_id].append(call)
            continue
        t = float(call["at"])
        if call.get("binding_id"):  # a read by id: an unbind settling
            candidates = [op for op in operations if op.get("kind") == "unbind"
                          and op.get("binding_id") == call["binding_id"] and open_at(op, t)]
        else:
            here = [op for op in windows.get((call.get("x"), call.get("mode")), []) if open_at(op, t)]
            main = [op for op in here if op.get("kind") != "sweep"]
            candidates = main or here
        if len(candidates) == 1:
            owned[str(candidates[0]["id"])].append(call)
        else:
            ambiguous.update(str(op["id"]) for op in candidates)
    return owned, ambiguous


def _breaker_may_be_open(told: list[tuple[float, float, bool]], threshold: int | None
                         ) -> list[tuple[float, float]]:
    """Intervals in which a run of `threshold` consecutive failed calls had no success after it yet."""
    if threshold is None:
        return []
    intervals, run, opened = [], 0, None
    for _, at, bad in told:
        if bad:
            run += 1
            if run >= threshold and opened is None:
                opened = at
        else:
            if opened is not None:
                intervals.append((opened - EPS, at + EPS))
            run, opened = 0, None
    if opened is not None:
        intervals.append((opened - EPS, math.inf))
    return intervals


def _unseen(told: list[tuple[float, float, bool]], calls: list[dict[str, Any]]) -> list[float]:
    """When the core made failed calls that the journal does not show (a transport failure that never reached
    the provider, a call it still holds): an attempt may have ended there unseen."""
    arrivals = sorted(float(c["at"]) for c in calls)
    hidden = []
    for start, _, bad in told:
        i = bisect.bisect_left(arrivals, start - EPS)
        if bad and not (i < len(arrivals) and arrivals[i] <= start + EPS):
            hidden.append(start)
    return hidden


def _overlaps(a: float, b: float, spans: list[tuple[float, float]]) -> bool:
    return any(s <= b and a <= e for s, e in spans)


@check("retry_gaps_within_policy")
def retry_gaps_within_policy(obs: Observation) -> str | None:
    """The gap before each retry of an operation (sweep lookups included) is within the backoff's cap, and a
    sweep after a lost call looks only once the in-doubt window has passed (call times from the journal)."""
    policy = _need(obs, "policy", "retry policy")
    if policy.backoff_cap is None:
        raise NotApplicable("the service's retry policy (max_delay) is not known")
    operations = _need(obs, "operations", "core operations")
    if obs.core_epoch is None:
        raise NotApplicable("the service's clock is not tied to the harness's: its operations cannot be placed "
                            "among the calls")
    calls = _need(obs, "wire_calls", "the provider's journal of the core's calls")
    if obs.dialect != "native":
        raise NotApplicable(f"on the {obs.dialect} wire a call carries no operation id to tell operations apart")
    # Operations carry the core's clock; calls and crashes the loop's.
    timeout, window, offset = policy.provider_timeout, policy.in_doubt_window, -obs.core_epoch
    slack = GAP_SLACK
    cap = policy.backoff_cap
    owned, ambiguous = attribute(calls, operations, offset)
    told = told_calls(obs, calls, timeout)
    breaker_open = _breaker_may_be_open(told, policy.breaker_threshold)
    unseen = _unseen(told, calls)
    down = [(at - EPS, at + d + policy.lease + cap + slack) for at, d in obs.crashes]
    spans_by_key: dict[tuple[Any, Any], list[tuple[str, float, float]]] = defaultdict(list)
    for op in operations:
        finished = op.get("finished_at")
        spans_by_key[(op.get("x"), op.get("mode"))].append(
            (str(op["id"]), float(op.get("created_at") or 0.0) + offset,
             math.inf if finished is None else float(finished) + offset))
    by_id = {str(op["id"]): op for op in operations}
    late, early, checked = [], [], 0
    for op_id, own in owned.items():
        op = by_id[op_id]
        if op_id in ambiguous:
            continue
        own.sort(key=lambda c: c["at"])
        # A dead operation (and an old-path one asked about later) waits out the in-doubt window once, before
        # its settling query; a sweep may wait a window after each lost call.
        waits_left = 1 if op.get("state") == "dead" or op.get("path") == "sync" else 0
        gaps = []
        for before, after in zip(own, own[1:]):
            if not failed(before, timeout):
                continue  # the attempt went on (a lookup before a create, a conflict looked up): not a retry
            start, stop = end(before, timeout), float(after["at"])
            if _overlaps(start, stop, breaker_open) or _overlaps(start, stop, down):
                continue
            if any(start - EPS <= t <= stop + EPS for t in unseen):
                continue  # an attempt the journal does not show may have failed in between
            others = [s for s in spans_by_key[(op.get("x"), op.get("mode"))] if s[0] != op_id]
            if op.get("kind") == "sweep" and any(a <= stop and start <= b for _, a, b in others):
                continue  # a sweep waits while another operation owns its number and mode
            gaps.append((stop - start, before, after))
        checked += len(gaps)
        gaps.sort(key=lambda g: -g[0])
        for gap, before, after in gaps:
            limit = cap + slack
            if op.get("kind") == "sweep" or waits_left:
                limit += window
                waits_left = max(0, waits_left - 1)
            if gap > limit:
                late.append({"operation_id": op_id, "kind": op.get("kind"), "x": op.get("x"), "mode": op.get("mode"),
                             "gap": round(gap, 3), "limit": round(limit, 3), "after": before, "retry": after})
        if op.get("kind") == "sweep" and own and op.get("origin") in owned:
            lost = [c for c in owned[str(op["origin"])] if may_apply(c, timeout)]
            if lost:
                due = max(end(c, timeout) for c in lost) + window
                if float(own[0]["at"]) < due - EPS:
                    early.append({"operation_id": op_id, "origin": op.get("origin"), "x": op.get("x"),
                                  "mode": op.get("mode"), "looked_at": round(float(own[0]["at"]), 3),
                                  "doubt_until": round(due, 3), "window": window, "origin_lost_calls": lost[-3:],
                                  "first_look": own[0]})
    if late or early:
        raise Violation(
            "retry timing off the policy",
            f"{len(late)} retry gap(s) longer than max_delay={cap:g} s allows (with the in-doubt window where the "
            f"core must wait it) and {len(early)} sweep(s) that looked before the in-doubt window had passed",
            {"late": late[:20], "early_sweeps": early[:20]},
        )
    if not checked:
        return "no retry gap to check in this run (no operation retried after a failed call)"
    return None
