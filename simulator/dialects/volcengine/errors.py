"""Every Volcengine error shape in one place.

Volcengine's OpenAPI gateway answers every refusal the same way: an HTTP status
(400, 401, 404, 429, 5xx) and `ResponseMetadata.Error{CodeN, Code, Message}`
beside the request's RequestId / Action / Version / Service / Region. The vms
service's own refusals (an unknown SubId, a busy X) use the same envelope with
HTTP 400. The Python SDK (`volcengine.vms.VmsService`) returns that body as a
dict whatever the status; it raises only when the body is not JSON (a timeout, a
reset, a proxy's HTML page), and that is when its `@retry` sends the call again.
"""

from __future__ import annotations

from ...errors import (
    BindConflict,
    BindingExpired,
    BindingNotFound,
    ExpiryIllegal,
    InvalidArgument,
    InvalidNumber,
    LedgerError,
    NoAvailableNumber,
    NumberInUse,
    NumberNotFound,
)


class VolcError(Exception):
    """A refusal in Volcengine's envelope: gateway or business, told apart only by the code."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status

    @property
    def code_n(self) -> int | None:
        return CODE_N.get(self.code)


# Gateway codes (the OpenAPI common error table) with their numeric CodeN.
INTERNAL_ERROR = "InternalError"
MISSING_PARAMETER = "MissingParameter"
MISSING_AUTHENTICATION = "MissingAuthenticationToken"
INVALID_TIMESTAMP = "InvalidTimestamp"
INVALID_ACTION_OR_VERSION = "InvalidActionOrVersion"
INVALID_ACCESS_KEY = "InvalidAccessKey"
SIGNATURE_DOES_NOT_MATCH = "SignatureDoesNotMatch"
FLOW_LIMIT_EXCEEDED = "FlowLimitExceeded"
SERVICE_UNAVAILABLE = "ServiceUnavailableTemp"
INVALID_PARAMETER = "InvalidParameter"
REQUEST_TOO_LARGE = "RequestEntityTooLarge"
CODE_N = {
    INTERNAL_ERROR: 100001,
    MISSING_PARAMETER: 100002,
    MISSING_AUTHENTICATION: 100003,
    INVALID_TIMESTAMP: 100006,
    INVALID_ACTION_OR_VERSION: 100008,
    INVALID_ACCESS_KEY: 100009,
    SIGNATURE_DOES_NOT_MATCH: 100010,
    FLOW_LIMIT_EXCEEDED: 100018,
}

# vms business codes pstnsim produces (its own names: the SDK documents none).
SUB_ID_NOT_EXIST = "SubIdNotExist"
NUMBER_POOL_NOT_EXIST = "NumberPoolNotExist"
BIND_CONFLICT = "BindConflict"
NO_AVAILABLE_NUMBER = "NoAvailableNumber"
INVALID_PHONE_NUMBER = "InvalidPhoneNumber"
INVALID_EXPIRE_TIME = "InvalidExpireTime"
NUMBER_NOT_IN_POOL = "NumberNotInPool"


def business_error(error: LedgerError, action: str) -> VolcError:
    """The vms code a ledger refusal becomes for `action`."""
    if isinstance(error, NoAvailableNumber):
        return VolcError(NO_AVAILABLE_NUMBER, f"no number of the pool can be selected: {error.message}")
    if isinstance(error, (BindConflict, NumberInUse)):
        return VolcError(BIND_CONFLICT, f"the binding conflicts with an existing one: {error.message}")
    if isinstance(error, (BindingNotFound, BindingExpired)):
        return VolcError(SUB_ID_NOT_EXIST, f"the subscription does not exist: {error.message}")
    if isinstance(error, InvalidNumber):
        return VolcError(INVALID_PHONE_NUMBER, error.message)
    if isinstance(error, NumberNotFound):
        return VolcError(NUMBER_NOT_IN_POOL, f"PhoneNoX is not a number of this pool: {error.message}")
    if isinstance(error, ExpiryIllegal):
        return VolcError(INVALID_EXPIRE_TIME, error.message)
    if isinstance(error, InvalidArgument):
        return VolcError(INVALID_PARAMETER, error.message)
    return VolcError(INTERNAL_ERROR, f"platform error in {action}: {error.message}", 500)


# Injected HTTP faults: the code the gateway carries with that status.
FAULT_CODES = {
    429: (FLOW_LIMIT_EXCEEDED, "flow limit exceeded, please retry later"),
    500: (INTERNAL_ERROR, "internal error"),
    502: (INTERNAL_ERROR, "bad gateway"),
    503: (SERVICE_UNAVAILABLE, "service unavailable"),
    504: (INTERNAL_ERROR, "gateway timeout"),
}


def fault_error(status: int) -> VolcError:
    code, message = FAULT_CODES.get(status, (INTERNAL_ERROR, f"HTTP {status}"))
    return VolcError(code, f"{message} (injected HTTP {status})", status)
