"""HTTP plumbing the harness uses in both modes: `Http` (what an adapter talks through) and the provider's client.

A binding service is reached only through its adapter (scenarios/adapters/), so a
team's own service in any language can be checked by URL. Answers are plain
`Answer` values; transport errors and timeouts are answers too (status None),
never exceptions, because for the history they are data.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import aiohttp

# Long enough for the old synchronous path (one provider call) under any injected latency; virtual in-process.
REQUEST_TIMEOUT = 60.0
# Pages followed at most when a list answers with a `next` cursor (1000 rows a page on the bundled servers).
MAX_PAGES = 1000


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


def request_kwargs(json: Any, params: dict[str, Any] | None, headers: dict[str, str] | None) -> dict[str, Any]:
    """aiohttp's keyword arguments for a request: only what was given; parameters without a value left out."""
    kwargs: dict[str, Any] = {}
    if json is not None:
        kwargs["json"] = json
    if params:
        kwargs["params"] = {k: str(v) for k, v in params.items() if v is not None}
    if headers:
        kwargs["headers"] = headers
    return kwargs


class Http:
    """A service's base URL and the run's session: `await http.get("/path", params=...)` gives an `Answer`."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/")

    def url(self, path: str) -> str:
        return path if "://" in path else f"{self.base_url}/{path.lstrip('/')}"

    async def request(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None,
                      headers: dict[str, str] | None = None) -> Answer:
        return await _request(self.session, method, self.url(path), **request_kwargs(json, params, headers))

    async def get(self, path: str, **kwargs: Any) -> Answer:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> Answer:
        return await self.request("POST", path, **kwargs)

    async def put(self, path: str, **kwargs: Any) -> Answer:
        return await self.request("PUT", path, **kwargs)

    async def patch(self, path: str, **kwargs: Any) -> Answer:
        return await self.request("PATCH", path, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> Answer:
        return await self.request("DELETE", path, **kwargs)

    async def pages(self, path: str, key: str, params: dict[str, Any] | None = None) -> Answer:
        """Every row of a paged list (`{key: [...], "next": cursor}`, cursor sent back as `after`), as one answer
        whose body is `{key: rows}`; the first failing page's answer otherwise."""
        rows: list[Any] = []
        query = dict(params or {})
        for _ in range(MAX_PAGES):
            answer = await self.get(path, params=query)
            if not answer.ok:
                return answer
            rows.extend(items(answer.body, key))
            cursor = answer.body.get("next") if isinstance(answer.body, dict) else None
            if cursor in (None, ""):
                break
            query["after"] = cursor
        return Answer(200, {key: rows})


class ProviderClient:
    """The simulator: its admin API (faults, ledger, reset) and the native call API."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/")
        self.http = Http(session, self.base_url)

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

    async def reset(self) -> Answer:
        """Back to the seeded ledger (and its own fault rules: the harness installs its plan right after)."""
        return await _request(self.session, "POST", f"{self.base_url}/_admin/reset")

    async def journal(self, **params: Any) -> Answer:
        return await _request(self.session, "GET", f"{self.base_url}/_admin/journal", params=params)

    async def numbers(self) -> Answer:
        """Every virtual number of the provider's pool (all pages)."""
        return await self.http.pages("/v1/numbers", "numbers")

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
