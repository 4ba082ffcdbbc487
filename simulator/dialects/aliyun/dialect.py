"""The Aliyun dyplsapi dialect: recognise, authenticate, parse, call the action table, wrap.

Served on the provider's shared `/`, told apart by the `x-acs-action` header
(ACS3, and the new SDK in v2 mode) or `Action` + `Version=2017-05-25` in the
query (the classic RPC form of the old core SDK), on POST and GET.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from ...config import AliyunCredentials, ProviderConfig
from ...errors import LedgerError, short_repr
from ...ledger import Ledger, LedgerEvent
from ...middleware import INFO
from ..base import UNSET, Dialect, PushMessage, RequestInfo, kept, read_body
from . import signing
from .actions import ACTIONS, ActionContext
from .errors import BusinessError, GatewayError, business_error, fault_error
from .push import call_reports
from .wire import (
    A_FIELDS,
    B_FIELDS,
    VERSION,
    X_FIELDS,
    describe_number,
    envelope_error,
    envelope_ok,
    parse_params,
    version_error,
)

FORM = "application/x-www-form-urlencoded"
# What json.dumps(..., ensure_ascii=False) builds on every call, built once.
_ENCODER = json.JSONEncoder(ensure_ascii=False)


@dataclass(frozen=True)
class AliyunRequest:
    """One request as read off the wire, before any check."""

    action: str
    version: str | None
    query: list[tuple[str, str]]  # decoded, in order
    form: list[tuple[str, str]]  # decoded form body (RPC POST may carry parameters there)
    body: bytes
    rpc: bool  # classic RPC v1 (Signature in the parameters) rather than ACS3

    @functools.cached_property
    def params(self) -> dict[str, str]:
        """Query and form parameters as one mapping (the form's value wins a name given twice)."""
        return dict(self.query + self.form)

    def business_params(self) -> dict[str, str]:
        pairs = self.query + self.form
        if self.rpc:
            pairs = [(k, v) for k, v in pairs if k not in signing.RPC_COMMON_KEYS]
        return dict(pairs)

    def first(self, fields: tuple[str, ...]) -> str | None:
        params = self.params
        return next((params[f] for f in fields if params.get(f)), None)


class AliyunDialect(Dialect):
    name = "aliyun"

    def __init__(self, ledger: Ledger, config: ProviderConfig) -> None:
        super().__init__(ledger, config)
        self.accounts = {c.access_key_id: c for c in config.aliyun}
        self.replay_guard = signing.ReplayGuard()
        self._requests = 0
        ledger.on_reset(self.reset)

    def reset(self) -> None:
        """Back to the initial state with the ledger: nonces forgotten, request ids from the start."""
        self.replay_guard.clear()
        self._requests = 0

    # ---- the Dialect contract ------------------------------------------------

    async def describe(self, request: web.Request) -> RequestInfo | None:
        if _cannot_be_aliyun(request):
            return None
        try:
            parsed = await read_request(request)
        except Exception:  # noqa: BLE001 - describe never raises; handle() reports the problem
            action = _action_named(request)
            return RequestInfo(dialect=self.name, operation=_known(action)) if action else None
        if parsed is None:
            return None
        return RequestInfo(
            dialect=self.name,
            operation=_known(parsed.action),
            x=describe_number(parsed.first(X_FIELDS)),
            a=describe_number(parsed.first(A_FIELDS)),
            b=describe_number(parsed.first(B_FIELDS)),
        )

    def operations(self) -> frozenset[str]:
        return frozenset(ACTIONS) | {"invalid"}

    async def handle(self, request: web.Request) -> web.StreamResponse:
        request_id = self.next_request_id()
        try:
            parsed = await read_request(request)
            if parsed is None:
                raise GatewayError("MissingAction", "the request names no action (x-acs-action or Action)")
            return self._serve(request, parsed, request_id)
        except GatewayError as error:
            return _json(error.body(request_id), status=error.status, headers=error.headers())

    async def authenticate(self, request: web.Request) -> web.Response | None:
        request_id = self.next_request_id()
        try:
            parsed = await read_request(request)
            if parsed is None:
                raise GatewayError("MissingAction", "the request names no action (x-acs-action or Action)")
            self._authenticate(request, parsed)
        except GatewayError as error:
            return _json(error.body(request_id), status=error.status, headers=error.headers())
        return None

    def fault_response(self, status: int, info: RequestInfo, retry_after: float | None = None) -> web.Response:
        error = fault_error(status, retry_after)
        return _json(error.body(self.next_request_id()), status=status, headers=error.headers())

    def push_messages(self, event: LedgerEvent) -> list[PushMessage]:
        if event.kind != "call":
            return []
        call = event.payload
        pool_key, extra = None, {}
        try:
            if call.get("binding_id"):  # the event fires while the call's binding still stands
                binding = self.ledger.binding(call["binding_id"])
                pool_key, extra = binding.pool_key, binding.extra
            else:
                pool_key = self.ledger.number(call["x"]).pool_key
        except LedgerError:
            return []
        return [m for account in self.accounts.values() for m in call_reports(call, pool_key, extra, account)]

    # ---- serving -------------------------------------------------------------------

    def _serve(self, request: web.Request, parsed: AliyunRequest, request_id: str) -> web.Response:
        if parsed.version != VERSION:
            raise version_error(parsed.version)
        handler = ACTIONS.get(parsed.action)
        if handler is None:
            raise GatewayError(
                "InvalidAction.NotFound",
                f"Specified api {short_repr(parsed.action)} is not found, please check your url and method.",
                status=404,
            )
        account = self._authenticate(request, parsed)
        params = parse_params(parsed.action, parsed.business_params())
        try:
            result = handler(ActionContext(self.ledger, account), params)
        except (LedgerError, BusinessError) as error:
            refusal = business_error(parsed.action, error)
            return _json(envelope_error(parsed.action, request_id, refusal.code, refusal.message))
        _tell_journal_x(request, result)
        return _json(envelope_ok(parsed.action, request_id, result))

    def _authenticate(self, request: web.Request, parsed: AliyunRequest) -> AliyunCredentials:
        now = self.ledger.clock.now()
        try:
            if parsed.rpc:
                params = parsed.params
                account = self._account(params.get("AccessKeyId"))
                signing.verify_rpc(method=request.method, params=parsed.query + parsed.form, secret=account.access_key_secret)
                nonce, stamp = params.get("SignatureNonce", ""), params.get("Timestamp", "")
            else:
                header = request.headers.get("Authorization")
                if not header:
                    raise signing.SignatureError("IncompleteSignature", "the request carries no Authorization and no Signature")
                auth = signing.parse_acs3_authorization(header)
                account = self._account(auth.access_key_id)
                headers = {k.lower(): request.headers.getall(k) for k in request.headers}
                signing.verify_acs3(
                    method=request.method,
                    query=parsed.query,
                    headers=headers,
                    body=parsed.body,
                    authorization=auth,
                    secret=account.access_key_secret,
                )
                nonce = request.headers.get("x-acs-signature-nonce", "")
                stamp = request.headers.get("x-acs-date", "")
            try:
                signed_at = signing.parse_timestamp(stamp)
            except ValueError:
                raise signing.SignatureError("InvalidTimeStamp.Format", f"time stamp {short_repr(stamp)} is not yyyy-MM-ddTHH:mm:ssZ") from None
            self.replay_guard.check(account.access_key_id, nonce, signed_at, now)
        except signing.SignatureError as error:
            raise GatewayError(error.code, error.message, status=error.status) from None
        return account

    def _account(self, access_key_id: str | None) -> AliyunCredentials:
        account = self.accounts.get(access_key_id or "")
        if account is None:
            raise signing.SignatureError(
                "InvalidAccessKeyId.NotFound", f"Specified access key {short_repr(access_key_id)} is not found.", status=404
            )
        return account

    def next_request_id(self) -> str:
        """Deterministic, UUID-shaped: seed and a per-dialect counter, never uuid4."""
        self._requests += 1
        h = hashlib.sha256(f"aliyun:{self.config.seed}:{self._requests}".encode()).hexdigest().upper()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def _known(action: str | None) -> str:
    """The action as faults, journal and metrics name it: one dyplsapi serves, else "invalid" (a closed set)."""
    return action if action in ACTIONS else "invalid"


def _cannot_be_aliyun(request: web.Request) -> bool:
    """True when no reading of the request could find an Aliyun action: no x-acs-action header, no `Action`
    in the query (nor anything percent-encoded that might spell it), and no form body. Other dialects'
    requests on `/` (Tencent's JSON POSTs) are told apart without parsing anything."""
    query = request.query_string
    return ("x-acs-action" not in request.headers and "Action" not in query and "%" not in query
            and request.content_type != FORM)


def _action_named(request: web.Request) -> str | None:
    """The action a request names in its header or query, without reading the body."""
    query = dict(parse_qsl(request.query_string, keep_blank_values=True))
    if request.headers.get("x-acs-action"):
        return request.headers["x-acs-action"]
    if query.get("Action") and query.get("Version") == VERSION:
        return query["Action"]
    return None


_PARSED = "aliyun_request"  # read_request's answer, kept on the request: describe() and handle() both ask


async def read_request(request: web.Request) -> AliyunRequest | None:
    """This dialect's view of a request, or None if it is not an Aliyun dyplsapi request.

    Raises GatewayError for a body it cannot read (describe() falls back to `_action_named`)."""
    parsed = kept(request, _PARSED, UNSET)
    if parsed is not UNSET:
        return parsed
    parsed = await _read_request(request)
    request[_PARSED] = parsed
    return parsed


async def _read_request(request: web.Request) -> AliyunRequest | None:
    query = parse_qsl(request.query_string, keep_blank_values=True)
    body = await read_body(request)
    if body is None:
        if _action_named(request) is None:
            return None  # not recognisably ours (an RPC form names its action in the body it could not read)
        raise GatewayError("RequestEntityTooLarge", f"the request body is larger than {request.client_max_size} "
                           "bytes", status=413)
    form: list[tuple[str, str]] = []
    if body and request.content_type == FORM:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise GatewayError("InvalidParameter", "the form body is not UTF-8") from None
        form = parse_qsl(text, keep_blank_values=True)
    params = dict(query + form)
    rpc = "Signature" in params
    action = request.headers.get("x-acs-action")
    if action:
        version = request.headers.get("x-acs-version") or params.get("Version")
    elif params.get("Action") and params.get("Version") == VERSION:
        action, version = params["Action"], VERSION
    else:
        return None
    if rpc:  # RPC v1 names its action in the parameters; a differing header would be unsigned
        action = params.get("Action") or action
    return AliyunRequest(action=action, version=version, query=query, form=form, body=body, rpc=rpc)


def _tell_journal_x(request: web.Request, result: dict[str, Any]) -> None:
    """A bind without PhoneNoX (or a purchase) learns its X from the ledger; the journal reads request[INFO] last."""
    info: RequestInfo | None = kept(request, INFO)
    if info is None or info.x is not None:
        return
    for holder, field in (("SecretBindDTO", "SecretNo"), ("SecretBuyInfoDTO", "SecretNo")):
        x = (result.get(holder) or {}).get(field)
        if x:
            request[INFO] = dataclasses.replace(info, x=x)
            return


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=_ENCODER.encode(body).encode("utf-8"),
        status=status,
        headers={"Content-Type": "application/json;charset=utf-8", **(headers or {})},
    )
