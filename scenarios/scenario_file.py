"""Chaos scenario files: a declarative TOML format and its strict loader.

    name = "xb_storm_5xx"
    description = "..."
    [workload]            # what the harness does to the core
    modes = ["XB"]        # which binding modes it drives
    numbers = 3           # virtual numbers X taken from the provider's pool
    parties = 5           # A/B numbers (Faker, seeded)
    mix = { bind = 4, unbind = 2, read = 1 }   # weights of the operations in a burst
    rate = 2.0            # operations per virtual second inside a burst (start offsets are drawn)
    burst = [1, 6]        # operations per burst
    crashes = false       # core crash-and-restart rule on
    expiries = false      # the provider expires bindings by itself; the business unbinds on the notice
    gray = "all"          # "all" (new path), "none" (old path) or "switch" (gray-list changes mid-run)
    calls = true          # calls placed through the simulator (routing checked)
    fault_kinds = ["status", "ghost_success"]  # fault rules the machine may add and remove mid-run
    [[faults]]            # the fault plan installed at start, in the provider's rule format
    match = { operation = "create_binding" }
    action = { kind = "status", status = 503 }
    when = { probability = 0.3 }
    [core]                # the core's configuration (same tables as its TOML), optional
    retry = { max_attempts = 5, base_delay = 0.5, max_delay = 8, alert_threshold = 3 }
    [provider]            # the in-process simulator, optional
    request_deadline = 30 # seconds a held request can still take effect (your provider's gateway timeout)
    [run]
    duration = 600        # virtual seconds one example may cover at most
    checks = ["all"]      # or check names
    dialect = "aliyun"    # the wire the core speaks: native, aliyun, tencent, volcengine (--dialect overrides)
    [budget]
    examples = 20         # Hypothesis examples
    steps = 25            # rule calls per example
    [cluster]             # `pstnsim chaos cluster` only: core replicas as processes (docs/cluster.md)
    replicas = 2          # --replicas overrides
    duration = 20         # real seconds of traffic and nemesis actions
    settle_timeout = 60   # real seconds the replicas get to finish every operation at the end
    [[nemesis]]           # `pstnsim chaos cluster` only: what is done to the replicas (docs/cluster.md)
    action = "kill"
    every = 8

Every key is checked: unknown keys, wrong types and impossible values are refused
with the file and key named.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .checkers import CHECKS

OPERATIONS = ("bind", "unbind", "read")
MODES = ("XB", "AXB")
GRAY_MODES = ("all", "none", "switch")
# Fault kinds the machine knows how to draw rules for (the provider's action kinds).
FAULT_KINDS = (
    "latency", "timeout", "status", "throttle", "reset", "empty_reply", "truncated_body", "malformed_body",
    "ghost_success", "delayed_visibility", "push", "slow_lookup",
)
EXAMPLES_DIR = Path(__file__).parent / "examples"


class ScenarioError(ValueError):
    """A scenario file that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class Workload:
    modes: tuple[str, ...] = MODES
    numbers: int = 3
    parties: int = 5
    mix: dict[str, int] = field(default_factory=lambda: {"bind": 4, "unbind": 2, "read": 1})
    rate: float = 2.0
    burst: tuple[int, int] = (1, 5)
    crashes: bool = False
    expiries: bool = False
    gray: str = "all"
    calls: bool = True
    fault_kinds: tuple[str, ...] = ()
    rebind_at_doubt_end: bool = False


@dataclass(frozen=True)
class Budget:
    examples: int = 10
    steps: int = 20


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str = ""
    workload: Workload = field(default_factory=Workload)
    faults: tuple[dict[str, Any], ...] = ()
    core: dict[str, Any] = field(default_factory=dict)
    # The in-process simulator's settings (keys of its --config file that shape behaviour): request_deadline.
    provider: dict[str, Any] = field(default_factory=dict)
    duration: float = 600.0
    checks: tuple[str, ...] = ()  # empty: every registered check
    budget: Budget = field(default_factory=Budget)
    source: Path | None = None
    # `pstnsim chaos cluster` only: the [cluster] table (validated) and the raw [[nemesis]] tables (the nemesis
    # module parses them when the cluster run starts).
    cluster: dict[str, Any] = field(default_factory=dict)
    nemesis: tuple[dict[str, Any], ...] = ()

    # `[run] dialect`: the wire this scenario runs over ("" when the file does not say).
    run_dialect: str = ""

    @property
    def dialect(self) -> str:
        """The wire the file asks for: `[run] dialect`, else `[core] provider.dialect`, else native
        (`pstnsim chaos run --dialect` overrides it)."""
        return self.run_dialect or str(self.core.get("provider", {}).get("dialect", "native"))

    def weighted_operations(self) -> list[tuple[str, str]]:
        """(kind, mode) pairs repeated by weight: what a burst draws from."""
        out = []
        for kind, weight in self.workload.mix.items():
            for mode in self.workload.modes:
                out.extend([(kind, mode)] * weight)
        return out


