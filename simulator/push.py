"""Outbound pushes: call records and expiry notices, delivered at least once, with push faults applied.

For each ledger event every dialect says what it pushes (`push_messages`);
the native webhook (`config.webhook_url`) gets the event as native JSON unless
a dialect already produced a message for that URL. Retries back off on the
loop clock. Push faults (drop, duplicate, delay, reorder) come from the fault
engine, matched on dialect, operation "push:<kind>" and x.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from .clock import iso
from .dialects.base import PushMessage, RequestInfo
from .faults import describe_action
from .journal import Exchange, RawHeaders, scrub_body
from .ledger import LedgerEvent
from .state import ProviderState

NATIVE = "native"
DEFAULT_REORDER_HOLD = 5.0


@dataclass
class Delivery:
    """One message's life: what was sent where, how many attempts, how it ended."""

    seq: int
    dialect: str
    kind: str
    url: str
    x: str | None
    body: Any
    fault: str | None = None
    rule_id: str | None = None
    attempts: int = 0
    result: str = "pending"  # pending, delivered, failed, dropped
    last_status: int | None = None
    last_error: str | None = None
    delivered_at: float | None = None
    # Set once the first attempt ended, whatever its outcome (a reordered message waits on its successor's).
    first_attempt_done: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq, "dialect": self.dialect, "kind": self.kind, "url": self.url, "x": self.x,
            "body": self.body, "fault": self.fault, "attempts": self.attempts, "result": self.result,
            "last_status": self.last_status, "last_error": self.last_error, "delivered_at": self.delivered_at,
        }


def _scrubbed_json(body: Any) -> Any:
    return scrub_body(json.dumps(body, ensure_ascii=False).encode(), "application/json")


def _receiver(url: str) -> str:
    """Messages queue for reordering per receiver: the URL without its query (vms signs each one there)."""
    return url.split("?", 1)[0]


def native_webhook_body(event: LedgerEvent) -> dict[str, Any]:
    """The native webhook's JSON: `{"event", "at", "data"}` with the ledger's record as data."""
    return {"event": event.kind, "at": iso(event.at), "data": event.payload}


