"""The core's HTTP contract as an OpenAPI 3.0 document (served at /openapi.json).

Teams who want the harness to test their own binding service implement this
contract; schemathesis checks the bundled core against it in the test suite.
"""

from __future__ import annotations

from typing import Any

from .numbers import WIRE_NUMBER_PATTERN

NUMBER = {"type": "string", "pattern": WIRE_NUMBER_PATTERN, "example": "13800138000"}
NULLABLE_NUMBER = {"type": "string", "nullable": True}
STATUS = {"type": "string", "enum": ["NOT_BIND", "OPERATION", "BIND"]}
OPERATION_ID_PATTERN = r"^op_[0-9]{8,18}$"
MAX_SEQ = 10**18 - 1  # `after` takes at most 18 digits
OP_STATE = {"type": "string", "enum": ["pending", "running", "done", "dead"]}
SEQ_AFTER = {"name": "after", "in": "query", "required": False,
             "description": "the `next` of the previous page: rows after this one",
             "schema": {"type": "integer", "minimum": 0, "maximum": MAX_SEQ}}


def _limit(maximum: int) -> dict[str, Any]:
    return {"name": "limit", "in": "query", "required": False,
            "description": f"rows per page (default and maximum {maximum})",
            "schema": {"type": "integer", "minimum": 1, "maximum": maximum}}


def _paged(items: str, item_schema: dict[str, Any], cursor: dict[str, Any]) -> dict[str, Any]:
    """A page of a list: the rows, how many the filter matches in all, and the next page's cursor (not
    required: a team's own service implementing this contract may list without paging)."""
    return {
        "type": "object",
        "required": [items],
        "properties": {
            items: {"type": "array", "items": item_schema},
            "total": {"type": "integer", "minimum": 0},
            "next": {**cursor, "nullable": True},
        },
    }


