"""The native API's route table: method, path, handler, operation name. One row per operation."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from typing import Awaitable, Callable

from aiohttp import web

from ...ledger import Ledger
from . import handlers

Handler = Callable[[Ledger, web.Request], Awaitable[web.StreamResponse]]
PREFIX = "/v1/"
OPENAPI_PATH = "/openapi.json"
# Methods that change state: they honour Idempotency-Key.
MUTATING = frozenset({"POST", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # aiohttp pattern, `{name}` matches one path segment
    handler: Handler | None  # None: served by the dialect itself (the OpenAPI document)
    operation: str

    @cached_property
    def regex(self) -> re.Pattern[str]:
        return re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^{}/]+)", self.path) + "$")


ROUTES: tuple[Route, ...] = (
    Route("POST", "/v1/bindings", handlers.create_binding, "create_binding"),
    Route("GET", "/v1/bindings", handlers.list_bindings, "list_bindings"),
    Route("GET", "/v1/bindings/{binding_id}", handlers.get_binding, "get_binding"),
    Route("PATCH", "/v1/bindings/{binding_id}", handlers.update_binding, "update_binding"),
    Route("DELETE", "/v1/bindings/{binding_id}", handlers.delete_binding, "delete_binding"),
    Route("POST", "/v1/calls", handlers.place_call, "place_call"),
    Route("GET", "/v1/calls", handlers.list_calls, "list_calls"),
    Route("GET", "/v1/calls/{call_id}", handlers.get_call, "get_call"),
    Route("GET", "/v1/numbers", handlers.list_numbers, "list_numbers"),
    Route("GET", OPENAPI_PATH, None, "get_openapi"),
)


def by_path() -> dict[str, dict[str, Route]]:
    """path -> {method -> route}, in table order (aiohttp registers one resource per path)."""
    table: dict[str, dict[str, Route]] = {}
    for route in ROUTES:
        table.setdefault(route.path, {})[route.method] = route
    return table


def _tables() -> tuple[dict[tuple[str, str], Route], dict[tuple[str, str], tuple[Route, str]]]:
    """(method, path) -> route for fixed paths; (method, path up to its last `/`) -> (route, parameter name)
    for paths ending in one `{name}` segment. Built once: a request costs one or two dict lookups."""
    fixed: dict[tuple[str, str], Route] = {}
    by_parent: dict[tuple[str, str], tuple[Route, str]] = {}
    for route in ROUTES:
        if "{" not in route.path:
            fixed.setdefault((route.method, route.path), route)
        else:
            parent, _, last = route.path.rpartition("/")
            assert last.startswith("{") and last.endswith("}") and "{" not in parent, route.path
            by_parent.setdefault((route.method, parent + "/"), (route, last[1:-1]))
    return fixed, by_parent


_FIXED, _BY_PARENT = _tables()


def resolve(method: str, path: str) -> tuple[Route | None, dict[str, str]]:
    """The route for this request and its path parameters; (None, {}) if no row matches."""
    route = _FIXED.get((method, path))
    if route is not None:
        return route, {}
    parent, _, last = path.rpartition("/")
    found = _BY_PARENT.get((method, parent + "/"))
    if found is not None and last and not _UNUSUAL.search(last):
        return found[0], {found[1]: last}
    return _resolve_by_pattern(method, path)  # anything else: the patterns decide, as they always did


_UNUSUAL = re.compile(r"[{}\n]")


def _resolve_by_pattern(method: str, path: str) -> tuple[Route | None, dict[str, str]]:
    for route in ROUTES:
        found = route.regex.match(path)
        if found and route.method == method:
            return route, found.groupdict()
    return None, {}
