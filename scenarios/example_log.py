"""What one example did, as plain rows for report.html: the harness's operations, the core's provider calls,
its status changes and own operations, fault rules added and removed, and the machine's rules.

Every time is in seconds from the example's origin, the frame the report's timeline uses (in-process: the
looptime loop's zero, which is the fixed epoch; by URL: the example's start). `origin` keeps what was
subtracted, so evidence that carries raw times (epoch seconds, loop seconds) can be shown in the same frame.
Pure functions, except `machine_telemetry` and `remote_telemetry`, which read a live machine or service.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any, Iterable, Mapping

from .clients import items

# A created binding's id in an answer body, whatever the wire names it.
_BINDING_ID = re.compile(r'"(?:binding_id|SubsId|BindId)"\s*:\s*"([^"]+)"')
# Epoch seconds are this large; loop seconds (history, looptime) are not.
EPOCH_FLOOR = 1e8
MAX_ROWS = 5000


def origin(epoch: float, loop: float = 0.0) -> dict[str, float]:
    """The zero of an example's times: `epoch` for epoch-second values, `loop` for loop-clock values."""
    return {"epoch": epoch, "loop": loop}


def relative(value: float, zero: Mapping[str, float]) -> float:
    """A raw time (epoch or loop seconds) as seconds from the example's origin."""
    base = zero.get("epoch", 0.0) if value >= EPOCH_FLOOR else zero.get("loop", 0.0)
    return round(value - base, 3)


def operation_rows(history: Iterable[Any], zero: Mapping[str, float]) -> list[dict[str, Any]]:
    """The harness's operations (scenarios.history.Operation): what was asked, when, and how it ended."""
    rows = []
    for seq, op in enumerate(history):
        value = tuple(op.value or ())
        a, b = None, None
        if op.kind == "bind":
            a, b = (value[0], value[1]) if op.mode == "AXB" and len(value) > 1 else (None, value[0] if value else None)
        rows.append({
            "seq": seq, "t": relative(op.invoked_at, zero), "kind": op.kind, "mode": op.mode, "x": op.x, "a": a, "b": b,
            "value": list(value) if op.kind == "read" else None,
            "end": relative(op.ended_at, zero) if op.ended_at is not None else None,
            "outcome": op.outcome.value if op.outcome else None, "detail": op.detail, "id": op.core_operation_id,
        })
    return rows[:MAX_ROWS]


def call_row(*, at: float, latency: float, operation: str, x: str | None, a: str | None, b: str | None,
             status: int | None, fault: str | None, request_body: Any, response_body: Any,
             provider_response: Any, path: str, zero: Mapping[str, float]) -> dict[str, Any]:
    """One provider call of the core. `binding_id`: the binding it created or named; `hidden_status`: what the
    provider's handler answered when the core saw something else (a ghost success)."""
    request = _json_object(request_body)
    shown = _text(response_body)
    hidden = provider_response if isinstance(provider_response, dict) else None
    hidden_text = _text(hidden.get("body")) if hidden else ""
    found = _BINDING_ID.search(hidden_text) or _BINDING_ID.search(shown)
    binding_id = found.group(1) if found else None
    if binding_id is None and "/bindings/" in path:
        binding_id = path.rstrip("/").rsplit("/", 1)[-1]
    code = None
    body = _json_object(response_body)
    for key in ("code", "Code", "ErrorCode"):
        if isinstance(body.get(key), str):
            code = body[key]
            break
    if code is None and isinstance(body.get("Response"), dict) and isinstance(body["Response"].get("Error"), dict):
        code = body["Response"]["Error"].get("Code")
    return {
        "t": relative(at, zero), "took": round(latency, 3), "action": operation,
        "mode": request.get("mode") or _mode_of(operation), "x": x, "a": a, "b": b, "status": status,
        "code": code, "fault": fault, "binding_id": binding_id,
        "hidden_status": hidden.get("status") if hidden else None,
    }


def journal_calls(entries: Iterable[Any], operations: frozenset[str], dialect: str,
                  zero: Mapping[str, float]) -> list[dict[str, Any]]:
    """The core's calls among in-process journal entries (simulator.journal.Exchange), in arrival order."""
    rows = []
    for e in entries:
        if e.dialect != dialect or e.operation not in operations or getattr(e, "direction", "inbound") != "inbound":
            continue
        rows.append(call_row(
            at=e.at, latency=e.latency, operation=e.operation, x=e.x, a=e.a, b=e.b, status=e.status, fault=e.fault,
            request_body=getattr(e.request_body, "raw", e.request_body),
            response_body=getattr(e.response_body, "raw", e.response_body),
            provider_response=_raw_dict(e.provider_response), path=e.path, zero=zero))
    return sorted(rows, key=lambda r: r["t"])[:MAX_ROWS]


