"""pstnsim writing its own trace (`pstnsim provider --trace FILE`): each journaled exchange becomes one
trace line, with what the fault engine knows and a proxy cannot (was the change applied, what the
handler answered before the reply was lost)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..journal import Exchange as JournalEntry
from ..journal import Unscrubbed
from .format import DIALECTS, Exchange, Failure, Header, TraceWriter
from .meaning import meaning_of

# Faults after which the provider's handler never ran: nothing was applied.
NOT_APPLIED = ("status", "timeout", "reset", "empty_reply", "deadline")
# Faults that cut the answer short, by the failure the client sees.
FAILURE_OF = {"reset": "reset", "empty_reply": "empty_reply", "truncated_body": "truncated_body",
              "malformed_body": "malformed_body"}


def fault_parts(label: str | None) -> list[str]:
    """`latency+ghost_success:reset` -> ["latency", "ghost_success", "reset"]."""
    if not label:
        return []
    parts = []
    for part in label.split("+"):
        parts.extend(part.split(":"))
    return parts


def was_applied(label: str | None) -> bool:
    """Whether the provider's handler ran (its answer may still have been lost on the way back)."""
    kinds = [part.split(":")[0] for part in (label or "").split("+")]
    return "ghost_success" in kinds or not any(kind in NOT_APPLIED for kind in kinds)


def to_trace_exchange(entry: JournalEntry, started_at: float, seq: int | None = None) -> Exchange:
    raw_headers = _raw_headers(entry.request_headers)
    raw_body = getattr(entry.request_body, "raw", entry.request_body)
    raw_query = getattr(entry.query, "query", entry.query) or ""
    if entry.dialect in DIALECTS:
        meaning = meaning_of(entry.dialect, entry.method, entry.path, raw_query, raw_headers, raw_body)
        params = meaning.params
    else:
        params = {k: v for k, v in (("x", entry.x), ("a", entry.a), ("b", entry.b)) if v is not None}
    record = entry.to_dict()  # scrubbed: secrets removed, key ids masked
    request = {"method": entry.method, "path": entry.path, "query": record["query"],
               "headers": record["request_headers"], "body": record["request_body"]}
    parts = fault_parts(entry.fault)
    failure_kind = next((FAILURE_OF[p] for p in parts if p in FAILURE_OF), None)
    response: dict[str, Any] | None = None
    if entry.status is not None:
        response = {"status": entry.status, "headers": record["response_headers"], "body": record["response_body"]}
    failure = None
    if failure_kind is not None or response is None:
        failure = Failure(failure_kind or "reset", after=round(entry.latency, 6), detail=entry.fault or "")
    hidden = getattr(entry, "provider_response", None)
    provider_response = None
    if isinstance(hidden, dict):
        provider_response = {k: (v.scrubbed() if isinstance(v, Unscrubbed) else v) for k, v in hidden.items()}
    return Exchange(
        seq=entry.seq if seq is None else seq,
        offset=max(0.0, entry.at - started_at),
        dialect=entry.dialect,
        action=entry.operation,
        params=params,
        request=request,
        response=response,
        failure=failure,
        latency=entry.latency,
        fault=entry.fault,
        applied=was_applied(entry.fault),
        provider_response=provider_response,
    )


class ProviderTraceWriter:
    """A journal listener: the header when the provider starts, then one line per exchange."""

    def __init__(self, path: str | Path, started_at: float, dialects: tuple[str, ...], meta: dict[str, Any]) -> None:
        self.started_at = started_at
        self.writer = TraceWriter(path, Header(recorder="pstnsim provider", dialects=dialects,
                                               started_at=started_at, pseudonymised=False, meta=meta))

    def __call__(self, entry: JournalEntry) -> None:
        self.writer.write(to_trace_exchange(entry, self.started_at))

    def close(self) -> None:
        self.writer.close()


def _raw_headers(headers: Any) -> dict[str, str]:
    raw = getattr(headers, "headers", headers) or {}
    return {str(k): str(v) for k, v in raw.items()}
