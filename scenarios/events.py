"""What the runner tells its subscribers (terminal, summary.json, junit.xml, report.html): a dataclass tree.

The runner emits; subscribers only read. A subscriber is any callable taking an
`Event`; the library never imports the CLI.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable


@dataclass(frozen=True)
class Event:
    """Base of every event; `wall` is seconds since the run started (real time, for the reports only)."""

    wall: float


@dataclass(frozen=True)
class RunStarted(Event):
    run_id: str
    seed: int
    scenarios: tuple[str, ...]
    mode: str  # "in-process" | "real-time"
    report_dir: str
    dialect: str | None = None  # the --dialect override; None: each scenario file's own (ScenarioStarted says)


@dataclass(frozen=True)
class ScenarioStarted(Event):
    scenario: str
    seed: int
    description: str
    budget_examples: int
    budget_steps: int
    dialect: str = "native"  # the wire the core speaks to the provider in this scenario
    # This scenario's share of --time-budget, wall seconds (None: only the example count bounds it).
    time_budget: float | None = None


@dataclass(frozen=True)
class StepDone(Event):
    """One rule of the state machine ran (or one workload tick in real-time mode)."""

    scenario: str
    example: int
    step: int
    rule: str
    virtual_time: float


@dataclass(frozen=True)
class ExampleDone(Event):
    scenario: str
    example: int
    steps: int
    virtual_time: float


@dataclass(frozen=True)
class CheckPassed(Event):
    scenario: str
    check: str
    description: str
    skipped: bool = False
    reason: str = ""


@dataclass(frozen=True)
class CheckFailed(Event):
    scenario: str
    check: str
    description: str
    title: str
    message: str
    details: dict[str, Any]
    # The minimal failing sequence (shrunk rule calls, as a program) and the one command that replays it.
    steps: tuple[str, ...]
    replay_command: str


@dataclass(frozen=True)
class ScenarioFinished(Event):
    scenario: str
    seed: int
    passed: bool
    examples: int
    steps: int
    virtual_time: float
    wall_time: float
    counts: dict[str, int]
    # Data for the charts: per-X timelines, latencies, retries and alerts (see runner.Telemetry).
    telemetry: dict[str, Any] = field(default_factory=dict)
    error: str = ""  # the harness itself failed (not a violation): shown, and fails the run
    # The provider trace of the failing (shrunk) example, written beside the reports: `pstnsim replay` takes it.
    failure_trace: str = ""
    # "passed", "violated", "harness error", "vacuous", "interrupted"; a --replay: "reproduced" or
    # "no longer reproduces". `note`: why the search ended early, or what a verdict rests on.
    verdict: str = ""
    note: str = ""


@dataclass(frozen=True)
class ReplayCompared(Event):
    """`pstnsim replay`: each business step beside the recorded exchanges it led to and what the service sent.

    `steps`: [{"seq", "offset", "op", "mode", "x", "a", "b", "recorded": [exchange summaries],
    "sent": [journal summaries with "matched" (recorded seq) or "unrecorded": true]}]; `unrecorded`: every
    call the service made that the recording did not have; `never_asked`: recorded exchanges no request
    matched; `verdict`: "reproduced", "no longer reproduces", "violated" or "passed"."""

    scenario: str
    trace: str
    dialect: str
    business_source: str  # "business lines" | "inferred from the recorded calls"
    steps: list[dict[str, Any]]
    unrecorded: list[dict[str, Any]]
    never_asked: list[dict[str, Any]]
    recorded_violations: tuple[str, ...]
    violations: tuple[str, ...]
    verdict: str
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunFinished(Event):
    run_id: str
    passed: bool
    scenarios: int
    violations: int
    wall_time: float
    virtual_time: float
    report_dir: str
    interrupted: bool = False  # Ctrl-C: the reports hold what ran until then
    harness_errors: int = 0  # scenarios that ended in a harness error or ran vacuously
    exit_code: int | None = None  # what `pstnsim chaos run` exits with: 0, 1, 2 or 130


Subscriber = Callable[[Event], None]


def to_dict(event: Event) -> dict[str, Any]:
    data = asdict(event)
    data["event"] = type(event).__name__
    return data


class EventBus:
    """Hands each event to every subscriber in order."""

    def __init__(self, subscribers: Iterable[Subscriber] = ()) -> None:
        self.subscribers: list[Subscriber] = list(subscribers)

    def subscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.append(subscriber)

    def emit(self, event: Event) -> None:
        for subscriber in self.subscribers:
            subscriber(event)
