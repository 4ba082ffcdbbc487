"""Where each operation went and how often it called: gray routing, and attempts counted at the provider (pure).

Both compare the service's word with evidence the harness holds itself: the
gray configuration it set (and when), and the provider's journal of calls, which
a core that resets its attempt counter on restart cannot rewrite.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from .observation import Observation
from .invariants import _need
from .registry import NotApplicable, Violation, check

# Journal times and crash times come from one loop in-process; a call answered at the very instant of a crash
# may never have reached the core.
CUT_OFF_SLACK = 0.05
# aiohttp (and many HTTP clients) sends an idempotent request (DELETE, GET) once more, at once, when the connection
# drops before an answer: one attempt of the core's, two requests at the provider. Such a same-key request that
# follows an unanswered one within this many seconds is counted with it.
RESEND_WITHIN = 0.02
# Answers that refuse the core's credentials: the core retries them without using up attempts (docs/core.md).
AUTH_REFUSALS = (401, 403)


def expected_path(config: dict[str, Any], x: str) -> str:
    """The path a number takes under a gray configuration: gray numbers (all of them when `all`, or when there
    is no gray list at all) take the new asynchronous path, the others the old synchronous one."""
    gray = not config.get("enabled", True) or bool(config.get("all")) or x in set(config.get("numbers") or ())
    return "async" if gray else "sync"


def _in_force(timeline: list[dict[str, Any]], sent: int, answered: int) -> dict[str, Any] | None:
    """The configuration in force for a request sent and answered at these points of the harness's event order
    (`begun`/`applied`: when setting a configuration started and was acknowledged; None: from the start); None
    when none was known yet, or one was being set while the request was in flight (either path is then right)."""
    current = None
    for config in timeline:
        if config.get("begun") is None or int(config["applied"]) < sent:
            current = config
        elif int(config["begun"]) < answered:
            return None
    return current


@check("path_matches_gray")
def path_matches_gray(obs: Observation) -> str | None:
    """Each operation took the path (old sync / new async) of the gray configuration in force when it was accepted."""
    timeline = _need(obs, "gray_timeline", "gray configuration")
    operations = _need(obs, "operations", "core operations")
    paths = {str(op.get("id")): op.get("path") for op in operations}
    if operations and all(p is None for p in paths.values()):
        raise NotApplicable("the service's operations do not say which path (sync or async) they took")
    wrong, checked = [], 0
    for request in obs.requests:
        op_id = request.get("operation_id")
        path = paths.get(str(op_id)) if op_id is not None else None
        if path is None:
            continue
        config = _in_force(timeline, int(request["sent"]), int(request["answered"]))
        if config is None:
            continue
        checked += 1
        want = expected_path(config, request["x"])
        if path != want:
            wrong.append({"operation_id": op_id, "x": request["x"], "mode": request["mode"], "kind": request["kind"],
                          "path": path, "expected": want, "sent_at": round(float(request["sent_at"]), 3),
                          "gray": {k: config.get(k) for k in ("at", "enabled", "all", "numbers")}})
    if wrong:
        raise Violation(
            "operation took the wrong path",
            f"{len(wrong)} of {checked} operation(s) took a path other than the gray configuration in force "
            "when they were accepted",
            {"operations": wrong[:20], "gray_timeline": timeline[-20:]},
        )
    return None


def _calls_by_operation(calls: list[dict[str, Any]], ids: set[str]) -> dict[str, list[dict[str, Any]]]:
    """Write calls whose Idempotency-Key ends in an operation id (the core's `<prefix>-<operation id>`); keys
    with more after the id (a duplicate's delete, a sweep's) are not that operation's attempts."""
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for call in calls:
        key = str(call.get("key") or "")
        op_id = key.rsplit("-", 1)[-1] if "-" in key else key
        if op_id in ids and call.get("status") not in AUTH_REFUSALS:
            out[op_id].append(call)
    return {op_id: _attempts(made) for op_id, made in out.items()}


def _attempts(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per attempt: an HTTP client's immediate resend of an unanswered request is not another attempt
    (calls recorded as they left the core, `source` "client", have no such resends). The client resends the
    moment the first call's connection failed, which is that call's end (its start only when it failed at
    once); the attempt then spans both calls and its outcome is the resend's, as the core saw it."""
    kept: list[dict[str, Any]] = []
    for call in sorted(calls, key=lambda c: c["at"]):
        last = kept[-1] if kept else None
        if (last is not None and last.get("status") is None and not last.get("resent")
                and call.get("source") != "client"
                and (abs(call["at"] - last["end"]) <= RESEND_WITHIN or call["at"] - last["at"] <= RESEND_WITHIN)):
            kept[-1] = {**call, "at": last["at"], "end": max(last["end"], call["end"]), "resent": True}
            continue
        kept.append(call)
    return kept


@check("attempts_capped_at_provider")
def attempts_capped_at_provider(obs: Observation) -> str | None:
    """No operation makes more provider calls than max_attempts, counted in the provider's journal across restarts."""
    policy = _need(obs, "policy", "retry policy")
    operations = _need(obs, "operations", "core operations")
    calls = _need(obs, "write_calls", "provider journal")
    ids = {str(op.get("id")) for op in operations if op.get("kind") in ("bind", "unbind")}
    by_op = _calls_by_operation(calls, ids)
    keyed = [c for c in calls if c.get("key")]
    if ids and keyed and not by_op:
        raise NotApplicable("the service's Idempotency-Keys do not end in its operation ids: the journal's calls "
                            "cannot be told apart by operation")
    if ids and not keyed and calls:
        raise NotApplicable("the service sends no Idempotency-Key: the journal's calls cannot be told apart by operation")
    crashes = sorted(obs.crash_times)
    over = []
    for op_id, made in by_op.items():
        # A crash that cut a call off (sent, its answer not yet taken) lets the core make that attempt again.
        cut = sum(1 for c in crashes if any(call["at"] <= c <= call["end"] + CUT_OFF_SLACK for call in made))
        allowed = policy.max_attempts + cut
        if len(made) > allowed:
            over.append({"operation_id": op_id, "calls": len(made), "allowed": allowed, "cut_off_by_crashes": cut,
                         "at": [round(call["at"], 3) for call in made][:30],
                         "core_attempts": next((op.get("attempts") for op in operations if str(op.get("id")) == op_id),
                                               None)})
    if over:
        raise Violation(
            "provider called more often than max_attempts",
            f"{len(over)} operation(s) made more create/delete calls at the provider than max_attempts="
            f"{policy.max_attempts} (plus one per crash that cut a call off), counting calls before and after restarts",
            {"operations": over[:20], "crash_times": [round(c, 3) for c in crashes]},
        )
    return None
