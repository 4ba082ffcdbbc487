"""summary.json: the machine-readable result of a run (scenario, seed, checks, violations, counts, times)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .cluster_facts import cluster_facts
from .collector import RunRecord


def summary(record: RunRecord) -> dict[str, Any]:
    started, finished = record.started, record.finished
    return {
        "run_id": started.run_id if started else None,
        "seed": started.seed if started else None,
        "mode": started.mode if started else None,
        "passed": bool(finished and finished.passed),
        # What `pstnsim chaos run` exits with: 0 passed, 1 violated, 2 harness error or vacuous, 130 Ctrl-C.
        "exit_code": finished.exit_code if finished else None,
        "interrupted": bool(finished and finished.interrupted),
        "violations": sum(len(s.violations) for s in record.scenarios.values()),
        "wall_time": round(finished.wall_time, 3) if finished else None,
        "virtual_time": round(finished.virtual_time, 3) if finished else None,
        "scenarios": [
            {
                "scenario": s.name,
                "seed": s.seed,
                "dialect": s.dialect,
                "passed": s.passed,
                # passed, violated, harness error, vacuous, interrupted; a --replay: reproduced, no longer reproduces
                "verdict": (s.finished.verdict or ("passed" if s.passed else "violated")) if s.finished else "did not run",
                "note": s.finished.note if s.finished else "",
                "error": s.finished.error if s.finished else "did not finish",
                "examples": s.finished.examples if s.finished else 0,
                "steps": s.finished.steps if s.finished else 0,
                "counts": s.finished.counts if s.finished else {},
                # Provider calls of the core that got a fault, by wire operation and kind ("BindXB status": 12).
                "faulted_calls": s.finished.telemetry.get("fault_operations", {}) if s.finished else {},
                "virtual_time": round(s.finished.virtual_time, 3) if s.finished else None,
                "wall_time": round(s.finished.wall_time, 3) if s.finished else None,
                "checks": s.checks,
                "violations": s.violations,
                # The failing example's provider trace: `pstnsim replay FILE` reproduces it without Hypothesis.
                "failure_trace": (s.finished.failure_trace or None) if s.finished else None,
                **({"replay": s.replay} if s.replay is not None else {}),
                # pstnsim chaos cluster: replicas, backends, nemesis actions with their times, requests per replica.
                **({"cluster": cluster_facts(s.finished.telemetry)}
                   if s.finished and cluster_facts(s.finished.telemetry) else {}),
            }
            for s in record.scenarios.values()
        ],
    }


def write_summary(record: RunRecord, path: Path) -> Path:
    path.write_text(json.dumps(summary(record), indent=2, default=str) + "\n")
    return path