def journal_dict_calls(entries: Iterable[Mapping[str, Any]], operations: frozenset[str], dialect: str,
                       zero: Mapping[str, float], since: float) -> list[dict[str, Any]]:
    """The same from the admin API's journal (`GET /_admin/journal` entries), keeping those from `since` on."""
    rows = []
    for e in entries:
        if e.get("dialect") != dialect or e.get("operation") not in operations or e.get("direction", "inbound") != "inbound":
            continue
        if float(e.get("at") or 0.0) < since:
            continue
        rows.append(call_row(
            at=float(e["at"]), latency=float(e.get("latency") or 0.0), operation=str(e["operation"]), x=e.get("x"),
            a=e.get("a"), b=e.get("b"), status=e.get("status"), fault=e.get("fault"),
            request_body=e.get("request_body"), response_body=e.get("response_body"),
            provider_response=e.get("provider_response"), path=str(e.get("path") or ""), zero=zero))
    return sorted(rows, key=lambda r: r["t"])[:MAX_ROWS]


def transition_rows(rows: Iterable[Mapping[str, Any]], zero: Mapping[str, float]) -> list[dict[str, Any]]:
    """The core's status changes (store rows or the `/v1/transitions` API), with relative times."""
    out = []
    for r in rows:
        at = r.get("at")
        if not isinstance(at, (int, float)):
            continue
        out.append({"t": relative(float(at), zero), "x": r.get("x"), "mode": r.get("mode"),
                    "from": r.get("from_status", r.get("from")), "to": r.get("to_status", r.get("to")),
                    "version": r.get("version"), "operation_id": r.get("operation_id")})
    return out[:MAX_ROWS]


def core_operation_rows(rows: Iterable[Any], zero: Mapping[str, float]) -> list[dict[str, Any]]:
    """The core's own operation records (store Operation objects or `/v1/operations` rows)."""
    out = []
    for r in rows:
        get = r.get if isinstance(r, Mapping) else (lambda k, r=r: getattr(r, k, None))
        created, finished = get("created_at"), get("finished_at")
        out.append({
            "id": get("id") or get("operation_id"), "kind": get("kind"), "x": get("x"), "mode": get("mode"),
            "state": get("state"), "outcome": get("outcome"), "attempts": get("attempts"),
            "last_error": get("last_error"), "binding_id": get("binding_id"),
            "t": relative(float(created), zero) if isinstance(created, (int, float)) else None,
            "end": relative(float(finished), zero) if isinstance(finished, (int, float)) else None,
        })
    return out[:MAX_ROWS]


def world_story(world: Any, zero: Mapping[str, float]) -> dict[str, Any]:
    """What any world knows without asking a server: operations, fault changes, crashes, gray changes, policy."""
    driver = world.driver
    policy = driver.policy
    return {
        "origin": dict(zero),
        "operations": operation_rows(driver.history, zero),
        "fault_plan": list(world.fault_plan),
        "fault_changes": [{**change, "t": relative(change["t"], zero)} for change in getattr(world, "fault_log", [])],
        "restarts": [[relative(at, zero), downtime] for at, downtime in world.crashes],
        "gray_changes": [[relative(at, zero), all_numbers, list(numbers)]
                         for at, all_numbers, numbers in world.gray_changes],
        "policy": {"provider_timeout": policy.provider_timeout, "max_attempts": policy.max_attempts,
                   "alert_threshold": policy.alert_threshold},
        "dialect": world.dialect,
    }


def machine_telemetry(machine: Any) -> dict[str, Any]:
    """The example's telemetry (the world's) with the machine's rules, numbers and parties added."""
    telemetry = dict(machine.run(machine.world.collect_telemetry(machine.t0)) if machine.started else {})
    zero = telemetry.get("origin") or origin(0.0, 0.0)
    rules, start = [], 0.0
    for name, end, ops, crashes, gray in machine.step_log:
        finish = relative(machine.t0 + end, zero)
        # ops, crashes, gray: how many the example had issued when the rule ended (what each rule did).
        rules.append({"rule": name, "start": start, "end": finish, "ops": ops, "crashes": crashes, "gray": gray})
        start = finish
    telemetry.update({"rules": rules, "numbers": list(getattr(machine, "xs", [])),
                      "parties": list(getattr(machine, "parties", [])), "example": machine.example + 1})
    return telemetry


