"""The ledger's errors: each a type with a stable code; dialects map them to their own envelopes at the edge."""

from __future__ import annotations


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