class Pusher:
    def __init__(
        self,
        state: ProviderState,
        *,
        max_attempts: int = 6,
        base_delay: float = 0.5,
        max_delay: float = 30.0,
        timeout: float = 5.0,
        history: int = 1000,
    ) -> None:
        self.state = state
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.timeout = timeout
        self._history: deque[Delivery] = deque(maxlen=history)
        self._tasks: set[asyncio.Task] = set()
        self._held: dict[str, list[tuple[Delivery, asyncio.Future]]] = {}
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._next_seq = 1
        self.counts: dict[str, int] = {}
        self.reset()
        state.ledger.subscribe(self.on_event)

    # ---- lifecycle -------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))

    async def stop(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    def reset(self) -> None:
        self.counts = {k: 0 for k in ("delivered", "failed", "retried", "dropped", "duplicated", "delayed",
                                       "reordered", "pending")}
        self._history.clear()

    async def drain(self) -> None:
        """Wait until every accepted message is delivered, failed or dropped (tests, orderly shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def deliveries(self) -> list[Delivery]:
        return list(self._history)

    def status(self) -> dict[str, Any]:
        return {**self.counts, "deliveries": [d.to_dict() for d in self._history]}

    # ---- events -> messages ---------------------------------------------

    def on_event(self, event: LedgerEvent) -> None:
        """Ledger listener (synchronous): turn the event into messages and schedule their delivery."""
        if self._session is None or self._loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not self._loop:  # the ledger was called from another thread: deliver from our loop
            self._loop.call_soon_threadsafe(self.on_event, event)
            return
        messages: list[tuple[str, PushMessage]] = []
        for dialect in self.state.dialects:
            messages += [(dialect.name, m) for m in dialect.push_messages(event)]
        url = self.state.config.webhook_url
        if url and not any(m.url == url for _, m in messages):
            messages.append((NATIVE, PushMessage(url=url, body=native_webhook_body(event), kind=event.kind)))
        for dialect_name, message in messages:
            self._dispatch(dialect_name, message, event)

    def _dispatch(self, dialect_name: str, message: PushMessage, event: LedgerEvent) -> None:
        payload = event.payload
        info = RequestInfo(dialect=dialect_name, operation=f"push:{message.kind}", x=payload.get("x"),
                           a=payload.get("a") or payload.get("caller"), b=payload.get("b"))
        chosen = self.state.faults.decide_push(info, self.state.elapsed())
        delivery = self._new_delivery(dialect_name, message, info.x)
        # A message held for reordering goes out after this one's first attempt.
        released = self._held.pop(_receiver(message.url), [])
        if chosen is None:
            self._spawn(delivery, message)
        else:
            rule_id, action = chosen
            delivery.fault, delivery.rule_id = describe_action(action), rule_id
            kind = action.kind
            if kind == "drop":
                delivery.result = "dropped"
                delivery.first_attempt_done.set()  # a message held behind this one need not wait for it
                self._count("dropped", message.kind)
                self._journal(delivery, message, self.state.ledger.clock.now(), 0.0)
            elif kind == "duplicate":
                self._spawn(delivery, message)
                for _ in range(int(action.get("copies")) - 1):
                    copy = self._new_delivery(dialect_name, message, info.x)
                    copy.fault, copy.rule_id = delivery.fault, rule_id
                    self._count("duplicated", message.kind)
                    self._spawn(copy, message)
            elif kind == "delay":
                self._count("delayed", message.kind)
                self._spawn(delivery, message, delay=float(action.get("seconds")))
            elif kind == "reorder":
                self._count("reordered", message.kind)
                gate: asyncio.Future = asyncio.get_running_loop().create_future()
                self._held.setdefault(_receiver(message.url), []).append((delivery, gate))
                hold = float(action.get("seconds", DEFAULT_REORDER_HOLD))
                self._spawn(delivery, message, gate=gate, hold=hold)
        for held, gate in released:
            if not gate.done():
                gate.set_result(delivery)

    def _new_delivery(self, dialect_name: str, message: PushMessage, x: str | None) -> Delivery:
        delivery = Delivery(seq=self._next_seq, dialect=dialect_name, kind=message.kind, url=message.url, x=x,
                            body=message.body)
        self._next_seq += 1
        self._history.append(delivery)
        return delivery

    def _spawn(self, delivery: Delivery, message: PushMessage, *, delay: float = 0.0,
               gate: asyncio.Future | None = None, hold: float = 0.0) -> None:
        self.counts["pending"] += 1
        task = asyncio.get_running_loop().create_task(self._deliver(delivery, message, delay, gate, hold))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- delivery --------------------------------------------------------

    async def _deliver(self, delivery: Delivery, message: PushMessage, delay: float,
                       gate: asyncio.Future | None, hold: float) -> None:
        at, started = self.state.ledger.clock.now(), asyncio.get_running_loop().time()
        try:
            if gate is not None:
                await self._wait_for_successor(delivery, message, gate, hold)
            await self.state.pause(delay)
            await self._attempts(delivery, message)
        finally:
            self.counts["pending"] -= 1
            delivery.first_attempt_done.set()
            self._journal(delivery, message, at, asyncio.get_running_loop().time() - started)

    def _journal(self, delivery: Delivery, message: PushMessage, at: float, latency: float) -> None:
        """Each push ends up in the journal too (direction "outbound"), its fault and final status with it."""
        journal = self.state.journal
        journal.record(Exchange(
            seq=journal.next_seq(), at=at, dialect=delivery.dialect, operation=f"push:{delivery.kind}",
            x=delivery.x, a=None, b=None, method="POST", path=message.url, query="",
            request_headers=RawHeaders(dict(message.headers)), request_body=_scrubbed_json(message.body),
            status=delivery.last_status if delivery.result != "dropped" else None, response_headers={},
            response_body={"result": delivery.result, "attempts": delivery.attempts, "error": delivery.last_error},
            fault=delivery.fault, fault_rules=[delivery.rule_id] if delivery.rule_id else [], latency=latency,
            direction="outbound",
        ))

    async def _wait_for_successor(self, delivery: Delivery, message: PushMessage, gate: asyncio.Future,
                                  hold: float) -> None:
        """Reorder: wait until the next message to the same URL made its first attempt (at most `hold` s)."""
        try:
            successor: Delivery = await asyncio.wait_for(asyncio.shield(gate), hold)
        except TimeoutError:
            held = self._held.get(_receiver(message.url), [])
            self._held[_receiver(message.url)] = [(d, g) for d, g in held if d is not delivery]
            if not self._held[_receiver(message.url)]:
                del self._held[_receiver(message.url)]
            return
        try:
            await asyncio.wait_for(successor.first_attempt_done.wait(), self.timeout * 2)
        except TimeoutError:
            pass

    async def _attempts(self, delivery: Delivery, message: PushMessage) -> None:
        body = json.dumps(message.body, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json", **dict(message.headers)}
        for attempt in range(1, self.max_attempts + 1):
            if self.state.stopping.is_set() or self._session is None:
                return
            delivery.attempts = attempt
            if await self._post_once(delivery, message.url, body, headers):
                delivery.result = "delivered"
                delivery.delivered_at = self.state.ledger.clock.now()
                self._count("delivered", message.kind)
                return
            delivery.first_attempt_done.set()
            if attempt < self.max_attempts:
                self._count("retried", message.kind)
                await self.state.pause(min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))
        delivery.result = "failed"
        self._count("failed", message.kind)

    async def _post_once(self, delivery: Delivery, url: str, body: bytes, headers: dict[str, str]) -> bool:
        assert self._session is not None
        try:
            async with self._session.post(url, data=body, headers=headers) as response:
                await response.read()
                delivery.last_status = response.status
                delivery.last_error = None if response.status < 300 else f"HTTP {response.status}"
                return 200 <= response.status < 300
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            delivery.last_status = None
            delivery.last_error = f"{type(exc).__name__}: {exc}"
            return False

    def _count(self, result: str, kind: str) -> None:
        self.counts[result] += 1
        self.state.metrics.observe_push(kind, result)