_TOP = ("name", "description", "workload", "faults", "core", "provider", "run", "budget", "cluster", "nemesis")
_PROVIDER = ("request_deadline",)
_WORKLOAD = {"modes": list, "numbers": int, "parties": int, "mix": dict, "rate": float, "burst": list,
             "crashes": bool, "expiries": bool, "gray": str, "calls": bool, "fault_kinds": list,
             "rebind_at_doubt_end": bool}
_RUN = {"duration": float, "checks": list, "dialect": str}
_BUDGET = {"examples": int, "steps": int}
_CLUSTER = {"replicas": int, "duration": float, "settle_timeout": float}


def load_scenario(path: str | Path) -> Scenario:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: {exc}") from exc
    return parse_scenario(data, origin=str(path), default_name=path.stem, source=path)


def default_suite() -> list[Path]:
    """The bundled example scenarios, in name order: what `pstnsim chaos run` runs with no file."""
    return sorted(EXAMPLES_DIR.glob("*.toml"))


def parse_scenario(data: dict[str, Any], origin: str = "scenario", default_name: str = "scenario",
                   source: Path | None = None) -> Scenario:
    _known(data, _TOP, origin)
    name = _typed(data.get("name", default_name), str, f"{origin}: name")
    if not name or not name.replace("_", "").replace("-", "").isalnum():
        raise ScenarioError(f"{origin}: name must be letters, digits, '_' or '-', got {name!r}")
    workload = _workload(data.get("workload", {}), f"{origin}: [workload]")
    faults = _faults(data.get("faults", []), f"{origin}: [[faults]]")
    core = _core(data.get("core", {}), f"{origin}: [core]")
    provider = _provider(data.get("provider", {}), f"{origin}: [provider]")
    run = _table(data.get("run", {}), _RUN, f"{origin}: [run]")
    budget_data = _table(data.get("budget", {}), _BUDGET, f"{origin}: [budget]")
    duration = run.get("duration", 600.0)
    if duration <= 0:
        raise ScenarioError(f"{origin}: [run] duration must be > 0 virtual seconds")
    checks = tuple(run.get("checks", ["all"]))
    if not all(isinstance(c, str) for c in checks):
        raise ScenarioError(f"{origin}: [run] checks must be a list of check names")
    if "all" in checks:
        checks = ()
    else:
        unknown = [c for c in checks if c not in CHECKS.checks]
        if unknown:
            raise ScenarioError(f"{origin}: [run] unknown check(s) {', '.join(unknown)}; known: {', '.join(CHECKS.checks)}")
    run_dialect = _run_dialect(run.get("dialect"), core, f"{origin}: [run] dialect")
    budget = Budget(**budget_data)
    if budget.examples < 1 or budget.steps < 1:
        raise ScenarioError(f"{origin}: [budget] examples and steps must be >= 1")
    cluster = _cluster(data.get("cluster", {}), f"{origin}: [cluster]")
    nemesis = data.get("nemesis", [])
    if not isinstance(nemesis, list) or not all(isinstance(t, dict) for t in nemesis):
        raise ScenarioError(f"{origin}: [[nemesis]] must be an array of tables")
    return Scenario(name=name, description=_typed(data.get("description", ""), str, f"{origin}: description"),
                    workload=workload, faults=faults, core=core, provider=provider, duration=float(duration),
                    checks=checks, budget=budget, source=source, run_dialect=run_dialect, cluster=cluster,
                    nemesis=tuple(nemesis))


def _cluster(table: Any, where: str) -> dict[str, Any]:
    """`[cluster]`: replicas 1..16, duration and settle_timeout > 0 real seconds."""
    values = _table(table, _CLUSTER, where)
    if not 1 <= values.get("replicas", 2) <= 16:
        raise ScenarioError(f"{where} replicas must be between 1 and 16, got {values['replicas']}")
    for key in ("duration", "settle_timeout"):
        if key in values and not values[key] > 0:
            raise ScenarioError(f"{where} {key} must be > 0 seconds, got {values[key]}")
    return values


