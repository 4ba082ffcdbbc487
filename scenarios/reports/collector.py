"""Gathers the runner's events into one plain record per run, which every file writer renders."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..events import (
    CheckFailed,
    CheckPassed,
    Event,
    ReplayCompared,
    RunFinished,
    RunStarted,
    ScenarioFinished,
    ScenarioStarted,
    to_dict,
)


@dataclass
class ScenarioRecord:
    name: str
    seed: int
    description: str = ""
    dialect: str = "native"
    checks: list[dict[str, Any]] = field(default_factory=list)
    violations: list[dict[str, Any]] = field(default_factory=list)
    finished: ScenarioFinished | None = None
    replay: dict[str, Any] | None = None  # `pstnsim replay`: the steps beside the recording (ReplayCompared)

    @property
    def passed(self) -> bool:
        return bool(self.finished and self.finished.passed)


@dataclass
class RunRecord:
    """Subscribe it to the bus; after RunFinished it holds the whole run."""

    started: RunStarted | None = None
    scenarios: dict[str, ScenarioRecord] = field(default_factory=dict)
    finished: RunFinished | None = None

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self.started = event
        elif isinstance(event, ScenarioStarted):
            self.scenarios[event.scenario] = ScenarioRecord(event.scenario, event.seed, event.description, event.dialect)
        elif isinstance(event, CheckPassed):
            status = "skipped" if event.skipped else "passed"
            self.scenarios[event.scenario].checks.append(
                {"name": event.check, "description": event.description, "status": status, "reason": event.reason}
            )
        elif isinstance(event, CheckFailed):
            record = self.scenarios[event.scenario]
            violation = {
                "check": event.check,
                "title": event.title,
                "message": event.message,
                "details": event.details,
                "steps": list(event.steps),
                "replay_command": event.replay_command,
            }
            record.checks.append(
                {"name": event.check, "description": event.description, "status": "failed", "reason": event.title}
            )
            record.violations.append(violation)
        elif isinstance(event, ReplayCompared):
            data = to_dict(event)
            for key in ("event", "wall", "scenario"):
                data.pop(key, None)
            self.scenarios[event.scenario].replay = data
        elif isinstance(event, ScenarioFinished):
            self.scenarios[event.scenario].finished = event
        elif isinstance(event, RunFinished):
            self.finished = event
