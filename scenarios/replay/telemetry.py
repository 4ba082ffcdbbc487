"""report.html's charts for a replay: the chaos telemetry, with faults read from the replay labels.

The replay provider journals each answer as `replay:seq=N[+what the client saw]` or `UNRECORDED`; a chart
of "faults by kind" counts what the client saw (ghost_success, timeout, status...), and calls the trace
lacked as `unrecorded`, not every replayed answer as a fault.
"""

from __future__ import annotations

from typing import Any

from simulator.clock import FIXED_EPOCH
from simulator.traces.recording import fault_parts

from ..world import World
from .compare import UNRECORDED, matched_seq, service_calls


def fault_kind(label: str | None) -> str | None:
    """`replay:seq=4+ghost_success:503` -> ghost_success; `replay:seq=2` -> None; UNRECORDED -> unrecorded."""
    if not label:
        return None
    if label == UNRECORDED:
        return "unrecorded"
    if matched_seq(label) is None:
        return label.split("+")[0].split(":")[0]
    rest = label.split("+", 1)[1] if "+" in label else ""
    parts = fault_parts(rest)
    return parts[0] if parts else None


def replay_telemetry(world: World, provider: Any, dialect: str) -> dict[str, Any]:
    try:
        telemetry = dict(world.telemetry())
    except Exception as exc:  # the charts are for people; never hide the replay's own result
        return {"error": f"telemetry unavailable: {exc}"}
    epoch = FIXED_EPOCH if telemetry else provider.ledger.clock.epoch
    faults, counts, operations, latencies = [], {}, {}, []
    for entry in service_calls(provider.journal.entries(), dialect):
        latencies.append(entry.latency)
        kind = fault_kind(entry.fault)
        if kind is None:
            continue
        counts[kind] = counts.get(kind, 0) + 1
        on = f"{entry.operation} {kind}"
        operations[on] = operations.get(on, 0) + 1
        faults.append([round(entry.at - epoch, 3), entry.x, f"{kind} ({entry.fault})"])
    telemetry.update({"faults": faults, "fault_counts": counts, "fault_operations": operations,
                      "latencies": latencies, "label": "(the replay)"})
    return telemetry
