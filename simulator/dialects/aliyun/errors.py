"""Aliyun error shapes, in one place: ledger errors -> business codes (HTTP 200), gateway errors -> 4xx/5xx.

Business errors are what the dyplsapi service itself answers (`isv.*`, HTTP 200,
the SDK returns them as a normal response). Gateway errors are POP's own
(signature, unknown key, missing parameter, throttling): HTTP 4xx/5xx with
`{RequestId, HostId, Code, Message, Recommend}`, which the SDK raises.
"""

from __future__ import annotations

import math

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

HOST_ID = "dyplsapi.aliyuncs.com"

# Most specific class first: the first isinstance match wins.
BUSINESS_CODES: tuple[tuple[type[LedgerError], str], ...] = (
    (InvalidNumber, "isv.MOBILE_NUMBER_ILLEGAL"),
    (ExpiryIllegal, "isv.EXPIRE_DATE_ILLEGAL"),
    (InvalidArgument, "isv.INVALID_PARAMETERS"),
    (NoAvailableNumber, "isv.NO_AVAILABLE_NUMBER"),
    (BindConflict, "isv.BIND_CONFLICT"),
    (BindingNotFound, "isv.SUBS_NOT_EXIST"),
    (BindingExpired, "isv.SUBS_NOT_EXIST"),
    (NumberNotFound, "isv.NO_NOT_EXIST"),
    (NumberInUse, "isv.FORBIDDEN_ACTION"),
)
# Where an action's documentation names a different code for the same ledger refusal.
ACTION_OVERRIDES: dict[tuple[str, type[LedgerError]], str] = {
    # "X not in the pool on create" is a forbidden action, not an unknown number.
    ("BindAxb", NumberNotFound): "isv.FORBIDDEN_ACTION",
    ("BindAxn", NumberNotFound): "isv.FORBIDDEN_ACTION",
    ("BindXB", NumberNotFound): "isv.FORBIDDEN_ACTION",
}


class BusinessError(Exception):
    """A refusal the dialect itself decides (unknown pool key, bad OperateType...): HTTP 200 with `Code`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class GatewayError(Exception):
    """POP gateway refusal: the SDK raises ClientException (4xx), ServerException (5xx) or ThrottlingException."""

    def __init__(self, code: str, message: str, status: int = 400, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.retry_after = retry_after

    def body(self, request_id: str) -> dict[str, str]:
        return {
            "RequestId": request_id,
            "HostId": HOST_ID,
            "Code": self.code,
            "Message": self.message,
            "Recommend": f"https://api.aliyun.com/troubleshoot?q={self.code}",
        }

    def headers(self) -> dict[str, str]:
        if self.retry_after is None:
            return {}
        return {"x-acs-retry-after": str(self.retry_after), "Retry-After": str(self.retry_after)}


def business_error(action: str, error: LedgerError | BusinessError) -> BusinessError:
    """The business code the service answers for `error` raised while serving `action`."""
    if isinstance(error, BusinessError):
        return error
    for cls in type(error).__mro__:
        code = ACTION_OVERRIDES.get((action, cls))  # type: ignore[arg-type]
        if code:
            return BusinessError(code, error.message)
    for cls, code in BUSINESS_CODES:
        if isinstance(error, cls):
            return BusinessError(code, error.message)
    return BusinessError("isp.SYSTEM_ERROR", error.message)


def missing_parameter(name: str) -> GatewayError:
    return GatewayError(
        f"Missing{name}", f'The input parameter "{name}" that is mandatory for processing this request is not supplied.'
    )


def invalid_parameter(name: str, why: str) -> GatewayError:
    return GatewayError("InvalidParameter", f'The specified parameter "{name}" is not valid: {why}')


_FAULT_CODES = {
    429: ("Throttling.User", "Request was denied due to user flow control."),
    500: ("InternalError", "The request processing has failed due to some unknown error, exception or failure."),
    502: ("ServiceUnavailable", "The request has failed due to a temporary failure of the server (bad gateway)."),
    503: ("ServiceUnavailable", "The request has failed due to a temporary failure of the server."),
    504: ("ServiceTimeout", "The request processing has failed due to a timeout at the gateway."),
}


def fault_error(status: int, retry_after: float | None = None) -> GatewayError:
    """The gateway error an injected HTTP status looks like; 429 carries `x-acs-retry-after` (whole seconds)."""
    code, message = _FAULT_CODES.get(status, ("InternalError" if status >= 500 else "Throttling", f"HTTP {status}"))
    wait = None
    if status == 429 or retry_after is not None:
        wait = max(1, math.ceil(retry_after if retry_after is not None else 1))
    return GatewayError(code, message, status=status, retry_after=wait)
