"""The gateway's authentication: which key signed, is the request fresh, is it replayed, does the signature hold.

Time is the provider's clock (`ledger.clock.now`), so a stale request is stale in
virtual time too. TC3 carries no nonce (only the timestamp window protects it, as
at Tencent); the legacy form's `Nonce` is remembered for the window and refused
if reused.
"""

from __future__ import annotations

import heapq
from typing import Callable, Iterable

from ...errors import short_repr
from ...config import TencentCredentials
from . import signing
from .errors import (
    INVALID_AUTHORIZATION,
    MISSING_PARAMETER,
    SECRET_ID_NOT_FOUND,
    SIGNATURE_EXPIRE,
    SIGNATURE_FAILURE,
    GatewayError,
)
from .wire import WireRequest, legacy_signed_params

# Tencent refuses a timestamp more than five minutes away from its own clock.
MAX_SKEW_SECONDS = 300


class NonceMemory:
    """Nonces seen in the last window, per SecretId; forgotten once a replay would be stale anyway."""

    def __init__(self) -> None:
        self._seen: set[tuple[str, str]] = set()
        self._expiry: list[tuple[float, tuple[str, str]]] = []

    def remember(self, secret_id: str, nonce: str, forget_at: float, now: float) -> bool:
        """False if the nonce was already used (a replay); otherwise remember it."""
        while self._expiry and self._expiry[0][0] <= now:
            _, key = heapq.heappop(self._expiry)
            self._seen.discard(key)
        key = (secret_id, nonce)
        if key in self._seen:
            return False
        self._seen.add(key)
        heapq.heappush(self._expiry, (forget_at, key))
        return True


class Authenticator:
    def __init__(self, credentials: Iterable[TencentCredentials], now: Callable[[], float]) -> None:
        self._keys = {c.secret_id: c for c in credentials}
        self._now = now
        self._nonces = NonceMemory()

    def authenticate(self, wire: WireRequest) -> TencentCredentials:
        """The credentials that signed `wire`, or a GatewayError the SDK raises as the real one."""
        if wire.scheme == "tc3":
            return self._tc3(wire)
        return self._legacy(wire)

    def _credentials(self, secret_id: str) -> TencentCredentials:
        found = self._keys.get(secret_id)
        if found is None:
            raise GatewayError(SECRET_ID_NOT_FOUND, f"the SecretId {short_repr(secret_id)} is not found, please check it")
        return found

    def _timestamp(self, raw: str | None, name: str) -> int:
        if not raw:
            raise GatewayError(MISSING_PARAMETER, f"the parameter {name} is required")
        try:
            timestamp = int(raw)
        except ValueError:
            raise GatewayError(INVALID_AUTHORIZATION, f"{name} must be unix seconds, got {short_repr(raw)}") from None
        skew = timestamp - self._now()
        if abs(skew) > MAX_SKEW_SECONDS:
            raise GatewayError(
                SIGNATURE_EXPIRE,
                f"the signature expired: {name} {timestamp} is {skew:+.0f} s from server time "
                f"(more than {MAX_SKEW_SECONDS} s)",
            )
        return timestamp

    def _tc3(self, wire: WireRequest) -> TencentCredentials:
        header = wire.headers.get("authorization", "")
        try:
            auth = signing.parse_tc3_authorization(header)
        except signing.MalformedAuthorization as exc:
            raise GatewayError(INVALID_AUTHORIZATION, str(exc)) from None
        credentials = self._credentials(auth.secret_id)
        timestamp = self._timestamp(wire.headers.get("x-tc-timestamp"), "X-TC-Timestamp")
        if auth.date != signing.utc_date(timestamp):
            raise GatewayError(
                SIGNATURE_FAILURE, f"the credential date {auth.date} is not the UTC date of X-TC-Timestamp {timestamp}"
            )
        if auth.service != signing.SERVICE:
            raise GatewayError(SIGNATURE_FAILURE, f"the credential scope names service {short_repr(auth.service)}, expected 'npp'")
        if not {"content-type", "host"} <= set(auth.signed_headers):
            raise GatewayError(INVALID_AUTHORIZATION, "SignedHeaders must include content-type and host")
        if wire.headers.get("x-tc-content-sha256") == "UNSIGNED-PAYLOAD":
            payload: bytes | str = "UNSIGNED-PAYLOAD"
        else:
            payload = b"" if wire.method == "GET" else wire.body
        canonical_query = wire.raw_query if wire.method == "GET" else ""
        canonical = signing.tc3_canonical_request(wire.method, canonical_query, wire.headers, auth.signed_headers, payload)
        string_to_sign = signing.tc3_string_to_sign(timestamp, auth.date, auth.service, canonical)
        expected = signing.tc3_signature(credentials.secret_key, auth.date, auth.service, string_to_sign)
        if not signing.same_signature(expected, auth.signature):
            raise GatewayError(
                SIGNATURE_FAILURE, "the provided credentials could not be validated: the TC3 signature does not match"
            )
        return credentials

    def _legacy(self, wire: WireRequest) -> TencentCredentials:
        params = legacy_signed_params(wire)
        for name in ("SecretId", "Signature", "Nonce"):
            if not params.get(name):
                raise GatewayError(MISSING_PARAMETER, f"the parameter {name} is required")
        credentials = self._credentials(params["SecretId"])
        timestamp = self._timestamp(params.get("Timestamp"), "Timestamp")
        method = params.get("SignatureMethod") or "HmacSHA1"
        if method not in signing.LEGACY_METHODS:
            raise GatewayError(INVALID_AUTHORIZATION, f"SignatureMethod must be HmacSHA1 or HmacSHA256, got {short_repr(method)}")
        string_to_sign = signing.legacy_string_to_sign(wire.method, wire.host, params)
        expected = signing.legacy_signature(credentials.secret_key, string_to_sign, method)
        if not signing.same_signature(expected, params["Signature"]):
            raise GatewayError(
                SIGNATURE_FAILURE, f"the provided credentials could not be validated: the {method} signature does not match"
            )
        now = self._now()
        if not self._nonces.remember(credentials.secret_id, params["Nonce"], max(now, timestamp) + MAX_SKEW_SECONDS, now):
            raise GatewayError(SIGNATURE_FAILURE, f"the Nonce {params['Nonce']} has already been used (replayed request)")
        return credentials
