"""The ledger's errors: each a type with a stable code; dialects map them to their own envelopes at the edge."""

from __future__ import annotations


SHORT_REPR_LIMIT = 24  # characters of a refused value an error message quotes


def short_repr(value: object, limit: int = SHORT_REPR_LIMIT) -> str:
    """A refused value as an error message quotes it: repr() of at most `limit` characters, the rest
    counted, so a hostile 100 KB value is never echoed back (or into a log) whole."""
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]!r}... ({len(value)} characters)"
    text = repr(value)
    return text if len(text) <= limit + 2 else f"{text[:limit]}... ({len(text)} characters)"


class LedgerError(Exception):
    """A refused operation. `code` is stable and documented; `status` is the native API's HTTP status."""

    code = "INTERNAL_ERROR"
    status = 500

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidArgument(LedgerError):
    code = "INVALID_ARGUMENT"
    status = 400


class InvalidNumber(InvalidArgument):
    code = "INVALID_NUMBER"
    status = 400


class NoAvailableNumber(LedgerError):
    code = "NO_AVAILABLE_NUMBER"
    status = 409


class BindConflict(LedgerError):
    code = "BIND_CONFLICT"
    status = 409


class BindingNotFound(LedgerError):
    code = "BINDING_NOT_FOUND"
    status = 404


class BindingExpired(LedgerError):
    """An operation that needs an active binding was given an expired one."""

    code = "BINDING_EXPIRED"
    status = 409


class NumberNotFound(LedgerError):
    """The virtual number is not in the provider's pool (or not in the caller's pool key)."""

    code = "NUMBER_NOT_FOUND"
    status = 404


class NumberInUse(LedgerError):
    """The number still carries bindings, or is locked, and so cannot be released or locked."""

    code = "NUMBER_IN_USE"
    status = 409


class ExpiryIllegal(InvalidArgument):
    code = "EXPIRY_ILLEGAL"
    status = 400
