"""The OpenAPI document stays true to the code: same operations as the route table, the same number
pattern as the parser, closed request objects, every refusal shaped as the Error schema, every code documented."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp

from simulator import errors as ledger_errors
from simulator import idempotency
from simulator.dialects.native import errors as native_errors
from simulator.dialects.native import routes
from simulator.numbers import WIRE_NUMBER_PATTERN
from simulator.server import Provider

ROOT = Path(__file__).parents[2]
DOCUMENT = json.loads((ROOT / "simulator/dialects/native/openapi.json").read_text())
SCHEMAS = DOCUMENT["components"]["schemas"]


def _operations() -> dict[tuple[str, str], dict]:
    return {(method.upper(), path): op for path, item in DOCUMENT["paths"].items()
            for method, op in item.items() if method != "parameters"}


def test_the_document_lists_exactly_the_route_table() -> None:
    table = {(r.method, r.path): r.operation for r in routes.ROUTES if r.handler is not None}
    assert {key: op["operationId"] for key, op in _operations().items()} == table


def test_numbers_use_the_parser_pattern() -> None:
    assert SCHEMAS["PhoneNumber"]["pattern"] == WIRE_NUMBER_PATTERN


def test_request_objects_are_closed_and_say_what_is_required() -> None:
    for name in ("CreateXB", "CreateAXB", "CreateAXN", "UpdateBindingRequest", "PlaceCallRequest"):
        assert SCHEMAS[name]["additionalProperties"] is False, name
    assert SCHEMAS["CreateAXB"]["required"] == ["mode", "a", "b"]
    assert SCHEMAS["PlaceCallRequest"]["required"] == ["caller", "x"]


def test_every_refusal_is_an_error_object_and_mutations_document_idempotency() -> None:
    for (method, path), op in _operations().items():
        for status, response in op["responses"].items():
            if status.startswith("4"):
                assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
        if method in routes.MUTATING:
            assert {"$ref": "#/components/parameters/IdempotencyKey"} in op["parameters"], (method, path)
            assert "422" in op["responses"], (method, path)


def test_the_links_chain_create_get_and_delete() -> None:
    create = _operations()[("POST", "/v1/bindings")]["responses"]["201"]["links"]
    assert {link["operationId"] for link in create.values()} == {"get_binding", "update_binding", "delete_binding"}
    delete = _operations()[("DELETE", "/v1/bindings/{binding_id}")]["responses"]["200"]["links"]
    assert delete["GetDeletedBinding"]["parameters"] == {"binding_id": "$request.path.binding_id"}


def test_every_error_code_is_in_the_guide() -> None:
    guide = (ROOT / "docs/native-api.md").read_text()
    modules = (ledger_errors, native_errors, idempotency)
    codes = {obj.code for module in modules for obj in vars(module).values()
             if isinstance(obj, type) and issubclass(obj, ledger_errors.LedgerError) and obj.code != "INTERNAL_ERROR"}
    assert {code for code in codes if f"`{code}`" not in guide} == set()


async def test_the_provider_serves_the_document(pstnsim_provider: Provider) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(pstnsim_provider.url + "/openapi.json") as response:
            assert response.status == 200 and await response.json() == DOCUMENT
