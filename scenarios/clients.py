"""HTTP clients the harness uses in both modes: the system under test (the core's API contract) and the provider.

Only the documented HTTP surface is used here (docs/harness.md lists it), so a
team's own binding service in any language can be checked by URL. Answers are
turned into plain `Answer` values; transport errors and timeouts are answers
too (status None), never exceptions, because for the history they are data.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import aiohttp

# Long enough for the old synchronous path (one provider call) under any injected latency; virtual in-process.
REQUEST_TIMEOUT = 60.0


@dataclass(frozen=True)
class Answer:
    status: int | None  # None: no HTTP answer (timeout, reset, refused)
    body: Any = None
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def describe(self) -> str:
        if self.status is None:
            return self.error or "no answer"
        code = self.body.get("code") if isinstance(self.body, dict) else None
        return f"{self.status} {code}" if code else str(self.status)


async def _request(session: aiohttp.ClientSession, method: str, url: str, **kwargs: Any) -> Answer:
    try:
        async with session.request(method, url, timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT), **kwargs) as r:
            text = await r.text()
            try:
                body = json.loads(text) if text else None
            except ValueError:
                body = text
            return Answer(r.status, body)
    except asyncio.TimeoutError:
        return Answer(None, error="timeout")
    except aiohttp.ClientError as exc:
        return Answer(None, error=f"{type(exc).__name__}: {exc}")


class CoreClient:
    """The binding service's API: bind/unbind per mode, the polling view, operations, alerts."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/")

    async def bind(self, x: str, mode: str, a: str | None, b: str) -> Answer:
        body = {"b": b} if mode == "XB" else {"a": a, "b": b}
        return await _request(self.session, "POST", f"{self.base_url}/v1/numbers/{x}/{mode.lower()}", json=body)

    async def unbind(self, x: str, mode: str) -> Answer:
        return await _request(self.session, "DELETE", f"{self.base_url}/v1/numbers/{x}/{mode.lower()}")

    async def view(self, x: str) -> Answer:
        return await _request(self.session, "GET", f"{self.base_url}/v1/numbers/{x}")

    async def operations(self, state: str | None = None) -> Answer:
        params = {"state": state} if state else None
        return await _request(self.session, "GET", f"{self.base_url}/v1/operations", params=params)

    async def alerts(self) -> Answer:
        return await _request(self.session, "GET", f"{self.base_url}/v1/alerts")

    async def transitions(self) -> Answer:
        return await _request(self.session, "GET", f"{self.base_url}/v1/transitions")

    async def set_gray(self, all_numbers: bool, numbers: list[str]) -> Answer:
        return await _request(self.session, "PUT", f"{self.base_url}/_admin/gray",
                              json={"all": all_numbers, "numbers": numbers})

    async def health(self) -> Answer:
        return await _request(self.session, "GET", f"{self.base_url}/health")


class ProviderClient:
    """The simulator: its admin API (faults, ledger) and the native call API."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/")

    async def replace_faults(self, rules: list[dict[str, Any]]) -> Answer:
        return await _request(self.session, "PUT", f"{self.base_url}/_admin/faults", json=rules)

    async def add_fault(self, rule: dict[str, Any]) -> Answer:
        return await _request(self.session, "POST", f"{self.base_url}/_admin/faults", json=rule)

    async def remove_fault(self, rule_id: str) -> Answer:
        return await _request(self.session, "DELETE", f"{self.base_url}/_admin/faults/{rule_id}")

    async def ledger(self, *, released: bool = False) -> Answer:
        """The provider's ground truth; `released` adds deleted bindings (each binding's whole life)."""
        params = {"released": "true"} if released else None
        return await _request(self.session, "GET", f"{self.base_url}/_admin/ledger", params=params)

    async def journal(self, **params: Any) -> Answer:
        return await _request(self.session, "GET", f"{self.base_url}/_admin/journal", params=params)

    async def numbers(self) -> Answer:
        return await _request(self.session, "GET", f"{self.base_url}/v1/numbers")

    async def expire_soon(self, binding_id: str, seconds: int) -> Answer:
        return await _request(self.session, "PATCH", f"{self.base_url}/v1/bindings/{binding_id}",
                              json={"expires_in": seconds})

    async def place_call(self, caller: str, x: str) -> Answer:
        return await _request(self.session, "POST", f"{self.base_url}/v1/calls", json={"caller": caller, "x": x})


def items(body: Any, *keys: str) -> list[dict[str, Any]]:
    """A list out of an answer body: the body itself, or the first of `keys` that holds a list."""
    if isinstance(body, list):
        return body
    if isinstance(body, dict):
        for key in keys:
            if isinstance(body.get(key), list):
                return body[key]
    return []
