"""Every Tencent error shape in one place.

Two layers, as the real service has them:
- gateway (Cloud API 3.0) errors: HTTP 200 with `Response.Error{Code, Message}`;
  the SDK raises `TencentCloudSDKException(code, message, request_id)`;
- NPP business errors: a normal Response whose `ErrorCode` is not "0", with `Msg`;
  the SDK returns the model. Ledger errors become these, here and nowhere else.
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


class GatewayError(Exception):
    """A request the API gateway refuses before (or instead of) the NPP service seeing it."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class BusinessError(Exception):
    """An NPP-level refusal: `ErrorCode` (a string such as "-107") and `Msg`."""

    def __init__(self, error_code: str, msg: str) -> None:
        super().__init__(f"{error_code}: {msg}")
        self.error_code = error_code
        self.msg = msg


# NPP's business codes (legacy doc), the ones pstnsim can produce.
OK = "0"
BAD_PARAMETERS = "-2"
SRC_DST_INVALID = "-101"
CALLBACK_URL_INVALID = "-103"
VIRTUAL_NUM_IN_USE = "-106"
NO_VIRTUAL_NUM = "-107"
ACCREDIT_LIST_INVALID = "-111"
APP_ID_INVALID = "-401"
BIND_ID_NOT_FOUND = "-204"
BIZ_ID_REQUIRED = "-205"

# Cloud API 3.0 gateway codes.
SIGNATURE_FAILURE = "AuthFailure.SignatureFailure"
SIGNATURE_EXPIRE = "AuthFailure.SignatureExpire"
SECRET_ID_NOT_FOUND = "AuthFailure.SecretIdNotFound"
INVALID_AUTHORIZATION = "AuthFailure.InvalidAuthorization"
INVALID_ACTION = "InvalidAction"
NO_SUCH_VERSION = "NoSuchVersion"
MISSING_PARAMETER = "MissingParameter"
INVALID_PARAMETER = "InvalidParameter"
UNKNOWN_PARAMETER = "UnknownParameter"
REQUEST_SIZE_LIMIT = "RequestSizeLimitExceeded"
REQUEST_LIMIT = "RequestLimitExceeded"
INTERNAL_ERROR = "InternalError"
SERVICE_UNAVAILABLE = "ServiceUnavailable"


def business_error(error: LedgerError, operation: str) -> BusinessError:
    """The ErrorCode a ledger refusal becomes for `operation` (GetVirtualNum, DelVirtualNum, ...)."""
    if isinstance(error, NoAvailableNumber):
        return BusinessError(NO_VIRTUAL_NUM, f"no virtual number available: {error.message}")
    if isinstance(error, (BindConflict, NumberInUse)):
        return BusinessError(VIRTUAL_NUM_IN_USE, f"virtual number already bound: {error.message}")
    if isinstance(error, (BindingNotFound, BindingExpired)):
        return BusinessError(BIND_ID_NOT_FOUND, f"bindId does not exist: {error.message}")
    if isinstance(error, InvalidNumber):
        field = str(error.details.get("field", ""))
        if field in ("a", "b", "Src", "Dst"):
            return BusinessError(SRC_DST_INVALID, f"src/dst invalid: {error.message}")
        return BusinessError(BAD_PARAMETERS, error.message)
    if isinstance(error, NumberNotFound):
        return BusinessError(BAD_PARAMETERS, f"AssignVirtualNum is not in this app's pool: {error.message}")
    if isinstance(error, (ExpiryIllegal, InvalidArgument)):
        return BusinessError(BAD_PARAMETERS, error.message)
    return BusinessError("-501", f"platform error in {operation}: {error.message}")


# Injected HTTP faults: the Error body the gateway would carry with that status.
FAULT_CODES = {
    429: (REQUEST_LIMIT, "request limit exceeded, please retry later"),
    500: (INTERNAL_ERROR, "internal error"),
    502: (INTERNAL_ERROR, "bad gateway"),
    503: (SERVICE_UNAVAILABLE, "service unavailable"),
    504: (INTERNAL_ERROR, "gateway timeout"),
}


def fault_error(status: int) -> GatewayError:
    code, message = FAULT_CODES.get(status, (INTERNAL_ERROR, f"HTTP {status}"))
    return GatewayError(code, f"{message} (injected HTTP {status})")
