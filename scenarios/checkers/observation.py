"""What the checks look at: plain data gathered from the core, the provider and the harness.

Nothing here talks to a server. The world (in-process or by URL) fills an
`Observation`; a field left `None` was not observable in this run, and the
checks that need it are skipped rather than passed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..history import History

MODES = ("XB", "AXB")
STATUSES = ("NOT_BIND", "OPERATION", "BIND")


@dataclass(frozen=True)
class RetryPolicy:
    """The core's retry configuration, as the checks need it (seconds are virtual)."""

    max_attempts: int
    alert_threshold: int
    provider_timeout: float
    max_delay: float
    # Extra time an operation may legitimately take: polling granularity, breaker cool-down, restarts.
    slack: float = 0.0
    # How long after a lost call the core waits before it trusts a query (a dead operation settles after it,
    # and a sweep for a late call's strays runs after it): [provider] in_doubt_window.
    in_doubt_window: float = 0.0
    # The backoff itself ([retry] base_delay and max_delay: max_delay above may include the breaker's cool-down),
    # the circuit breaker ([provider] breaker_threshold, breaker_cooldown) and a claim's lease: the breaker and
    # retry-gap checks read them (None: not known, those checks are skipped).
    base_delay: float | None = None
    backoff_cap: float | None = None
    breaker_threshold: int | None = None
    breaker_cooldown: float = 0.0
    lease: float = 0.0

    def deadline(self) -> float:
        """The longest an accepted operation may take: every attempt times out, every backoff is maximal,
        then the dead operation waits out the in-doubt window before its settling query."""
        return self.max_attempts * (self.provider_timeout + self.max_delay) + self.in_doubt_window + self.slack

    def quiet_within(self) -> float:
        """How long the service may take to go quiet after its last request: the slowest operation, then
        the sweep it may leave behind, due one in-doubt window after it ended."""
        return self.deadline() + self.in_doubt_window


@dataclass(frozen=True)
class CallProbe:
    """A call placed through the simulator after quiescence, with the core's view at that moment."""

    caller: str
    x: str
    core_row: dict[str, Any]  # the core's GET /v1/numbers/{x} body
    outcome: str  # the provider's answer: "connected" | "rejected"
    callee: str | None
    reason: str = ""


@dataclass
class Observation:
    now: float
    # Core's polling view per X: {"x", "xb": {"status", "b", "binding_id", "version"}, "axb": {... "a" ...}}
    core_numbers: list[dict[str, Any]] | None = None
    # The provider's active bindings (ledger snapshot rows: binding_id, mode, x, a, b, status).
    provider_bindings: list[dict[str, Any]] | None = None
    # Every binding the provider ever made, deleted ones too (status "released"), with created_at / ended_at.
    provider_history: list[dict[str, Any]] | None = None
    # The core's durable operations: id, x, mode, kind, state (pending|running|done|dead), attempts, last_error.
    operations: list[dict[str, Any]] | None = None
    # Alerts raised: operation_id, x, mode, attempts, last_error.
    alerts: list[dict[str, Any]] | None = None
    # The core's transition history: x, mode, from, to, version, operation_id, at.
    transitions: list[dict[str, Any]] | None = None
    # The core's legal-move table: {(from, to), ...}.
    legal_transitions: set[tuple[str, str]] | None = None
    policy: RetryPolicy | None = None
    history: History | None = None
    calls: list[CallProbe] | None = None
    # The virtual numbers the harness drives; orphans are looked for among them.
    managed_xs: set[str] = field(default_factory=set)
    # Operations the world gave up waiting for (x, mode, since): the liveness evidence.
    unsettled: list[dict[str, Any]] = field(default_factory=list)
    # Virtual seconds the core was down (crash to restart); added to liveness deadlines.
    downtime: float = 0.0
    # What the harness's recording alert sink took (scenarios/alert_sink.py): {at (loop time), operation_id,
    # alert_id, x, mode} per delivery; None: no recording sink in this run (`unavailable` says why).
    alert_deliveries: list[dict[str, Any]] | None = None
    # True when the harness itself pointed the service's alert webhook at the recording sink (in-process).
    alert_sink_wired: bool = False
    # Loop times at which the core was killed (each followed by a restart on the same database).
    crash_times: list[float] = field(default_factory=list)
    # The gray configuration the harness set, oldest first: {at (loop time; None: from the start), enabled, all,
    # numbers, begun, applied: the Driver.tick() order of setting it}. None: the harness never set it and does not
    # know the service's own.
    gray_timeline: list[dict[str, Any]] | None = None
    # The harness's bind/unbind requests: {operation_id, x, mode, kind, sent_at, answered_at (loop times), sent,
    # answered (Driver.tick() order)}.
    requests: list[dict[str, Any]] = field(default_factory=list)
    # The core's creates and deletes in the provider's journal: {at, end (loop times), operation, key
    # (Idempotency-Key), status}. None: the journal cannot attribute them to operations (`unavailable`).
    write_calls: list[dict[str, Any]] | None = None
    # Why a field above is None (not offered by the service's adapter, or could not be read), by field name:
    # the skipped checks carry it as their reason.
    unavailable: dict[str, str] = field(default_factory=dict)
    # Every call of the core as the provider's journal saw it, lookups too (checkers/wire.py: core_calls), loop
    # times. None: the journal could not be read (`unavailable`).
    wire_calls: list[dict[str, Any]] | None = None
    # When (loop time) the core refused calls unsent because its circuit breaker was open; None: not observable.
    breaker_refusals: list[float] | None = None
    # Each call the core's breaker admitted: (start, end, failed), loop times, in the order the breaker was told;
    # None: not observable. Transport failures and calls still held by the provider are here, not in the journal.
    breaker_calls: list[tuple[float, float, bool]] | None = None
    # The core's clock minus the loop's (its operations' and transitions' times); None when the two are not tied
    # together (a service by URL): the checks that compare them are skipped.
    core_epoch: float | None = None
    # (loop time the core was killed, seconds it stayed down) of each crash.
    crashes: list[tuple[float, float]] = field(default_factory=list)
    # The wire the core spoke (on a vendor's wire one core call may be several requests).
    dialect: str = "native"
    # The HTTP statuses the service's contract allows for a bind or unbind (the adapter's `answer_statuses`);
    # None: the adapter does not state them.
    answer_statuses: frozenset[int] | None = None
    # The service's GET /health at the start of the example and after quiescence: {at ("start" | "end"), status
    # (HTTP; None: no answer), body}; None: not read (`unavailable` says why).
    health: list[dict[str, Any]] | None = None
