"""The admin API: fault rules, the ledger's ground truth, the journal, reset, push status, metrics.

Mounted only when the provider listens on loopback (or `allow_public_admin`);
every request passes the admin gate first (admin_gate.py: loopback peer unless
allowed, the provider's own Host, no cross-site Origin, the bearer token when
one is set, JSON for writes).
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any, Awaitable, Callable

from aiohttp import web

from .admin_gate import AdminGate
from .faults import RuleError
from .metrics import CONTENT_TYPE
from .state import PROVIDER, RULES_ON_RESET, ProviderState
from .traces.replay_server import REPLAY

AdminHandler = Callable[[web.Request, ProviderState], Awaitable[web.StreamResponse]]
MAX_PAGE = 1000


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def admin_allowed(host: str, allow_public_admin: bool) -> bool:
    """Whether the admin routes may be mounted on a server bound to `host`."""
    return allow_public_admin or is_loopback(host)


def add_admin_routes(app: web.Application) -> None:
    routes = [
        ("GET", "/_admin/faults", list_faults),
        ("PUT", "/_admin/faults", replace_faults),
        ("POST", "/_admin/faults", add_fault),
        ("DELETE", "/_admin/faults", clear_faults),
        ("DELETE", "/_admin/faults/{rule_id}", delete_fault),
        ("GET", "/_admin/ledger", ledger_view),
        ("GET", "/_admin/journal", journal_view),
        ("GET", "/_admin/push", push_view),
        ("POST", "/_admin/reset", reset),
        ("GET", "/_admin/replay", replay_view),
        ("GET", "/metrics", metrics_view),
    ]
    for method, path, handler in routes:
        app.router.add_route(method, path, _guarded(handler))


def error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"code": code, "message": message}, status=status)


def _guarded(handler: AdminHandler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def guarded(request: web.Request) -> web.StreamResponse:
        state = request.app[PROVIDER]
        config = state.config
        gate = AdminGate(allowed_hosts=config.allowed_hosts, token=config.admin_token,
                         allow_public=config.allow_public_admin)
        sockname = request.transport.get_extra_info("sockname") if request.transport is not None else None
        local = sockname[0] if isinstance(sockname, tuple) and sockname else None
        has_body = bool(request.content_length) or "Transfer-Encoding" in request.headers
        refusal = gate.refusal(request.method, request.headers, request.remote, local, has_body)
        if refusal is not None:
            return web.json_response(refusal.body(), status=refusal.status, headers=dict(refusal.headers))
        return await handler(request, state)

    guarded.__name__ = handler.__name__
    guarded.__doc__ = handler.__doc__
    return guarded


async def _json_body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw:
        raise web.HTTPBadRequest(text=json.dumps({"code": "MISSING_BODY", "message": "a JSON body is required"}),
                                 content_type="application/json")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise web.HTTPBadRequest(text=json.dumps({"code": "MALFORMED_JSON", "message": f"body is not JSON: {exc}"}),
                                 content_type="application/json") from exc


def _no_query(request: web.Request, allowed: tuple[str, ...] = ()) -> None:
    unknown = sorted(set(request.query) - set(allowed))
    if unknown:
        raise web.HTTPBadRequest(
            text=json.dumps({"code": "UNKNOWN_PARAMETER",
                             "message": f"unknown query parameter(s) {', '.join(unknown)}; allowed: {', '.join(allowed) or 'none'}"}),
            content_type="application/json",
        )


# ---- faults ------------------------------------------------------------------


async def list_faults(request: web.Request, state: ProviderState) -> web.Response:
    """The rule table with how often each rule matched and fired."""
    _no_query(request)
    return web.json_response({"seed": state.faults.seed, "rules": state.faults.list()})


async def replace_faults(request: web.Request, state: ProviderState) -> web.Response:
    """Replace every rule: body `{"rules": [...]}` (or a bare list). All or nothing."""
    _no_query(request)
    body = await _json_body(request)
    if isinstance(body, dict):
        unknown = sorted(set(body) - {"rules"})
        if unknown or "rules" not in body:
            return error(400, "INVALID_RULE", f"body must be {{\"rules\": [...]}}; unknown key(s): {', '.join(unknown)}")
        body = body["rules"]
    try:
        state.faults.replace(body)
    except RuleError as exc:
        return error(400, "INVALID_RULE", str(exc))
    return web.json_response({"rules": state.faults.list()})


async def add_fault(request: web.Request, state: ProviderState) -> web.Response:
    """Add one rule (a rule with an existing id replaces it)."""
    _no_query(request)
    body = await _json_body(request)
    try:
        rule = state.faults.add(body)
    except RuleError as exc:
        return error(400, "INVALID_RULE", str(exc))
    return web.json_response(rule.to_dict(), status=201)


async def clear_faults(request: web.Request, state: ProviderState) -> web.Response:
    _no_query(request)
    state.faults.clear()
    return web.json_response({"rules": []})


async def delete_fault(request: web.Request, state: ProviderState) -> web.Response:
    _no_query(request)
    rule_id = request.match_info["rule_id"]
    if not state.faults.remove(rule_id):
        return error(404, "RULE_NOT_FOUND", f"no fault rule with id {rule_id!r}")
    return web.Response(status=204)


# ---- ground truth, journal, push ----------------------------------------------


async def ledger_view(request: web.Request, state: ProviderState) -> web.Response:
    """Numbers, bindings (active and expired) and calls as the provider really holds them, and how many
    vendor requests may still change it (`in_flight`: held or applying; a harness waits for none before checking).
    `?released=true` adds the deleted bindings (status "released", with ended_at)."""
    _no_query(request, ("released",))
    released = request.query.get("released", "false")
    if released not in ("true", "false"):
        raise web.HTTPBadRequest(text=json.dumps({"code": "INVALID_ARGUMENT", "message": "released must be true or false"}),
                                 content_type="application/json")
    return web.json_response({**state.ledger.snapshot(released=released == "true"), "in_flight": state.in_flight})


async def journal_view(request: web.Request, state: ProviderState) -> web.Response:
    """Exchanges oldest first; `after` is the cursor from the previous page's `next`."""
    filters = ("dialect", "operation", "x", "fault")
    _no_query(request, (*filters, "after", "limit"))
    try:
        after = int(request.query.get("after", "0"))
        limit = int(request.query.get("limit", "100"))
    except ValueError:
        return error(400, "INVALID_ARGUMENT", "after and limit must be whole numbers")
    if after < 0 or not 1 <= limit <= MAX_PAGE:
        return error(400, "INVALID_ARGUMENT", f"after must be >= 0 and limit between 1 and {MAX_PAGE}")
    page, cursor = state.journal.query(**{k: request.query[k] for k in filters if k in request.query},
                                       after=after, limit=limit)
    return web.json_response({"entries": [e.to_dict() for e in page], "next": cursor, "total": len(state.journal)})


