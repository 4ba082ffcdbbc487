"""The contract between a wire dialect and the rest of the provider.

A request's path: journal middleware -> fault middleware (asks each dialect's
`describe` who the request is for) -> route table -> the dialect's handler
(parse, call the ledger, wrap) -> ledger.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from aiohttp import web

from ..config import ProviderConfig
from ..ledger import Ledger, LedgerEvent


_TOO_LARGE = "pstnsim.body_too_large"  # request key: the body broke the app's size limit
UNSET: Any = object()  # `kept`'s default where None is a value worth keeping


def kept(request: web.Request, key: str, default: Any = None) -> Any:
    """`request.get(key, default)` without the KeyError aiohttp's mapping raises and catches for every key
    not set (the request path asks for several on each request)."""
    state = getattr(request, "_state", None)
    return request.get(key, default) if state is None else state.get(key, default)


async def read_body(request: web.Request) -> bytes | None:
    """The request body, or None when it is larger than the app's limit. aiohttp consumes an oversize body
    while refusing it (a second read() sees b""), so every dialect reads through here."""
    if kept(request, _TOO_LARGE):
        return None
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        request[_TOO_LARGE] = True
        return None


@dataclass(frozen=True)
class RequestInfo:
    """What the fault engine matches on and the journal records: which dialect, operation and numbers."""

    dialect: str
    operation: str  # native: "create_binding"...; vendors: their action name, e.g. "BindAxb"
    x: str | None = None
    a: str | None = None
    b: str | None = None

    @property
    def key(self) -> str:
        """The fault engine counts matching requests per key, so unrelated requests never shift decisions."""
        return f"{self.dialect}:{self.operation}:{self.x or ''}"


@dataclass(frozen=True)
class PushMessage:
    """One outbound webhook delivery (a call record, a binding event) in a dialect's own format."""

    url: str
    body: Any  # JSON-serialisable
    kind: str  # "call", "binding_expired", "SecretReport", ...
    headers: tuple[tuple[str, str], ...] = ()


class Dialect(ABC):
    name: ClassVar[str]

    def __init__(self, ledger: Ledger, config: ProviderConfig) -> None:
        self.ledger = ledger
        self.config = config

    def operations(self) -> frozenset[str] | None:
        """Every operation name `describe` can return (including "invalid"): the closed set metrics label
        with. None: not declared (metrics then count this dialect's operations as they come)."""
        return None

    def add_routes(self, app: web.Application) -> None:
        """Register this dialect's own paths. Vendor dialects served at `/` register nothing."""

    @abstractmethod
    async def describe(self, request: web.Request) -> RequestInfo | None:
        """Say which operation this request is, or None if it is not this dialect's.

        Cheap and read-only; may read the body (aiohttp caches it). Must not raise on
        bad input: a request it cannot parse is still described (operation "invalid")
        so that faults and the journal see it. The operation comes from a closed set
        (`operations()`): an action name the dialect does not serve is "invalid", so a
        client cannot mint metric labels or fault keys.
        """

    async def authenticate(self, request: web.Request) -> web.Response | None:
        """Check the request's signature with this provider's credentials without serving it: None if it
        holds (or the dialect signs nothing), else the refusal the vendor's gateway would send. Replay and
        the recording proxy use it: they answer or forward a request the ledger never sees."""
        return None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Serve a request routed to the shared `/` endpoint (vendor dialects)."""
        raise web.HTTPNotFound()

    def fault_response(self, status: int, info: RequestInfo, retry_after: float | None = None) -> web.Response:
        """The body an injected HTTP error carries in this dialect (the vendor's gateway error shape)."""
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
        return web.json_response(
            {"code": "INJECTED_FAULT", "message": f"injected HTTP {status}"}, status=status, headers=headers
        )

    def push_messages(self, event: LedgerEvent) -> list[PushMessage]:
        """What this dialect pushes for a ledger event (call reports, expiry notices); none by default."""
        return []
