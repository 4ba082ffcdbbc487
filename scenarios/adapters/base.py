"""What the harness needs from a binding service, in the harness's own terms: the adapter contract.

A team maps its service's API onto `ServiceAdapter` in a few dozen lines
(docs/harness.md, "Adapters"; a worked example in examples/sut/). Three methods
are the minimal contract: `bind`, `unbind` and `status`. The others are
optional: a check whose data no method offers is reported skipped with the
reason, never passed. Everything an adapter returns is plain data, so the
checks stay pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..clients import Answer, Http

MODES = ("XB", "AXB")
STATUSES = ("NOT_BIND", "OPERATION", "BIND")

# What a bind or unbind answer means for the client history (scenarios/history.py).
ACCEPTED = "accepted"  # queued work with an id; its end is read from operations() (unknown without it)
DONE = "done"          # it took effect before the answer (a synchronous service)
REFUSED = "refused"    # it certainly had no effect (a conflict, a bad request, nothing to unbind)
UNKNOWN = "unknown"    # no answer, a timeout or a 5xx: it may or may not take effect
OUTCOMES = (ACCEPTED, DONE, REFUSED, UNKNOWN)

# The optional methods, and which checks go without them (docs/harness.md lists the same).
OPTIONAL = ("operations", "transitions", "alerts", "set_gray", "reset")


@dataclass(frozen=True)
class Reply:
    """The meaning of one bind or unbind answer."""

    outcome: str
    operation_id: str | None = None
    detail: str = ""  # shown in the history: an HTTP status, an error code
    # The HTTP status of the answer (None: no answer, or an adapter that does not say): `answers_in_contract`
    # compares it with the adapter's `answer_statuses`.
    status: int | None = None

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"Reply.outcome must be one of {', '.join(OUTCOMES)}, got {self.outcome!r}")

    @classmethod
    def from_answer(cls, answer: Answer, operation_id: str | None = None) -> "Reply":
        """The usual HTTP reading: 2xx -> accepted when it names an operation, else done; 4xx -> refused;
        no answer or 5xx -> unknown. With operations() offered, a reply's operation id (even on an error) is
        followed there instead: the operation's own record says how it ended."""
        detail, status = answer.describe(), answer.status
        if answer.status is None or answer.status >= 500:
            return cls(UNKNOWN, operation_id, detail, status)
        if answer.status >= 400:
            return cls(REFUSED, operation_id, detail, status)
        return cls(ACCEPTED if operation_id else DONE, operation_id, detail, status)


@dataclass(frozen=True)
class ModeStatus:
    """One mode of one virtual number as the service sees it. `binding_id` (the provider's id) and `version`
    are optional: without ids, provider bindings are matched by their numbers; without versions, the version
    chain is not compared with the status rows."""

    status: str = "NOT_BIND"
    a: str | None = None
    b: str | None = None
    binding_id: str | None = None
    version: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "a": self.a, "b": self.b, "binding_id": self.binding_id,
                "version": self.version}


@dataclass(frozen=True)
class NumberStatus:
    """What the service says about a virtual number X, per mode; a mode it holds nothing for is NOT_BIND."""

    xb: ModeStatus = ModeStatus()
    axb: ModeStatus = ModeStatus()

    def to_view(self, x: str) -> dict[str, Any]:
        """The row the checks read (the bundled core's `GET /v1/numbers/{x}` shape)."""
        return {"x": x, "xb": self.xb.to_dict(), "axb": self.axb.to_dict()}


class AdapterError(Exception):
    """The adapter returned something the harness cannot read: a harness error that names the adapter."""


class ServiceAdapter:
    """Subclass it for your service. `self.http` talks to the service's base URL (`await self.http.get(...)`
    gives an `Answer`: status, parsed JSON body, error); `self.base_url` is `--sut`.

    Required: `bind`, `unbind`, `status`. Optional (leave them out if your service has no such data):
    `operations`, `transitions`, `alerts`, `set_gray`, `reset`; `health` has a default.
    """

    # The HTTP statuses the service's API may answer a bind or unbind with (its contract); None: not stated, and
    # `answers_in_contract` is skipped. A status outside it is a violation, not an unknown outcome.
    answer_statuses: frozenset[int] | None = None

    def __init__(self, base_url: str, http: Http) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = http

    # ---- the minimal contract ------------------------------------------------

    async def bind(self, x: str, mode: str, a: str | None, b: str) -> Reply:
        """Bind X to B (mode "XB", a is None) or to A and B (mode "AXB")."""
        raise NotImplementedError

    async def unbind(self, x: str, mode: str) -> Reply:
        """Remove X's binding of this mode."""
        raise NotImplementedError

    async def status(self, x: str) -> NumberStatus | None:
        """What the service holds for X now; None when it could not be read (counted, not fatal)."""
        raise NotImplementedError

    # ---- optional: richer data (each enables more checks) ---------------------

    async def operations(self) -> list[dict[str, Any]] | None:
        """Every operation the service ran: rows {operation_id, x, mode, kind, state: pending|running|done|dead,
        attempts, outcome: bound|unbound|refused|settled, a, b, binding_id, created_at, finished_at}
        (epoch seconds). None: the read failed."""
        raise NotImplementedError

    async def transitions(self) -> list[dict[str, Any]] | None:
        """Every status change, oldest first: {x, mode, from_status, to_status, version, operation_id, at}."""
        raise NotImplementedError

    async def alerts(self) -> list[dict[str, Any]] | None:
        """Every alert raised: {operation_id, x, mode, attempts, at}."""
        raise NotImplementedError

    async def set_gray(self, all_numbers: bool, numbers: list[str]) -> bool:
        """Route these numbers (or all) to the new path (`gray = "switch"` scenarios); True when applied."""
        raise NotImplementedError

    async def reset(self) -> None:
        """Forget every binding and operation (a test hook). With it, each example starts from an empty service
        and a reset provider, on the same numbers; without it, each example takes numbers nothing holds."""
        raise NotImplementedError

    async def health(self) -> str | None:
        """None when the service answers at all; else why not (the run stops with exit 2)."""
        answer = await self.http.get("/health")
        return None if answer.status is not None else answer.error or "no answer"


def offers(adapter: ServiceAdapter, method: str) -> bool:
    """Whether the adapter implements an optional method (overrides the base class's)."""
    return getattr(type(adapter), method, None) is not getattr(ServiceAdapter, method)


def missing_required(adapter_class: type) -> list[str]:
    return [m for m in ("bind", "unbind", "status")
            if getattr(adapter_class, m, None) is getattr(ServiceAdapter, m)]