def _workload(table: Any, where: str) -> Workload:
    values = _table(table, _WORKLOAD, where)
    modes = tuple(values.pop("modes", MODES))
    if not modes or any(m not in MODES for m in modes) or len(set(modes)) != len(modes):
        raise ScenarioError(f"{where} modes must be a non-empty list of {', '.join(MODES)}, got {list(modes)}")
    mix = values.pop("mix", None)
    if mix is not None:
        bad = [k for k in mix if k not in OPERATIONS]
        if bad:
            raise ScenarioError(f"{where} mix: unknown operation(s) {', '.join(bad)}; known: {', '.join(OPERATIONS)}")
        if any(not isinstance(v, int) or isinstance(v, bool) or v < 0 for v in mix.values()) or not any(mix.values()):
            raise ScenarioError(f"{where} mix: weights must be integers >= 0, at least one > 0")
        values["mix"] = {k: v for k, v in mix.items() if v}
    burst = values.pop("burst", None)
    if burst is not None:
        if len(burst) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in burst) \
                or not 1 <= burst[0] <= burst[1] <= 50:
            raise ScenarioError(f"{where} burst must be [min, max] with 1 <= min <= max <= 50, got {burst}")
        values["burst"] = tuple(burst)
    kinds = values.pop("fault_kinds", None)
    if kinds is not None:
        bad = [k for k in kinds if k not in FAULT_KINDS]
        if bad:
            raise ScenarioError(f"{where} fault_kinds: unknown kind(s) {', '.join(map(str, bad))}; "
                                f"known: {', '.join(FAULT_KINDS)}")
        values["fault_kinds"] = tuple(kinds)
    if values.get("gray", "all") not in GRAY_MODES:
        raise ScenarioError(f"{where} gray must be one of {', '.join(GRAY_MODES)}, got {values['gray']!r}")
    if not 1 <= values.get("numbers", 3) <= 50:
        raise ScenarioError(f"{where} numbers must be between 1 and 50")
    if not 2 <= values.get("parties", 5) <= 200:
        raise ScenarioError(f"{where} parties must be between 2 and 200")
    if values.get("rate", 2.0) <= 0:
        raise ScenarioError(f"{where} rate must be > 0 operations per virtual second")
    return Workload(modes=modes, **values)


def _faults(items: Any, where: str) -> tuple[dict[str, Any], ...]:
    """Validated with the provider's own rule parser, so a plan that loads here loads in the provider."""
    from simulator.faults.rules import RuleError, parse_rules

    if not isinstance(items, list):
        raise ScenarioError(f"{where} must be an array of tables")
    try:
        parse_rules(items)
    except RuleError as exc:
        raise ScenarioError(f"{where} {exc}") from exc
    return tuple(items)


def _core(table: Any, where: str) -> dict[str, Any]:
    """Validated with the core's own config parser."""
    from binding_core.config import ConfigError, parse_config

    if not isinstance(table, dict):
        raise ScenarioError(f"{where} must be a table")
    from .dialect_ops import DIALECTS

    try:
        parse_config(table, origin=where)
    except ConfigError as exc:
        raise ScenarioError(str(exc)) from exc
    dialect = table.get("provider", {}).get("dialect", "native")
    if dialect not in DIALECTS:
        raise ScenarioError(f"{where} provider.dialect must be one of {', '.join(DIALECTS)}, got {dialect!r}")
    return table


def _run_dialect(value: str | None, core: dict[str, Any], where: str) -> str:
    """`[run] dialect`: one of the harness's wires, and not another than `[core] provider.dialect` names."""
    from .dialect_ops import DIALECTS

    if value is None:
        return ""
    if value not in DIALECTS:
        raise ScenarioError(f"{where} must be one of {', '.join(DIALECTS)}, got {value!r}")
    in_core = core.get("provider", {}).get("dialect")
    if in_core is not None and in_core != value:
        raise ScenarioError(f"{where} is {value!r} but [core] provider.dialect is {in_core!r}; name the wire once")
    return value


def _provider(table: Any, where: str) -> dict[str, Any]:
    """Validated with the simulator's own config-file parser."""
    from simulator.config_file import ConfigFileError, parse_provider_config

    _known(table, _PROVIDER, where)
    try:
        parse_provider_config(table)
    except ConfigFileError as exc:
        raise ScenarioError(f"{where} {exc}") from exc
    return dict(table)


def _known(data: Any, allowed: tuple[str, ...], where: str) -> None:
    if not isinstance(data, dict):
        raise ScenarioError(f"{where} must be a table")
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ScenarioError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(allowed)}")


def _table(table: Any, spec: dict[str, type], where: str) -> dict[str, Any]:
    _known(table, tuple(spec), where)
    return {key: _typed(value, spec[key], f"{where} {key}") for key, value in table.items()}


def _typed(value: Any, kind: type, where: str) -> Any:
    if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if kind is int and isinstance(value, bool):
        raise ScenarioError(f"{where} must be an integer, got {value!r}")
    if isinstance(value, kind):
        return value
    raise ScenarioError(f"{where} must be {kind.__name__}, got {type(value).__name__} {value!r}")
