"""Alert sinks: where an operation's one alert goes (log, webhook POST JSON, an in-memory list).

The alert itself is a row written in the same transaction that counted the
attempt (store.reschedule), so it exists exactly once; sinks are told after the
commit, and undelivered rows are re-sent at start-up (at least once to sinks).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

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
    async def send(self, alert: dict[str, Any]) -> None: ...

    async def close(self) -> None: ...


class LogSink:
    async def send(self, alert: dict[str, Any]) -> None:
        log.warning(
            "ALERT operation %s on %s %s failed %s attempts: %s",
            alert["operation_id"], alert["x"], alert["mode"], alert["attempts"], alert["last_error"],
        )

    async def close(self) -> None:
        pass


class MemorySink:
    """Keeps alerts in a list (tests, embedding)."""

    def __init__(self) -> None:
        self.alerts: list[dict[str, Any]] = []

    async def send(self, alert: dict[str, Any]) -> None:
        self.alerts.append(alert)

    async def close(self) -> None:
        pass


class WebhookSink:
    """POSTs the alert as JSON; a failure is logged, not retried (the row stays in GET /v1/alerts)."""

    def __init__(self, url: str, timeout: float) -> None:
        self.url = url
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def send(self, alert: dict[str, Any]) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        try:
            async with self._session.post(self.url, json=alert) as response:
                if response.status >= 300:
                    log.error("alert webhook %s answered HTTP %s", self.url, response.status)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            log.error("alert webhook %s failed: %s", self.url, exc)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


async def deliver(sinks: list[AlertSink], alert: dict[str, Any]) -> None:
    for sink in sinks:
        await sink.send(alert)