async def push_view(request: web.Request, state: ProviderState) -> web.Response:
    """Delivered, failed, retried... counts and the recent deliveries."""
    _no_query(request)
    if state.pusher is None:
        return web.json_response({"deliveries": []})
    return web.json_response(state.pusher.status())


async def reset(request: web.Request, state: ProviderState) -> web.Response:
    """The provider as it started: seeded ledger, its --faults rules re-armed (rules added since removed), journal,
    metrics and push counts cleared. Body `{"rules": "keep"}` keeps the current rules instead, `"clear"` none."""
    _no_query(request)
    rules = "initial"
    if await request.read():
        body = await _json_body(request)
        if not isinstance(body, dict) or set(body) - {"rules"} or body.get("rules", "initial") not in RULES_ON_RESET:
            return error(400, "INVALID_ARGUMENT",
                         'body must be {"rules": "initial"}, {"rules": "keep"} or {"rules": "clear"}')
        rules = body.get("rules", "initial")
    state.reset(rules=rules)
    return web.json_response({"reset": True, "rules": len(state.faults.rules)})


async def replay_view(request: web.Request, state: ProviderState) -> web.Response:
    """`--replay`: the exchanges answered (by seq), the requests the trace lacked, the exchanges never asked for."""
    _no_query(request)
    replay = request.app.get(REPLAY)
    if replay is None:
        return error(404, "NOT_REPLAYING", "this provider serves no trace (pstnsim provider --replay FILE)")
    return web.json_response(replay.progress())


async def metrics_view(request: web.Request, state: ProviderState) -> web.Response:
    return web.Response(text=state.metrics.render(), headers={"Content-Type": CONTENT_TYPE})
