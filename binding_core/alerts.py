"""Alert sinks: where an operation's one alert goes (log, webhook POST JSON, an in-memory list).

The alert itself is a row written in the same transaction that counted the
attempt (store.reschedule), so it exists exactly once; sinks are told after the
commit. A sink that fails (a webhook down) is tried again, alone, with backoff
while the process runs (AlertOutbox); rows still undelivered at start-up go to
every sink again (at least once to sinks).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Callable, Protocol

import aiohttp

log = logging.getLogger("binding_core.alerts")


def alert_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "alert_id": row["seq"],
        "operation_id": row["operation_id"],
        "x": row["x"],
        "mode": row["mode"],
        "attempts": row["attempts"],
        "last_error": row["last_error"],
        "at": row["at"],
    }


class AlertSink(Protocol):
    async def send(self, alert: dict[str, Any]) -> bool:
        """True when the alert was handed over; False to be tried again later."""
        ...

    async def close(self) -> None: ...


class LogSink:
    async def send(self, alert: dict[str, Any]) -> bool:
        log.warning(
            "ALERT operation %s on %s %s failed %s attempts: %s",
            alert["operation_id"], alert["x"], alert["mode"], alert["attempts"], alert["last_error"],
        )
        return True

    async def close(self) -> None:
        pass


class MemorySink:
    """Keeps alerts in a list (tests, embedding)."""

    def __init__(self) -> None:
        self.alerts: list[dict[str, Any]] = []

    async def send(self, alert: dict[str, Any]) -> bool:
        self.alerts.append(alert)
        return True

    async def close(self) -> None:
        pass


class WebhookSink:
    """POSTs the alert as JSON; anything but a 2xx answer is a failure the outbox retries."""

    def __init__(self, url: str, timeout: float) -> None:
        self.url = url
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def send(self, alert: dict[str, Any]) -> bool:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        try:
            async with self._session.post(self.url, json=alert) as response:
                if 200 <= response.status < 300:
                    return True
                log.error("alert webhook %s answered HTTP %s for alert %s", self.url, response.status, alert["alert_id"])
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            log.error("alert webhook %s failed for alert %s: %s", self.url, alert["alert_id"], exc)
        return False

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


@dataclass
class _Undelivered:
    alert: dict[str, Any]
    sinks: list[AlertSink]  # the ones that have not taken it yet
    tries: int
    next_at: float  # loop time


class AlertOutbox:
    """Hands each alert to every sink; retries the sinks that failed, alone, until they take it.

    `delivered(seq)` is called once every sink has the alert (the worker marks the row then). Backoff
    doubles from `first_retry` up to `max_retry` seconds of loop time; nothing is ever dropped.
    """

    def __init__(self, sinks: list[AlertSink], delivered: Callable[[int], None], *,
                 first_retry: float = 1.0, max_retry: float = 60.0) -> None:
        self.sinks = sinks
        self.delivered = delivered
        self.first_retry = first_retry
        self.max_retry = max_retry
        self._waiting: dict[int, _Undelivered] = {}

    async def post(self, alert: dict[str, Any]) -> None:
        await self._send(_Undelivered(alert, list(self.sinks), 0, 0.0))

    async def retry_due(self) -> None:
        now = asyncio.get_running_loop().time()
        for entry in [e for e in self._waiting.values() if e.next_at <= now]:
            await self._send(entry)

    def next_retry_at(self) -> float | None:
        """Loop time of the earliest retry, or None when every alert is delivered."""
        return min((e.next_at for e in self._waiting.values()), default=None)

    async def _send(self, entry: _Undelivered) -> None:
        failed = [sink for sink in entry.sinks if not await sink.send(entry.alert)]
        seq = int(entry.alert["alert_id"])
        if not failed:
            self._waiting.pop(seq, None)
            self.delivered(seq)
            return
        delay = min(self.max_retry, self.first_retry * 2 ** entry.tries)
        self._waiting[seq] = _Undelivered(entry.alert, failed, entry.tries + 1,
                                          asyncio.get_running_loop().time() + delay)