# What the admin gate (simulator/admin_gate.py) answers before an /_admin/* handler runs.
_ADMIN_REFUSALS = {
    "401": {"description": "a token is configured and the request lacks Authorization: Bearer <token>",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
    "403": {"description": "not a loopback peer, a foreign Host, or a cross-site Origin",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _ok(description: str, ref: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}}


X_PARAM = {"name": "x", "in": "path", "required": True, "schema": NUMBER, "description": "the virtual number"}

_CHANGE_RESPONSES = {
    "200": _ok("old (synchronous) path: the provider answered and the status is settled", "OperationAnswer"),
    "202": _ok("new (asynchronous) path: accepted; poll GET /v1/numbers/{x}", "OperationAnswer"),
    "400": _error("malformed number, JSON or field"),
    "409": _error("the mode is not in the status this operation needs (STATE_CONFLICT, with `current`), "
                  "or the provider refused with a conflict (old path)"),
    "413": _error("body too large"),
    "415": _error("a body sent with a Content-Type other than application/json"),
    "422": _error("old path: the provider refused the request (its code is passed on)"),
    "502": _error("old path: the provider's answer was an error or was lost (the status is settled in the background), "
                  "or it refused the core's credentials (PROVIDER_AUTH_FAILED: nothing was done, an alert is raised)"),
    "503": _error("the provider's circuit is open (old path, CIRCUIT_OPEN: nothing was done), or the database "
                  "failed (STORE_BUSY, with Retry-After): before the change was written (nothing was done), or "
                  "after it was accepted (the body names `operation_id`: poll it, do not send the change again)"),
    "504": _error("old path: the provider did not answer in time; the status is settled in the background"),
}


def _change(summary: str, body: dict[str, Any] | None) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "parameters": [X_PARAM], "responses": _CHANGE_RESPONSES}
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return op


def document() -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "pstnsim binding core",
            "version": "1.0.0",
            "description": "XB/AXB binding service: synchronous validation, asynchronous provider calls, polling.",
        },
        "paths": {
            "/v1/numbers/{x}": {
                "get": {
                    "summary": "the polling view of a virtual number (an X never seen is NOT_BIND in both modes)",
                    "parameters": [X_PARAM],
                    "responses": {"200": _ok("the view", "NumberView"), "400": _error("malformed number")},
                }
            },
            "/v1/numbers/{x}/xb": {
                "post": _change("bind X to B (XB)", {"$ref": "#/components/schemas/XbRequest"}),
                "delete": _change("remove the XB binding of X", None),
            },
            "/v1/numbers/{x}/axb": {
                "post": _change("bind A and B on X (AXB)", {"$ref": "#/components/schemas/AxbRequest"}),
                "delete": _change("remove the AXB binding of X", None),
            },
            "/v1/operations": {
                "get": {
                    "summary": "operations (the durable queue), oldest first, a page at a time",
                    "parameters": [
                        {"name": "state", "in": "query", "required": False, "schema": OP_STATE},
                        _limit(1000),
                        {"name": "after", "in": "query", "required": False,
                         "description": "the `next` of the previous page: operations queued after this one",
                         "schema": {"type": "string", "pattern": OPERATION_ID_PATTERN}},
                    ],
                    "responses": {"200": _ok("operations", "OperationList"), "400": _error("unknown state or parameter")},
                }
            },
            "/v1/operations/{operation_id}": {
                "get": {
                    "summary": "one operation",
                    "parameters": [
                        {"name": "operation_id", "in": "path", "required": True,
                         "schema": {"type": "string", "pattern": OPERATION_ID_PATTERN}}
                    ],
                    "responses": {
                        "200": _ok("the operation", "Operation"),
                        "400": _error("not an operation id"),
                        "404": _error("no such operation"),
                    },
                }
            },
            "/v1/alerts": {
                "get": {
                    "summary": "alerts raised (one per operation whose attempts reached the threshold, or at once when "
                               "the provider refused the core's credentials), oldest first, a page at a time",
                    "parameters": [_limit(1000), SEQ_AFTER],
                    "responses": {"200": _ok("alerts", "AlertList"), "400": _error("bad parameter")},
                }
            },
            "/v1/transitions": {
                "get": {
                    "summary": "status-change history (the harness checks it)",
                    "parameters": [
                        {"name": "x", "in": "query", "required": False, "schema": NUMBER},
                        SEQ_AFTER,
                        _limit(10000),
                    ],
                    "responses": {"200": _ok("transitions", "TransitionList"), "400": _error("bad parameter")},
                }
            },
            "/health": {
                "get": {
                    "summary": "liveness, queue counts, and what an operator must fix (status degraded)",
                    "responses": {"200": _ok("healthy", "Health"), "400": _error("unknown parameter")},
                }
            },
            "/_admin/gray": {
                "get": {"summary": "the current gray list",
                        "responses": {"200": _ok("gray list", "Gray"), **_ADMIN_REFUSALS}},
                "put": {
                    "summary": "set the gray list (holds until the config file changes)",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/GrayRequest"}}},
                    },
                    "responses": {
                        "200": _ok("the new gray list", "Gray"),
                        "400": _error("malformed body"),
                        "413": _error("body too large"),
                        "415": _error("a body sent with a Content-Type other than application/json"),
                        **_ADMIN_REFUSALS,
                    },
                },
                "delete": {
                    "summary": "drop the gray list: every number takes the new path",
                    "responses": {"200": _ok("gray list", "Gray"), "400": _error("a body was sent"),
                                  "415": _error("a Content-Type other than application/json"), **_ADMIN_REFUSALS},
                },
            },
        },
        "components": {"schemas": _schemas()},
    }


