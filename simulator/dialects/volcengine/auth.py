"""The gateway's authentication: which key signed, is the request fresh, does the signature hold.

Time is the provider's clock (`ledger.clock.now`), so a stale request is stale in
virtual time too. The V4 signature carries no nonce: only the X-Date window
protects against a replay, as at Volcengine.
"""

from __future__ import annotations

from typing import Callable, Iterable

from ...config import VolcengineCredentials
from ...errors import short_repr
from . import signing
from .errors import (
    INVALID_ACCESS_KEY,
    INVALID_TIMESTAMP,
    MISSING_AUTHENTICATION,
    SIGNATURE_DOES_NOT_MATCH,
    VolcError,
)
from .wire import WireRequest

# pstnsim refuses an X-Date more than fifteen minutes from its own clock.
MAX_SKEW_SECONDS = 900
REQUIRED_SIGNED = frozenset({"host", "x-date"})


class Authenticator:
    def __init__(self, credentials: Iterable[VolcengineCredentials], now: Callable[[], float]) -> None:
        self._keys = {c.access_key_id: c for c in credentials}
        self._now = now

    def authenticate(self, wire: WireRequest) -> VolcengineCredentials:
        """The credentials that signed `wire`, or the VolcError the gateway answers with."""
        header = wire.headers.get("authorization", "")
        if not header:
            raise VolcError(MISSING_AUTHENTICATION, "Request is missing Authentication Token.", 401)
        try:
            auth = signing.parse_authorization(header)
        except signing.MalformedAuthorization as exc:
            raise VolcError(MISSING_AUTHENTICATION, str(exc), 401) from None
        credentials = self._keys.get(auth.access_key_id)
        if credentials is None:
            raise VolcError(INVALID_ACCESS_KEY, f"The accesskey {short_repr(auth.access_key_id)} included in the "
                            "request is invalid.", 401)
        raw_date = wire.headers.get("x-date", "")
        try:
            at = signing.parse_x_date(raw_date)
        except ValueError:
            raise VolcError(INVALID_TIMESTAMP, f"X-Date must be yyyymmddThhmmssZ, got {short_repr(raw_date)}", 401) from None
        skew = at - self._now()
        if abs(skew) > MAX_SKEW_SECONDS:
            raise VolcError(INVALID_TIMESTAMP, f"The signature of the request is expired: X-Date {raw_date} is "
                            f"{skew:+.0f} s from server time (more than {MAX_SKEW_SECONDS} s)", 401)
        if auth.date != raw_date[:8] or auth.region != signing.REGION or auth.service != signing.SERVICE:
            raise VolcError(SIGNATURE_DOES_NOT_MATCH, f"the credential scope {auth.date}/{auth.region}/{auth.service} "
                            f"must be {raw_date[:8]}/{signing.REGION}/{signing.SERVICE}", 401)
        if not REQUIRED_SIGNED <= set(auth.signed_headers):
            raise VolcError(SIGNATURE_DOES_NOT_MATCH, "SignedHeaders must include host and x-date", 401)
        canonical = signing.canonical_request(wire.method, wire.path, signing.canonical_query(wire.query),
                                              wire.headers, auth.signed_headers, wire.body)
        scope = f"{auth.date}/{auth.region}/{auth.service}/request"
        expected = signing.signature(credentials.secret_access_key, auth.date, auth.region, auth.service,
                                     signing.string_to_sign(raw_date, scope, canonical))
        if not signing.same_signature(expected, auth.signature):
            raise VolcError(SIGNATURE_DOES_NOT_MATCH, "The request signature we calculated does not match the "
                            "signature you provided. Check your Secret Access Key and signing method.", 401)
        return credentials