async def remote_telemetry(world: Any, since: float) -> dict[str, Any]:
    """A service by URL: the timeline from the driver's history, the provider's journal (admin API) and what the
    service's adapter offers (transitions, operations, alerts), each kept to this example's numbers and time.
    `since`: the example's start (loop time); times are wall-clock seconds from then."""
    from .dialect_ops import core_operations

    driver = world.driver
    started_epoch = time.time() - (driver.now() - since)
    zero = origin(started_epoch, since)
    data = world_story(world, zero)
    entries: list[dict[str, Any]] = []
    after = 0
    for _ in range(50):  # the journal is a bounded ring: a few pages at most
        page = await driver.provider.journal(after=after, limit=1000)
        if not page.ok or not isinstance(page.body, dict):
            break
        entries.extend(items(page.body, "entries"))
        after = page.body.get("next")
        if not after:
            break
    managed = set(driver.managed_xs)
    # The provider's clock runs apart from ours (another process, anchored at its own start): read its offset.
    asked = time.time()
    ledger = await driver.provider.ledger()
    answered = time.time()
    now = ledger.body.get("now") if ledger.ok and isinstance(ledger.body, dict) else None
    skew = float(now) - (asked + answered) / 2 if isinstance(now, (int, float)) else 0.0
    provider_zero = origin(started_epoch + skew, since)
    calls = [c for c in journal_dict_calls(entries, core_operations(world.dialect), world.dialect, provider_zero,
                                           started_epoch + skew - 0.5)
             if not managed or c["x"] in managed or c["x"] is None]
    transitions, _ = await driver.transitions()
    operations, _ = await driver.operations()
    alerts, _ = await driver.alerts()
    transition_list = transition_rows(transitions or [], zero)
    timelines: dict[str, dict[str, list[list[Any]]]] = {x: {"XB": [], "AXB": []} for x in sorted(managed)}
    for t in transition_list:
        timelines.setdefault(str(t["x"]), {"XB": [], "AXB": []}).setdefault(str(t["mode"]), []).append([t["t"], t["to"]])
    fault_counts: dict[str, int] = {}
    for c in calls:
        if c["fault"]:
            kind = c["fault"].split("+")[-1].split(":")[0]
            fault_counts[kind] = fault_counts.get(kind, 0) + 1
    data.update({
        "end": round(driver.now() - since, 3),
        "timelines": timelines,
        "transitions": transition_list,
        "calls": calls,
        "core_operations": core_operation_rows(operations or [], zero),
        "faults": [[c["t"], c["x"], c["fault"]] for c in calls if c["fault"]],
        "alerts": [[relative(float(a["at"]), zero), a.get("x"), a.get("mode"), a.get("attempts")]
                   for a in alerts or [] if isinstance(a.get("at"), (int, float))],
        "crashes": [],
        "strays": [],
        "latencies": [c["took"] for c in calls],
        "settle_times": list(driver.settle_times),
        "attempts": {},
        "fault_counts": fault_counts,
        # What this run could draw from (a service by URL offers what its adapter maps).
        "provider_clock_offset": round(skew, 3),
        "offered": {"journal": bool(entries), "transitions": transitions is not None,
                    "operations": operations is not None, "alerts": alerts is not None},
    })
    return data


def _mode_of(operation: str) -> str | None:
    """The mode a vendor action implies (Aliyun names it; NPP bindings are AXB-like pairs)."""
    lower = operation.lower()
    if "axb" in lower or operation == "UnbindSubscription":
        return "AXB"
    if "xb" in lower:
        return "XB"
    return None


def _json_object(body: Any) -> dict[str, Any]:
    if isinstance(body, dict):
        return body
    if isinstance(body, (bytes, bytearray)):
        body = body.decode("utf-8", errors="replace")
    if isinstance(body, str) and body[:1] == "{":
        try:
            parsed = json.loads(body)
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}


def _text(body: Any) -> str:
    if body is None:
        return ""
    if isinstance(body, (bytes, bytearray)):
        return body[:8192].decode("utf-8", errors="replace")
    if isinstance(body, str):
        return body[:8192]
    raw = getattr(body, "raw", None)
    if isinstance(raw, (bytes, bytearray)):
        return raw[:8192].decode("utf-8", errors="replace")
    try:
        return json.dumps(body, default=str)[:8192]
    except (TypeError, ValueError):
        return ""


def _raw_dict(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        return None
    return {k: getattr(v, "raw", v) for k, v in value.items()}
