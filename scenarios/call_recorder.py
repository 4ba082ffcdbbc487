"""The core's create and delete calls as they leave it, for the attempts check on a wire without idempotency keys.

On the native wire the provider's journal tells one operation's calls from
another's by their Idempotency-Key. A vendor's wire carries no such key, so an
in-process world wraps the core's provider client (inside its circuit breaker,
so only calls that go out are seen) and records each create and delete with
the key the core derived from the operation id. The core's attempt counter is
not consulted: a core that resets it on restart still makes the calls.
"""

from __future__ import annotations

import asyncio
from typing import Any

from binding_core.provider.base import AuthFailed, Ok, Refused


class RecordingClient:
    """A provider client that passes every call through and keeps a row per create or delete:
    {at, end (loop times), operation, key, status (None: no answer known), x, source: "client"}."""

    def __init__(self, inner: Any, calls: list[dict[str, Any]]) -> None:
        self.inner = inner
        self.calls = calls  # shared by every core of the example (restarts included)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def create_binding(self, mode: str, x: str, b: str, a: str | None = None, *, idempotency_key: str) -> Any:
        return await self._recorded("create_binding", x, idempotency_key,
                                    self.inner.create_binding(mode, x, b, a, idempotency_key=idempotency_key))

    async def delete_binding(self, binding_id: str, *, idempotency_key: str) -> Any:
        return await self._recorded("delete_binding", None, idempotency_key,
                                    self.inner.delete_binding(binding_id, idempotency_key=idempotency_key))

    async def _recorded(self, operation: str, x: str | None, key: str, call: Any) -> Any:
        loop = asyncio.get_running_loop()
        row: dict[str, Any] = {"at": loop.time(), "end": None, "operation": operation, "key": key, "status": None,
                               "x": x, "source": "client"}
        self.calls.append(row)
        try:
            outcome = await call
        finally:
            row["end"] = loop.time()  # a crash (cancellation) ends it too: the call was cut off then
        if isinstance(outcome, Ok):
            row["status"] = 200
        elif isinstance(outcome, Refused):
            row["status"] = outcome.status
        elif isinstance(outcome, AuthFailed):
            row["status"] = 401  # not an attempt: the core retries these without using one up
        return outcome
