"""The client-side history of a run: every operation the harness issued, as invoke / ok / fail / info.

`info` means the outcome is unknown (a timeout, a 5xx, a reset, a crash while
in flight): the operation may or may not have taken effect. Recording such an
outcome as `fail` is the classic history bug, so `Outcome` keeps them apart and
the linearizability checker treats `info` operations as "maybe, at any time
after the invoke".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any, Iterator

Key = tuple[str, str]  # (x, mode)


class Outcome(str, Enum):
    OK = "ok"
    FAIL = "fail"  # definitely no effect (refused, conflict, settled back)
    INFO = "info"  # unknown: may or may not have taken effect


@dataclass
class Operation:
    """One client operation on one key: `kind` is bind, unbind or read; `value` what it wrote or read."""

    op_id: int
    x: str
    mode: str  # "XB" | "AXB"
    kind: str  # "bind" | "unbind" | "read"
    value: tuple[str, ...] | None  # bind: (b,) or (a, b); read: observed (status, *numbers); unbind: None
    invoked_at: float
    completed_at: float | None = None  # None: never completed (info)
    outcome: Outcome | None = None  # None: still in flight
    detail: str = ""  # HTTP status, error code, core operation id...
    core_operation_id: str | None = None
    # When the operation really ended, even if its effect is unknown (for liveness); None: not known.
    ended_at: float | None = None

    @property
    def key(self) -> Key:
        return (self.x, self.mode)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["outcome"] = self.outcome.value if self.outcome else None
        data["value"] = list(self.value) if self.value is not None else None
        return data


@dataclass
class History:
    """Append-only record of operations, in invoke order."""

    operations: list[Operation] = field(default_factory=list)
    # Each key's register value before the first operation (a long-lived service is not fresh); default NOT_BIND.
    initial: dict[Key, tuple[str, ...]] = field(default_factory=dict)

    def invoke(self, x: str, mode: str, kind: str, value: tuple[str, ...] | None, at: float) -> Operation:
        op = Operation(op_id=len(self.operations), x=x, mode=mode, kind=kind, value=value, invoked_at=at)
        self.operations.append(op)
        return op

    @staticmethod
    def complete(op: Operation, outcome: Outcome, at: float | None, detail: str = "") -> Operation:
        op.outcome = outcome
        op.completed_at = None if outcome is Outcome.INFO else at
        if at is not None and op.ended_at is None:
            op.ended_at = at
        if detail:
            op.detail = detail
        return op

    def in_flight(self) -> list[Operation]:
        return [op for op in self.operations if op.outcome is None]

    def settle_unfinished(self, detail: str = "unfinished") -> None:
        """Whatever never completed (crash, end of run) is recorded as unknown."""
        for op in self.in_flight():
            self.complete(op, Outcome.INFO, None, detail)

    def by_key(self) -> dict[Key, list[Operation]]:
        keyed: dict[Key, list[Operation]] = {}
        for op in self.operations:
            keyed.setdefault(op.key, []).append(op)
        return keyed

    def __iter__(self) -> Iterator[Operation]:
        return iter(self.operations)

    def __len__(self) -> int:
        return len(self.operations)

    def to_list(self) -> list[dict[str, Any]]:
        return [op.to_dict() for op in self.operations]
