"""One holder per operation, read from the provider's journal (pure): what several core replicas on one database
must never do to an operation between them.

A claim is a lease: while one process holds an operation nobody else may run it. The provider cannot see
leases, but it sees their effect: every create or delete of an operation carries the operation's
Idempotency-Key (native wire), and one holder makes its calls one after another. Two calls of one
operation in flight at once therefore mean two holders at once: a claim that ignored a live lease, a claim
that read and then wrote without a compare-and-set, a restarted process that took back claims other
processes still held, or a consumer that ran a redelivered message without claiming. A call that starts
after the operation settled means someone ran an operation that was no longer theirs.

Both checks forgive the one legitimate case: a process stopped (SIGSTOP, a long GC or VM pause) or killed
past its lease holds a claim it no longer has; once it runs again it finishes the attempt it was in before
it reaches the store and learns that. Calls within `continuation(...)` after each outage long enough for that
(the run's crashes and pauses) are therefore not counted.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from .invariants import _need
from .observation import Observation
from .registry import NotApplicable, Violation, check
from .wire import operation_id

# Seconds by which two calls of one holder may seem to overlap: the journal times a call's arrival, while the
# core started its timeout a little earlier (connection set-up, a busy loop), and the core's retry after a
# timeout may reach the provider before `arrival + timeout`.
OVERLAP_SLACK = 0.25
# Seconds by which the core may have given up on a call it timed out before `arrival + timeout`: its timeout ran
# from the moment it started the request, which under load may be well before the provider saw it arrive.
CUT_SLACK = 0.5
# Seconds after the harness saw an operation end (its `ended_at`, never earlier than the real end) before a call
# carrying its key counts as one made after it settled.
SETTLE_SLACK = 0.5
# Calls a holder may still make in the attempt it was in when it stopped: a lookup, the call, a second lookup
# after a conflict, the delete of a duplicate.
CALLS_PER_ATTEMPT = 4


def continuation(timeout: float) -> float:
    """How long after an outage ends a holder that was stopped mid-attempt may go on calling (its attempt's
    remaining calls, each up to the timeout)."""
    return CALLS_PER_ATTEMPT * (timeout + OVERLAP_SLACK)


def _stale_windows(obs: Observation, timeout: float) -> list[tuple[float, float]]:
    """(from, to) loop times in which a holder that outlived its lease while stopped may still call.

    A claim is at most one attempt old while its holder runs, so an outage can leave a holder behind its lease
    only if it lasted at least the lease less one attempt; shorter ones (a quick kill and restart: a killed
    process calls nothing more anyway) are not forgiven. Lease unknown (0): every outage is."""
    lease = float(obs.policy.lease) if obs.policy is not None else 0.0
    shortest = lease - continuation(timeout)
    return [(at, at + lasted + continuation(timeout)) for at, lasted in obs.crashes if lasted >= shortest]


def _excused(t: float, windows: list[tuple[float, float]]) -> bool:
    return any(start <= t <= end for start, end in windows)


def _keyed_calls(obs: Observation) -> tuple[dict[str, list[dict[str, Any]]], float]:
    """The creates and deletes of each operation (by the id its Idempotency-Key names), by arrival, with the
    time the core had each answer or gave up on it; and the provider timeout used for that."""
    calls = _need(obs, "write_calls", "the provider's journal of the core's creates and deletes")
    policy = _need(obs, "policy", "retry policy")
    timeout = float(policy.provider_timeout)
    if calls and not any(c.get("key") for c in calls):
        raise NotApplicable("the service sends no Idempotency-Key: the journal cannot tell one operation's calls "
                            "from another's")
    by_op: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for call in calls:
        op_id = operation_id(call)
        if op_id is None:
            continue
        start = float(call["at"])
        finish = max(float(call.get("end") if call.get("end") is not None else start), start)
        held = finish if finish - start < timeout else start + timeout - CUT_SLACK  # answered, or cut off by the core
        by_op[op_id].append({**call, "held_until": max(held, start)})
    if calls and [c for c in calls if c.get("key")] and not by_op:
        raise NotApplicable("the service's Idempotency-Keys do not name its operation ids")
    for made in by_op.values():
        made.sort(key=lambda c: float(c["at"]))
    return by_op, timeout


def _brief(call: dict[str, Any]) -> dict[str, Any]:
    return {"at": round(float(call["at"]), 3), "held_until": round(float(call["held_until"]), 3),
            "operation": call.get("operation"), "key": call.get("key"), "status": call.get("status")}


@check("one_holder_at_a_time")
def one_holder_at_a_time(obs: Observation) -> str | None:
    """No two provider calls carrying one operation's Idempotency-Key are in flight at once (one holder runs an
    operation, call after call), except calls of a holder stopped or killed past its lease as it finishes."""
    by_op, timeout = _keyed_calls(obs)
    windows = _stale_windows(obs, timeout)
    overlaps, excused, checked = [], 0, 0
    for op_id, made in by_op.items():
        checked += len(made) > 1
        latest: dict[str, Any] | None = None  # the call, among those before, held the longest
        for call in made:
            if latest is not None and float(call["at"]) < float(latest["held_until"]) - OVERLAP_SLACK:
                if _excused(float(call["at"]), windows) or _excused(float(latest["at"]), windows):
                    excused += 1
                else:
                    overlaps.append({"operation_id": op_id, "first": _brief(latest), "second": _brief(call),
                                     "overlap": round(float(latest["held_until"]) - float(call["at"]), 3)})
            if latest is None or float(call["held_until"]) > float(latest["held_until"]):
                latest = call
    if overlaps:
        ops = sorted({o["operation_id"] for o in overlaps})
        raise Violation(
            "two holders ran one operation at once",
            f"{len(overlaps)} time(s), on {len(ops)} operation(s), a create or delete carrying an operation's "
            "key reached the provider while another call of the same operation was still in flight: two "
            "processes held the operation at once (a claim that ignored a live lease or was not a compare-and-set)",
            {"overlaps": overlaps[:20], "operations": ops[:20], "provider_timeout": timeout,
             "outages": [[round(a, 3), round(d, 3)] for a, d in obs.crashes]},
        )
    note = f"{checked} operation(s) with more than one call, none two at once"
    if excused:
        note += f" ({excused} overlap(s) forgiven: a holder stopped or killed past its lease finishing its attempt)"
    return note if checked else "no operation made more than one create or delete"


@check("no_call_after_settle")
def no_call_after_settle(obs: Observation) -> str | None:
    """No provider call carrying an operation's Idempotency-Key starts after the operation settled (a holder
    stopped or killed past its lease finishing its attempt aside)."""
    history = _need(obs, "history", "operation history")
    by_op, timeout = _keyed_calls(obs)
    windows = _stale_windows(obs, timeout)
    late, excused, checked = [], 0, 0
    for op in history:
        if op.kind == "read" or op.core_operation_id is None or op.ended_at is None:
            continue
        checked += 1
        settled = float(op.ended_at)
        for call in by_op.get(str(op.core_operation_id), []):
            if float(call["at"]) <= settled + SETTLE_SLACK:
                continue
            if _excused(float(call["at"]), windows):
                excused += 1
                continue
            late.append({"operation_id": op.core_operation_id, "x": op.x, "mode": op.mode, "kind": op.kind,
                         "settled_by": round(settled, 3), "call": _brief(call),
                         "after": round(float(call["at"]) - settled, 3)})
    if late:
        ops = sorted({str(c["operation_id"]) for c in late})
        raise Violation(
            "a call after its operation settled",
            f"{len(late)} create(s) or delete(s), on {len(ops)} operation(s), reached the provider after the "
            "operation had settled: a process ran an operation that was no longer its own (a message run without "
            "claiming, a claim of a finished operation)",
            {"calls": late[:20], "operations": ops[:20],
             "outages": [[round(a, 3), round(d, 3)] for a, d in obs.crashes]},
        )
    if not checked:
        return "no finished bind or unbind whose end the harness saw"
    note = f"{checked} finished operation(s), no call after any settled"
    if excused:
        note += f" ({excused} call(s) forgiven: a holder stopped or killed past its lease finishing its attempt)"
    return note
