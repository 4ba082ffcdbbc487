"""The bridge to the nemesis module: parse a scenario's [[nemesis]] tables and plan (or reload) its actions.

Kept apart so a build without the nemesis module still runs clusters that ask for no nemesis.
"""

from __future__ import annotations

import random
from typing import Any

from ..scenario_file import Scenario, ScenarioError


def nemesis_module() -> Any:
    try:
        from . import nemesis
    except ImportError as exc:
        raise ScenarioError(f"[[nemesis]] needs scenarios/cluster/nemesis.py, which this build lacks ({exc})") from None
    return nemesis


def parse_specs(scenario: Scenario) -> list[Any]:
    """The scenario's nemesis specs; ScenarioError naming the file and the bad key."""
    if not scenario.nemesis:
        return []
    module = nemesis_module()
    try:
        return list(module.parse_nemesis([dict(t) for t in scenario.nemesis]))
    except ValueError as exc:
        raise ScenarioError(f"{scenario.source or scenario.name}: [[nemesis]] {exc}") from None


def plan_actions(specs: list[Any], replicas: int, duration: float, seed: int) -> list[Any]:
    if not specs:
        return []
    return list(nemesis_module().plan(specs, replicas, duration, random.Random(f"cluster-nemesis:{seed}")))


def actions_from_json(items: list[dict[str, Any]]) -> list[Any]:
    """Actions as a replay file holds them (each Action's to_json())."""
    if not items:
        return []
    module = nemesis_module()
    action = module.Action
    loads = getattr(module, "action_from_json", None) or getattr(action, "from_json", None)
    return [loads(item) if loads is not None else action(**item) for item in items]


def actions_to_json(actions: list[Any]) -> list[dict[str, Any]]:
    return [a.to_json() for a in actions]
