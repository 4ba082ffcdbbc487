"""The provider's aiohttp application: one ledger, every dialect's routes, the shared vendor endpoint `/`."""

from __future__ import annotations

from aiohttp import web

from .clock import Clock
from .config import ProviderConfig
from .dialects.base import Dialect
from .ledger import Ledger

LEDGER = web.AppKey("ledger", Ledger)
CONFIG = web.AppKey("config", ProviderConfig)
DIALECTS = web.AppKey("dialects", list)

# Each dialect module adds its class here.
DIALECT_CLASSES: list[type[Dialect]] = []


def create_app(config: ProviderConfig | None = None, *, clock: Clock | None = None) -> web.Application:
    config = config or ProviderConfig()
    ledger = Ledger(clock or Clock(epoch=config.epoch), config.pool)
    app = web.Application(client_max_size=config.max_body_bytes)
    app[CONFIG] = config
    app[LEDGER] = ledger
    app[DIALECTS] = [cls(ledger, config) for cls in DIALECT_CLASSES]
    for dialect in app[DIALECTS]:
        dialect.add_routes(app)
    app.router.add_route("*", "/", _vendor_endpoint)
    return app


async def _vendor_endpoint(request: web.Request) -> web.StreamResponse:
    """Aliyun and Tencent share `/`; the first dialect that recognises the request serves it."""
    for dialect in request.app[DIALECTS]:
        if await dialect.describe(request) is not None:
            return await dialect.handle(request)
    raise web.HTTPBadRequest(
        text='{"code": "UNKNOWN_DIALECT", "message": "no dialect recognises this request (no x-acs-action / X-TC-Action / Action)"}',
        content_type="application/json",
    )