def _schemas() -> dict[str, Any]:
    mode_view_xb = {
        "type": "object",
        "required": ["status", "b", "binding_id", "version"],
        "properties": {
            "status": STATUS,
            "b": NULLABLE_NUMBER,
            "binding_id": {"type": "string", "nullable": True},
            "version": {"type": "integer", "minimum": 0},
            "operation_id": {"type": "string", "nullable": True},
        },
    }
    mode_view_axb = {
        "type": "object",
        "required": ["status", "a", "b", "binding_id", "version"],
        "properties": {**mode_view_xb["properties"], "a": NULLABLE_NUMBER},
    }
    operation = {
        "type": "object",
        "required": ["operation_id", "x", "mode", "kind", "state", "attempts"],
        "properties": {
            "operation_id": {"type": "string"},
            "x": {"type": "string"},
            "mode": {"type": "string", "enum": ["XB", "AXB"]},
            # sweep: deletes what a late call of the `origin` bind created (docs/core.md)
            "kind": {"type": "string", "enum": ["bind", "unbind", "sweep"]},
            "a": NULLABLE_NUMBER,
            "b": NULLABLE_NUMBER,
            # sweep: the stray bindings it deleted, comma-separated
            "binding_id": {"type": "string", "nullable": True},
            "path": {"type": "string", "enum": ["async", "sync"]},
            "phase": {"type": "string", "enum": ["call", "settle", "look", "delete"]},
            "state": OP_STATE,
            "attempts": {"type": "integer", "minimum": 0},
            "next_attempt_at": {"type": "number", "nullable": True},
            "outcome": {"type": "string", "nullable": True},
            "last_error": {"type": "string", "nullable": True},
            "alerted": {"type": "boolean"},
            "created_at": {"type": "number"},
            "finished_at": {"type": "number", "nullable": True},
            # until when a call that got no answer may still take effect at the provider
            "in_doubt_until": {"type": "number", "nullable": True},
            "origin": {"type": "string", "nullable": True},
        },
    }
    return {
        "Error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "field": {"type": "string"},
                "operation_id": {"type": "string"},
                "current": {"type": "object"},
            },
        },
        "XbRequest": {
            "type": "object",
            "required": ["b"],
            "additionalProperties": False,
            "properties": {"b": NUMBER},
        },
        "AxbRequest": {
            "type": "object",
            "required": ["a", "b"],
            "additionalProperties": False,
            "properties": {"a": NUMBER, "b": NUMBER},
        },
        "NumberView": {
            "type": "object",
            "required": ["x", "xb", "axb"],
            "properties": {"x": {"type": "string"}, "xb": mode_view_xb, "axb": mode_view_axb},
        },
        "OperationAnswer": {
            "type": "object",
            "required": ["operation_id", "x", "mode", "kind", "path", "state", "status", "version"],
            "properties": {
                "operation_id": {"type": "string"},
                "x": {"type": "string"},
                "mode": {"type": "string", "enum": ["XB", "AXB"]},
                "kind": {"type": "string", "enum": ["bind", "unbind"]},
                "path": {"type": "string", "enum": ["async", "sync"]},
                "state": OP_STATE,
                "status": STATUS,
                "version": {"type": "integer", "minimum": 0},
                "binding_id": {"type": "string", "nullable": True},
            },
        },
        "Operation": operation,
        "OperationList": _paged("operations", {"$ref": "#/components/schemas/Operation"},
                                {"type": "string", "pattern": OPERATION_ID_PATTERN}),
        "AlertList": _paged("alerts", {
            "type": "object",
            "required": ["operation_id", "x", "mode", "attempts"],
            "properties": {
                "alert_id": {"type": "integer"},
                "operation_id": {"type": "string"},
                "x": {"type": "string"},
                "mode": {"type": "string"},
                "attempts": {"type": "integer"},
                "last_error": {"type": "string", "nullable": True},
                "at": {"type": "number"},
            },
        }, {"type": "integer"}),
        "TransitionList": _paged("transitions", {
            "type": "object",
            "required": ["seq", "x", "mode", "from_status", "to_status", "version", "operation_id", "at"],
            "properties": {
                "seq": {"type": "integer"},
                "x": {"type": "string"},
                "mode": {"type": "string"},
                "from_status": STATUS,
                "to_status": STATUS,
                "version": {"type": "integer"},
                "operation_id": {"type": "string"},
                "at": {"type": "number"},
            },
        }, {"type": "integer"}),
        "Health": {
            "type": "object",
            "required": ["status", "operations", "breaker"],
            "properties": {
                # "ok", or "degraded": an operator must fix what `problems` names (the provider refuses our
                # credentials). Not an enum: a team's own service implementing this contract may say more.
                "status": {"type": "string"},
                "problems": {"type": "array", "items": {"type": "string"}},
                "operations": {"type": "object", "additionalProperties": {"type": "integer"}},
                "breaker": {"type": "string", "enum": ["closed", "open", "half_open"]},
            },
        },
        "GrayRequest": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"all": {"type": "boolean"}, "numbers": {"type": "array", "items": NUMBER}},
        },
        "Gray": {
            "type": "object",
            "required": ["enabled", "all", "numbers"],
            "properties": {
                "enabled": {"type": "boolean"},
                "all": {"type": "boolean"},
                "numbers": {"type": "array", "items": {"type": "string"}},
            },
        },
    }
