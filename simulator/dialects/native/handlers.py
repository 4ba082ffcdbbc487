"""The native API's handlers: parse the wire request, call the ledger, shape the answer.

Each takes the ledger and the request and returns a response or raises a
`LedgerError`; the dialect turns errors into JSON and applies idempotency.
"""

from __future__ import annotations

from aiohttp import web

from ...errors import BindingNotFound, InvalidArgument, InvalidNumber
from ...ledger import Ledger
from ...numbers import DEFAULT_POOL_KEY
from . import wire
from .paging import page, page_params
from .errors import CallNotFound, UpdateConflict

CREATED = "pstnsim.native.created"  # request key: the binding create_binding made (the journal learns its X)


async def create_binding(ledger: Ledger, request: web.Request) -> web.Response:
    wire.query(request.query, {})
    req = wire.create_binding(await wire.read_json_object(request))
    binding = ledger.create_binding(
        req.mode, a=req.a, b=req.b, x=req.x, city=req.city, expires_at=_expiry(ledger, req.expires_in)
    )
    request[CREATED] = binding
    return web.json_response(wire.binding_json(binding), status=201)


async def get_binding(ledger: Ledger, request: web.Request) -> web.Response:
    wire.query(request.query, {})
    binding = ledger.binding(request.match_info["binding_id"], as_queried=True)
    return web.json_response(wire.binding_json(binding))


async def list_bindings(ledger: Ledger, request: web.Request) -> web.Response:
    filters, limit, after = _list_query(request, wire.LIST_BINDINGS_QUERY)
    status = filters.pop("status", "active")
    found = ledger.bindings(**filters, status=status, pool_key=None, as_queried=True)
    rows, cursor = page(found, lambda b: b.binding_id, after, limit)
    return web.json_response({"bindings": [wire.binding_json(b) for b in rows], "total": len(found), "next": cursor})


async def update_binding(ledger: Ledger, request: web.Request) -> web.Response:
    wire.query(request.query, {})
    req = wire.update_binding(await wire.read_json_object(request))
    try:
        binding = ledger.update_binding(
            request.match_info["binding_id"], a=req.a, b=req.b, expires_at=_expiry(ledger, req.expires_in)
        )
    except InvalidArgument as exc:
        if isinstance(exc, InvalidNumber):
            raise
        # The body was valid on its own; it clashes with the binding's mode or its other number.
        raise UpdateConflict(exc.message, **exc.details) from None
    return web.json_response(wire.binding_json(binding))


async def delete_binding(ledger: Ledger, request: web.Request) -> web.Response:
    wire.query(request.query, {})
    binding = ledger.delete_binding(request.match_info["binding_id"])
    return web.json_response(wire.binding_json(binding))


async def place_call(ledger: Ledger, request: web.Request) -> web.Response:
    wire.query(request.query, {})
    req = wire.place_call(await wire.read_json_object(request))
    record = ledger.place_call(req.caller, req.x)
    return web.json_response(wire.call_json(record), status=201)


async def list_calls(ledger: Ledger, request: web.Request) -> web.Response:
    filters, limit, after = _list_query(request, wire.LIST_CALLS_QUERY)
    found = ledger.calls(**filters)
    rows, cursor = page(found, lambda c: c.call_id, after, limit)
    return web.json_response({"calls": [wire.call_json(c) for c in rows], "total": len(found), "next": cursor})


async def get_call(ledger: Ledger, request: web.Request) -> web.Response:
    wire.query(request.query, {})
    call_id = request.match_info["call_id"]
    try:
        record = ledger.call(call_id)
    except BindingNotFound:
        raise CallNotFound(f"call {call_id} does not exist", call_id=call_id) from None
    return web.json_response(wire.call_json(record))


async def list_numbers(ledger: Ledger, request: web.Request) -> web.Response:
    filters, limit, after = _list_query(request, wire.LIST_NUMBERS_QUERY)
    owned = ledger.numbers(DEFAULT_POOL_KEY, city=filters.get("city"))
    rows, cursor = page(owned, lambda n: n.x, after, limit)
    numbers = [wire.number_json(n, ledger.number_status(n.x)) for n in rows]
    return web.json_response({"numbers": numbers, "total": len(owned), "next": cursor})


def _list_query(request: web.Request, spec: dict) -> tuple[dict, int, str | None]:
    """A list's filters (checked by `spec`) and its page: `limit` and `after` (paging.py)."""
    paging = {name: request.query[name] for name in ("limit", "after") if name in request.query}
    filters = wire.query(request.query, {**spec, "limit": _raw, "after": _raw})
    for name in paging:
        filters.pop(name)
    limit, after = page_params(paging)
    return filters, limit, after


def _raw(name: str, value: object) -> object:
    return value


def _expiry(ledger: Ledger, expires_in: int | None) -> float | None:
    return None if expires_in is None else ledger.clock.now() + expires_in
