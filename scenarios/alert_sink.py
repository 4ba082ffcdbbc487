"""The harness's own alert sink: a webhook endpoint on loopback that records every delivery it takes.

The checks compare what reached this sink with the alerts the service says it
raised (scenarios/checkers/deliveries.py): the service's own alert rows can be
right while its sinks are told twice. In-process the world starts one per
example and configures the core's `[alerts] webhook_url` to it; against a
service by URL it runs on a fixed port the team points its service's webhook at
(docs/harness.md, "Alert deliveries").
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

from aiohttp import web

PATH = "/alerts"
# A service by URL: the port the recording sink listens on (the adapter's `alert_sink_port` wins).
PORT_ENV = "PSTNSIM_ALERT_SINK_PORT"


class AlertRecorder:
    """POST {PATH} takes one alert as JSON and answers 200; each delivery is kept with its arrival time
    (the loop's clock, the run's virtual time in-process). A body that is not a JSON object is answered
    400 and kept too, marked malformed: a broken delivery is evidence, not noise."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.deliveries: list[dict[str, Any]] = []
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}{PATH}"

    async def start(self) -> "AlertRecorder":
        app = web.Application()
        app.router.add_post(PATH, self._take)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server  # the bound port when 0 was asked for
        if server is not None and server.sockets:  # type: ignore[union-attr]
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _take(self, request: web.Request) -> web.Response:
        at = asyncio.get_running_loop().time()
        raw = await request.read()
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            self.deliveries.append({"at": at, "malformed": raw[:500].decode("utf-8", "replace")})
            return web.json_response({"error": "the alert is not a JSON object"}, status=400)
        self.deliveries.append({"at": at, "operation_id": _text(body.get("operation_id")),
                                "alert_id": _text(body.get("alert_id")), "x": _text(body.get("x")),
                                "mode": _text(body.get("mode")), "body": body})
        return web.json_response({"ok": True})


def configured_port(adapter: Any) -> int | None:
    """The port a run against a service by URL records alerts on: the adapter's `alert_sink_port`, else
    ${PORT_ENV}; None: no recording sink (the delivery check is skipped, saying so)."""
    port = getattr(adapter, "alert_sink_port", None)
    if port is None and os.environ.get(PORT_ENV):
        try:
            port = int(os.environ[PORT_ENV])
        except ValueError:
            raise ValueError(f"{PORT_ENV}={os.environ[PORT_ENV]!r} is not a port number") from None
    return int(port) if port is not None else None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
