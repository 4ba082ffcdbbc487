"""What the ledger holds: bindings, call records and the events it tells the outside world. Plain data."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Mode = Literal["XB", "AXB", "AXN"]
MODES: tuple[str, ...] = ("XB", "AXB", "AXN")
BindingStatus = Literal["active", "expired", "released"]
SINGLE_MODES = frozenset({"XB", "AXN"})  # at most one of these per X
PARTY_MODES = frozenset({"AXB", "AXN"})  # these may not share a party on one X


@dataclass
class Binding:
    binding_id: str
    mode: str
    x: str
    a: str | None
    b: str | None
    pool_key: str
    created_at: float
    expires_at: float | None
    status: str = "active"
    ended_at: float | None = None
    # Free-form data a dialect keeps with the binding (OutId, UserData, callback URLs...).
    extra: dict[str, Any] = field(default_factory=dict)

    def numbers(self) -> set[str]:
        return {n for n in (self.a, self.b) if n}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class CallRecord:
    call_id: str
    caller: str
    x: str
    outcome: str  # "connected" | "rejected"
    callee: str | None
    shown_caller: str | None
    reason: str  # "AXB_A_TO_B", "AXB_B_TO_A", "AXN_...", "XB", or why it was rejected
    binding_id: str | None
    mode: str | None
    started_at: float
    duration: float
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class LedgerEvent:
    """What the provider tells the outside world: `kind` is "call" or "binding_expired"."""

    kind: str
    at: float
    payload: dict[str, Any]
