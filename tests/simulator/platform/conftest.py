"""A toy dialect (test-only) that proves the platform is dialect-agnostic, and helpers for the platform tests."""

from __future__ import annotations

import json
from typing import Any, AsyncIterator

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web

from simulator.dialects.base import Dialect, PushMessage, RequestInfo
from simulator.errors import LedgerError
from simulator.ledger import LedgerEvent
from simulator.server import Provider
from simulator.testing import provider_config


class ToyDialect(Dialect):
    """`POST /toy/bind {"x"?, "b"}` makes an XB binding; `GET /toy/bindings?x=` lists them as queried;
    `POST /toy/call {"caller", "x"}` places a call. Calls are pushed to `config.webhook_url` + "/toy"."""

    name = "toy"

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/toy/bind", self.bind)
        app.router.add_get("/toy/bindings", self.list_bindings)
        app.router.add_post("/toy/call", self.call)

    async def describe(self, request: web.Request) -> RequestInfo | None:
        if not request.path.startswith("/toy/"):
            return None
        body: dict[str, Any] = {}
        if request.can_read_body:
            try:
                body = json.loads(await request.read())
            except ValueError:
                return RequestInfo(self.name, "invalid")
        operation = {"/toy/bind": "bind", "/toy/bindings": "list", "/toy/call": "call"}.get(request.path, "invalid")
        x = body.get("x") if isinstance(body, dict) else None
        return RequestInfo(self.name, operation, x=x or request.query.get("x"), b=body.get("b"))

    async def bind(self, request: web.Request) -> web.Response:
        body = await request.json()
        try:
            binding = self.ledger.create_binding("XB", x=body.get("x"), b=body.get("b"))
        except LedgerError as exc:
            return web.json_response({"code": exc.code, "message": exc.message}, status=exc.status)
        return web.json_response({"binding_id": binding.binding_id, "x": binding.x, "b": binding.b}, status=201)

    async def list_bindings(self, request: web.Request) -> web.Response:
        found = self.ledger.bindings(x=request.query.get("x"), as_queried=True)
        return web.json_response({"bindings": [b.binding_id for b in found]})

    async def call(self, request: web.Request) -> web.Response:
        body = await request.json()
        record = self.ledger.place_call(body["caller"], body["x"])
        return web.json_response({"call_id": record.call_id, "outcome": record.outcome})

    def fault_response(self, status: int, info: RequestInfo, retry_after: float | None = None) -> web.Response:
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
        return web.json_response({"toy_error": status}, status=status, headers=headers)

    def push_messages(self, event: LedgerEvent) -> list[PushMessage]:
        if event.kind != "call" or not self.config.webhook_url:
            return []
        return [PushMessage(url=self.config.webhook_url + "/toy", body={"call": event.payload["call_id"]}, kind="call")]


@pytest.fixture
def toy_config():
    return provider_config(seed=0)


@pytest_asyncio.fixture
async def toy(toy_config) -> AsyncIterator:
    """Start a provider that speaks only the toy dialect: `provider = await toy(**config_overrides)`.

    Started inside the test, not in a fixture: looptime switches the loop to virtual time only when the
    test body starts, so a provider started earlier would anchor its clock in real time."""
    started: list[Provider] = []

    async def start(**overrides: Any) -> Provider:
        provider = Provider(toy_config, dialects=[ToyDialect], **overrides)
        await provider.start()
        started.append(provider)
        return provider

    yield start
    for provider in started:
        await provider.stop()


@pytest_asyncio.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def numbers(provider: Provider, count: int) -> list[str]:
    """The first `count` virtual numbers of the seeded pool."""
    return [n.x for n in provider.ledger.numbers()][:count]


async def add_rule(session: aiohttp.ClientSession, provider: Provider, rule: dict) -> dict:
    async with session.post(f"{provider.admin_url}/faults", json=rule) as response:
        assert response.status == 201, await response.text()
        return await response.json()
