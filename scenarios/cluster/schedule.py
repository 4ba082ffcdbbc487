"""The business traffic of a cluster run, planned up front from the seed (pure), and the replay file.

A plan is a list of bursts: when a burst starts (seconds from the run's start) and
its operations, each with an offset inside the burst and indexes into the run's
numbers and parties. Planning it all before anything runs makes the schedule a
value: it is written to the replay file with the nemesis actions, and a replay
runs that very schedule again, whatever the replicas did the first time.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..scenario_file import Scenario

REPLAY_FORMAT = "pstnsim-cluster-replay/1"
ONE_NUMBER_SHARE = 0.3  # bursts whose operations all go to one X: the most contention
PAUSE_BETWEEN = (0.3, 1.5)  # seconds between the end of one burst's starts and the next burst


@dataclass(frozen=True)
class PlannedOp:
    kind: str  # bind | unbind | read
    mode: str
    x: int  # index into the run's numbers
    a: int  # index into the parties (the A of an AXB)
    b: int  # index into the parties, never a's
    offset: float  # seconds after the burst starts


@dataclass(frozen=True)
class Burst:
    at: float
    ops: tuple[PlannedOp, ...]


def plan_traffic(scenario: Scenario, duration: float, rng: random.Random) -> list[Burst]:
    """Bursts from the scenario's [workload] (mix, modes, burst size, rate) over `duration` real seconds."""
    w = scenario.workload
    weighted = scenario.weighted_operations()
    span = w.burst[1] / w.rate
    bursts: list[Burst] = []
    at = round(rng.uniform(0.1, 0.5), 3)
    while at < duration:
        size = rng.randint(w.burst[0], w.burst[1])
        one_x = rng.randrange(w.numbers) if rng.random() < ONE_NUMBER_SHARE else None
        ops = []
        for _ in range(size):
            kind, mode = rng.choice(weighted)
            a = rng.randrange(w.parties)
            b = rng.randrange(w.parties - 1)
            b = b if b < a else b + 1
            x = one_x if one_x is not None else rng.randrange(w.numbers)
            ops.append(PlannedOp(kind, mode, x, a, b, round(rng.uniform(0.0, span), 3)))
        bursts.append(Burst(at, tuple(sorted(ops, key=lambda op: op.offset))))
        at = round(at + span + rng.uniform(*PAUSE_BETWEEN), 3)
    return bursts


def traffic_to_json(bursts: list[Burst]) -> list[dict[str, Any]]:
    return [{"at": b.at, "ops": [asdict(op) for op in b.ops]} for b in bursts]


def traffic_from_json(data: Any, where: str) -> list[Burst]:
    try:
        return [Burst(float(b["at"]), tuple(PlannedOp(**op) for op in b["ops"])) for b in data]
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{where}: the traffic schedule is malformed ({exc})") from None


@dataclass
class ReplayFile:
    """What a cluster run did, enough to do it again: the scenario, seed, replicas, duration, traffic and
    nemesis actions (their JSON, as the nemesis module writes it)."""

    scenario: str
    seed: int
    replicas: int
    duration: float
    traffic: list[Burst]
    nemesis: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {"format": REPLAY_FORMAT, "scenario": self.scenario, "seed": self.seed, "replicas": self.replicas,
                "duration": self.duration, "traffic": traffic_to_json(self.traffic), "nemesis": self.nemesis}

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=1) + "\n")
        return path


def read_replay(path: Path) -> ReplayFile:
    """Raises ValueError naming the file and what is wrong."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"--replay {path}: cannot read it ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != REPLAY_FORMAT:
        raise ValueError(f"--replay {path}: not a cluster replay file (format {REPLAY_FORMAT})")
    try:
        return ReplayFile(scenario=str(data["scenario"]), seed=int(data["seed"]), replicas=int(data["replicas"]),
                          duration=float(data["duration"]),
                          traffic=traffic_from_json(data["traffic"], f"--replay {path}"),
                          nemesis=list(data["nemesis"]))
    except (KeyError, TypeError) as exc:
        raise ValueError(f"--replay {path}: missing or wrong field {exc}") from None
