"""The core's calls as the provider's journal saw them: plain rows the breaker and retry-gap checks read.

`core_calls` turns journal entries (`GET /_admin/journal`) into one row per call
the core made on its wire: when it arrived (provider clock), how long the
provider took, which operation and binding it was about, the Idempotency-Key it
carried, and how it was answered. `failed` says whether the core saw it as a
failed call (no answer in time, 5xx, throttled, a body it could not read): what
its circuit breaker counts and what ends an attempt.
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterable, Mapping
from urllib.parse import parse_qs

# Faults after which the core cannot read the answer, whatever its status.
_GARBLED = frozenset({"timeout", "reset", "empty_reply", "truncated_body", "malformed_body", "ghost_success",
                      "wrong_shape_body"})
_BINDING_PATH = re.compile(r"^/v1/bindings/([^/?]+)$")
OPERATION_ID = re.compile(r"\bop_\d+")
WRITES = frozenset({"create_binding", "delete_binding"})


def core_calls(entries: Iterable[Any], operations: frozenset[str], dialect: str,
               bindings: Iterable[Mapping[str, Any]] = (), offset: float = 0.0) -> list[dict[str, Any]]:
    """One row per inbound call of the core on `dialect`, in arrival order, times moved by -`offset` (the
    provider's clock minus the loop's). `entries`: journal entries (simulator.journal.Exchange, or the dicts of
    `GET /_admin/journal`). `bindings` (the provider's ledger, released ones too) gives the mode of a call that
    names only a binding id."""
    modes = {str(b.get("binding_id")): b.get("mode") for b in bindings}
    rows = []
    for e in entries:
        get = e.get if isinstance(e, Mapping) else (lambda name, default=None, e=e: getattr(e, name, default))
        if get("dialect") != dialect or get("operation") not in operations:
            continue
        if get("direction", "inbound") != "inbound":
            continue
        body = _json(get("request_body"))
        raw_query = get("query")
        query = {k: v[-1] for k, v in parse_qs(str(getattr(raw_query, "query", raw_query) or "")).items()}
        match = _BINDING_PATH.match(str(get("path") or ""))
        binding_id = match.group(1) if match else None
        headers = get("request_headers") or {}
        headers = getattr(headers, "headers", headers)
        key = next((str(v) for k, v in headers.items() if str(k).lower() == "idempotency-key"), None) \
            if hasattr(headers, "items") else None
        mode = body.get("mode") or query.get("mode") or (modes.get(binding_id) if binding_id else None)
        rows.append({
            "seq": get("seq"), "at": float(get("at") or 0.0) - offset, "latency": float(get("latency") or 0.0),
            "operation": str(get("operation")), "x": get("x") or body.get("x") or query.get("x"),
            "mode": mode, "binding_id": binding_id, "key": key, "status": get("status"),
            "fault": get("fault"),
        })
    rows.sort(key=lambda r: (r["at"], r["seq"] or 0))
    return rows


def fault_kinds(call: Mapping[str, Any]) -> set[str]:
    """The fault actions applied to a call ("latency+status:429" -> {"latency", "status"})."""
    fault = call.get("fault")
    return {part.split(":")[0] for part in str(fault).split()[0].split("+")} if fault else set()


def failed(call: Mapping[str, Any], timeout: float) -> bool:
    """Whether the core saw this call fail (an Unknown outcome): what its breaker counts as a failure."""
    status = call.get("status")
    if status is None or float(call.get("latency") or 0.0) >= timeout - 0.01:
        return True
    if int(status) >= 500 or int(status) in (408, 429):
        return True
    return bool(fault_kinds(call) & _GARBLED) and 200 <= int(status) < 300


def may_apply(call: Mapping[str, Any], timeout: float) -> bool:
    """A failed create or delete that may still take effect later (not a throttled one, not a lookup): it puts its
    operation in doubt."""
    return failed(call, timeout) and call.get("status") != 429 and call.get("operation") in WRITES


def end(call: Mapping[str, Any], timeout: float) -> float:
    """When the core had the call's answer, or gave up on it."""
    return float(call["at"]) + min(float(call.get("latency") or 0.0), timeout)


def operation_id(call: Mapping[str, Any]) -> str | None:
    """The core operation an Idempotency-Key names (the bundled core's keys are `<prefix>-<operation id>...`)."""
    found = OPERATION_ID.search(str(call.get("key") or ""))
    return found.group(0) if found else None


def _json(body: Any) -> dict[str, Any]:
    body = getattr(body, "raw", body)
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    if isinstance(body, dict):
        return body
    if isinstance(body, str):
        try:
            value = json.loads(body)
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}
    return {}
