"""The native dialect's errors: wire-level refusals, and the one place any `LedgerError` becomes JSON.

Every refusal the native API sends is `{"code", "message"}` (plus `field` when
one field is to blame) with the error type's HTTP status. Handlers raise; only
`error_response` writes the envelope.
"""

from __future__ import annotations

from aiohttp import web

from ...errors import BindingNotFound, InvalidArgument, LedgerError


class MalformedJson(InvalidArgument):
    code = "MALFORMED_JSON"
    status = 400


class UnknownField(InvalidArgument):
    code = "UNKNOWN_FIELD"
    status = 400


class DuplicateKey(InvalidArgument):
    code = "DUPLICATE_KEY"
    status = 400


class UnsupportedMediaType(InvalidArgument):
    code = "UNSUPPORTED_MEDIA_TYPE"
    status = 415


class PayloadTooLarge(InvalidArgument):
    code = "PAYLOAD_TOO_LARGE"
    status = 413


class MethodNotAllowed(InvalidArgument):
    code = "METHOD_NOT_ALLOWED"
    status = 405


class RouteNotFound(InvalidArgument):
    code = "NOT_FOUND"
    status = 404


class CallNotFound(BindingNotFound):
    code = "CALL_NOT_FOUND"
    status = 404


class UpdateConflict(LedgerError):
    """A PATCH that is well formed but does not fit the binding as it stands (A on an XB, A equal to B)."""

    code = "UPDATE_CONFLICT"
    status = 409


def error_body(exc: LedgerError) -> dict[str, str]:
    body = {"code": exc.code, "message": exc.message}
    field = exc.details.get("field")
    if isinstance(field, str):
        body["field"] = field
    return body


def error_response(exc: LedgerError, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(error_body(exc), status=exc.status, headers=headers)
