"""A failing chaos example as a provider trace, so that `pstnsim replay` reproduces it without Hypothesis.

The machine hands over its world at the end of every failing example (`capture`, cheap: references only);
the runner turns the last one, the reported (shrunk) example, into a trace (`failure_trace`): the core's
own provider traffic as exchanges, the driver's binds and unbinds as business lines, and in the header's
meta what else the example did to the core (crashes, gray changes, reads, provider-side expiries) and how
the core was configured, so a replay drives the same thing at the same offsets.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulator.journal import KEY_ID_NAME, SECRET_NAME
from simulator.traces.format import BusinessOperation, Header, Trace, write_trace
from simulator.traces.recording import to_trace_exchange

from ..scenario_file import Scenario

RECORDER = "pstnsim chaos"
# Native calls the harness makes itself (number list, call probes, a provider-side expiry): not the core's.
HARNESS_NATIVE_OPERATIONS = frozenset({"list_numbers", "place_call", "update_binding", "list_calls", "get_call"})
_CREDENTIAL = re.compile(rf"{SECRET_NAME.pattern}|{KEY_ID_NAME.pattern}|access_key", re.IGNORECASE)


@dataclass
class FailureMaterial:
    """What a failing example leaves behind, kept by reference until the run decides which one to write."""

    scenario: Scenario
    seed: int
    dialect: str
    violated: tuple[str, ...]
    checks: tuple[str, ...] | None
    entries: list[Any]  # the provider's journal entries (simulator.journal.Exchange)
    started_at: float  # the provider's clock (epoch seconds) at the example's start
    t0: float  # the loop's clock at the example's start
    history: list[Any]  # scenarios.history.Operation
    crashes: list[tuple[float, float]] = field(default_factory=list)
    gray_changes: list[tuple[float, bool, tuple[str, ...]]] = field(default_factory=list)
    outage_downtime: float = 0.0
    numbers: list[str] = field(default_factory=list)
    parties: list[str] = field(default_factory=list)
    # The machine's rule boundaries: (rule, virtual end, operations, crashes, gray changes so far).
    step_log: list[tuple[str, float, int, int, int]] = field(default_factory=list)


def capture(machine: Any, scenario: Scenario, seed: int, dialect: str,
            checks: tuple[str, ...] | None) -> FailureMaterial | None:
    """The material of the machine's example; None for a world that has no in-process provider."""
    world = machine.world
    provider = getattr(world, "provider", None)
    if provider is None:
        return None

    async def provider_minus_loop() -> float:
        import asyncio

        return provider.ledger.clock.now() - asyncio.get_running_loop().time()

    started_at = machine.t0 + machine.run(provider_minus_loop())
    core = getattr(world, "core", None)
    lease = float(core.config.lease) if core is not None else 0.0
    crash_downtime = sum(downtime + lease for _, downtime in world.crashes)
    return FailureMaterial(
        scenario=scenario, seed=seed, dialect=dialect, violated=tuple(machine.violated), checks=checks,
        entries=list(provider.journal.entries()), started_at=started_at, t0=machine.t0,
        history=list(world.driver.history), crashes=list(world.crashes), gray_changes=list(world.gray_changes),
        outage_downtime=max(0.0, world.driver.downtime - crash_downtime),
        numbers=list(machine.xs), parties=list(machine.parties), step_log=list(machine.step_log),
    )


def is_core_call(entry: Any, dialect: str) -> bool:
    """The core's own traffic on its wire (the harness's number list, call probes and expiries are not)."""
    if entry.dialect != dialect or getattr(entry, "direction", "inbound") != "inbound":
        return False
    return not (entry.dialect == "native" and entry.operation in HARNESS_NATIVE_OPERATIONS)


