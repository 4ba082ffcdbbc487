"""The broker's wire format and routing: what a message says, and which queue delays it until it is due.

Pure: no connection, no clock of its own. A message names an operation and the epoch time it is due;
the consumer's claim decides what (if anything) to do with it, so a message may be stale or doubled.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

KINDS = ("run", "dead")
# The delay tiers (milliseconds): a message waits in NS.delay.<ms> (its TTL), then goes to NS.work.
DELAY_TIERS_MS = (250, 1000, 4000, 15000, 60000)
# A message due within this many seconds (the shortest tier) is sent straight to the work queue, where the
# consumer holds it until due: the shortest delay queue would bring it back up to 200 ms late.
DIRECT_WITHIN = DELAY_TIERS_MS[0] / 1000.0
WORK_KEY = "work"
CONTENT_TYPE = "application/json"


class MalformedMessage(ValueError):
    """A body that is not {"op": str, "at": number, "kind": "run"|"dead"}; it is dead-lettered, never retried."""


@dataclass(frozen=True)
class WorkMessage:
    op: str
    at: float  # epoch seconds the message is due
    kind: str = "run"
    # How many times the broker delivered the message this one replaces (a dead letter's count), if known.
    deliveries: int | None = None

    def encode(self) -> bytes:
        body: dict[str, Any] = {"op": self.op, "at": self.at, "kind": self.kind}
        if self.deliveries is not None:
            body["deliveries"] = self.deliveries
        return json.dumps(body, separators=(",", ":")).encode()


def decode(body: bytes) -> WorkMessage:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedMessage(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise MalformedMessage("not a JSON object")
    op, at, kind = data.get("op"), data.get("at"), data.get("kind", "run")
    if not isinstance(op, str) or not op:
        raise MalformedMessage("'op' must be a non-empty string")
    if isinstance(at, bool) or not isinstance(at, (int, float)):
        raise MalformedMessage("'at' must be a number (epoch seconds)")
    if kind not in KINDS:
        raise MalformedMessage(f"'kind' must be one of {', '.join(KINDS)}")
    deliveries = data.get("deliveries")
    if deliveries is not None and (isinstance(deliveries, bool) or not isinstance(deliveries, int)):
        raise MalformedMessage("'deliveries' must be an integer")
    return WorkMessage(op, float(at), kind, deliveries)


def routing_key(at: float, now: float) -> str:
    """Where to publish a message due at `at`: the work queue when due within the shortest tier, else the
    largest delay tier that does not overshoot the wait. A message that comes out of a tier early is delayed
    again for the remainder by the consumer (or held, when the remainder is short)."""
    wait_ms = (at - now) * 1000.0
    if wait_ms <= DIRECT_WITHIN * 1000.0:
        return WORK_KEY
    return delay_key(max(ms for ms in DELAY_TIERS_MS if ms <= wait_ms))


def delay_key(ms: int) -> str:
    return f"delay.{ms}"