def failure_trace(material: FailureMaterial) -> Trace:
    m = material
    # Numbered in arrival order (the journal has them in the order they ended).
    entries = sorted((e for e in m.entries if is_core_call(e, m.dialect)), key=lambda e: (e.at, e.seq))
    exchanges = [to_trace_exchange(entry, m.started_at, seq=i) for i, entry in enumerate(entries, start=1)]
    ops_done = [ops for _, _, ops, _, _ in m.step_log]
    business, answers, reads = [], [], {}
    for index, op in enumerate(m.history):
        step = bisect_right(ops_done, index)  # the rule during which it was issued
        offset = max(0.0, op.invoked_at - m.t0)
        if op.kind == "read":
            reads.setdefault((round(offset, 6), op.x), step)
            continue
        value = tuple(op.value or ())
        a, b = (value[0], value[1]) if op.kind == "bind" and op.mode == "AXB" else (None, value[0] if value else None)
        business.append(BusinessOperation(len(business) + 1, offset, op.kind, op.mode, op.x,
                                          a if op.kind == "bind" else None, b if op.kind == "bind" else None))
        answers.append({"seq": len(business), "step": step, "outcome": op.outcome.value if op.outcome else None,
                        "answer": op.detail, "operation_id": op.core_operation_id})
    crashes_done = [crashes for _, _, _, crashes, _ in m.step_log]
    gray_done = [gray for _, _, _, _, gray in m.step_log]
    expiries = [
        {"offset": round(max(0.0, e.at - m.started_at), 6), "binding_id": e.path.rstrip("/").rsplit("/", 1)[-1],
         "x": e.x}
        for e in m.entries
        if e.dialect == "native" and e.operation == "update_binding" and e.status == 200
    ]
    meta = {
        "scenario": m.scenario.name,
        "description": m.scenario.description,
        "scenario_file": _shown_path(m.scenario.source) if m.scenario.source else None,
        "seed": m.seed,
        "dialect": m.dialect,
        "core": scrub_credentials(dict(m.scenario.core)),
        "provider": dict(m.scenario.provider),
        "workload": {"gray": m.scenario.workload.gray, "calls": m.scenario.workload.calls,
                     "modes": list(m.scenario.workload.modes)},
        "checks": list(m.checks) if m.checks else None,
        "violated": list(m.violated),
        # The machine's rules in order (what each ended with): a replay waits where the machine waited.
        "steps": [{"rule": rule, "end": round(end, 6), "ops": ops} for rule, end, ops, _, _ in m.step_log],
        # Per business line: the rule (index into steps) that issued it and what the service answered then.
        "business": answers,
        "crashes": [{"offset": round(at - m.t0, 6), "downtime": downtime, "step": bisect_right(crashes_done, i)}
                    for i, (at, downtime) in enumerate(m.crashes)],
        "gray": [{"offset": round(max(0.0, at - m.t0), 6), "all": all_numbers, "numbers": list(numbers),
                  "step": bisect_right(gray_done, i)} for i, (at, all_numbers, numbers) in enumerate(m.gray_changes)],
        "reads": [{"offset": offset, "x": x, "step": step} for (offset, x), step in sorted(reads.items())],
        "expiries": expiries,
        "outage_downtime": round(m.outage_downtime, 6),
        "numbers": m.numbers,
        "parties": m.parties,
    }
    header = Header(recorder=RECORDER, dialects=(m.dialect,), started_at=m.started_at, pseudonymised=False, meta=meta)
    return Trace(header, exchanges, business)


def write_failure_trace(material: FailureMaterial, directory: Path) -> Path:
    """DIR/<scenario>.failure.trace.jsonl"""
    directory.mkdir(parents=True, exist_ok=True)
    return write_trace(directory / f"{material.scenario.name}.failure.trace.jsonl", failure_trace(material))


def scrub_credentials(table: dict[str, Any]) -> dict[str, Any]:
    """A core configuration table without its credentials (a replay uses the local defaults)."""
    out: dict[str, Any] = {}
    for key, value in table.items():
        if _CREDENTIAL.search(key):
            continue
        out[key] = scrub_credentials(value) if isinstance(value, dict) else value
    return out


def _shown_path(path: Path) -> str:
    """Relative to the working folder when inside it: a trace attached to a bug report names no home folder."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
