"""Aliyun POP request signatures: ACS3-HMAC-SHA256 and RPC v1 HMAC-SHA1, both ways (sign and verify).

Pure functions and one small replay memory; no HTTP and no clock of its own. The
server side verifies what the vendor SDKs send (docs/aliyun.md, "Credentials"); the client
side (`sign_acs3`, `sign_rpc`) is what pstnsim's own clients use, since SDKs are
test-only. Times are epoch seconds passed in by the caller (the provider clock).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterable, Mapping

from ...errors import short_repr

ACS3 = "ACS3-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
# Signed by the SDK in this order (sorted); a server accepts any list that includes these.
ACS3_SIGNED_HEADERS = (
    "host",
    "x-acs-action",
    "x-acs-content-sha256",
    "x-acs-date",
    "x-acs-signature-nonce",
    "x-acs-version",
)
# Query keys that are RPC v1 envelope, not business parameters.
RPC_COMMON_KEYS = frozenset(
    {
        "Action",
        "Version",
        "Format",
        "Timestamp",
        "SignatureNonce",
        "SignatureMethod",
        "SignatureVersion",
        "SignatureType",
        "AccessKeyId",
        "Signature",
        "SecurityToken",
        "RegionId",
    }
)
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


class SignatureError(Exception):
    """A request whose signature cannot be accepted. `code` is the POP gateway error code."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def percent_encode(value: str) -> str:
    """RFC 3986 encoding as POP canonicalises: everything but unreserved characters, `~` kept."""
    if _UNRESERVED.fullmatch(value):  # most keys and values: nothing to encode
        return value
    return "".join(map(_ENCODED_BYTE.__getitem__, value.encode("utf-8")))  # what quote() gives, byte by byte


_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*")
_ENCODED_BYTE = tuple(chr(b) if _UNRESERVED.fullmatch(chr(b)) else f"%{b:02X}" for b in range(256))


def canonical_query(params: Iterable[tuple[str, str]]) -> str:
    """ACS3: decoded pairs sorted by key, `key=enc(value)`; never the raw query string."""
    return "&".join(f"{k}={percent_encode(v)}" for k, v in sorted(params, key=lambda kv: kv[0]))


def parse_timestamp(value: str) -> float:
    """`2026-01-01T00:00:00Z` -> epoch seconds; ValueError if malformed."""
    exact = _TIMESTAMP.fullmatch(value)
    if exact:  # the form every SDK sends, without strptime's cost; datetime still checks the ranges
        return datetime(*map(int, exact.groups()), tzinfo=timezone.utc).timestamp()  # type: ignore[misc]
    return datetime.strptime(value, TIMESTAMP_FORMAT).replace(tzinfo=timezone.utc).timestamp()


_TIMESTAMP = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})Z")


def format_timestamp(at: float) -> str:
    return datetime.fromtimestamp(at, tz=timezone.utc).strftime(TIMESTAMP_FORMAT)


# ---- ACS3-HMAC-SHA256 -----------------------------------------------------


@dataclass(frozen=True)
class Acs3Authorization:
    access_key_id: str
    signed_headers: tuple[str, ...]
    signature: str


def parse_acs3_authorization(header: str) -> Acs3Authorization:
    """`ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=a;b,Signature=hex` (spaces after commas tolerated)."""
    scheme, _, rest = header.strip().partition(" ")
    if scheme != ACS3:
        raise SignatureError("IncompleteSignature", f"unsupported signature algorithm {short_repr(scheme)}; expected {ACS3}")
    fields: dict[str, str] = {}
    for part in rest.split(","):
        key, sep, value = part.strip().partition("=")
        if sep:
            fields[key] = value
    missing = [k for k in ("Credential", "SignedHeaders", "Signature") if not fields.get(k)]
    if missing:
        raise SignatureError("IncompleteSignature", f"Authorization header lacks {', '.join(missing)}")
    signed = tuple(h.strip().lower() for h in fields["SignedHeaders"].split(";") if h.strip())
    return Acs3Authorization(fields["Credential"], signed, fields["Signature"].lower())


def acs3_canonical_request(
    method: str,
    query: Iterable[tuple[str, str]],
    headers: Mapping[str, list[str]],
    signed_headers: Iterable[str],
    payload_hash: str,
) -> str:
    """`headers` maps lower-case names to all their values; multi-valued headers join sorted with `,`."""
    names = list(signed_headers)
    block = "".join(f"{n}:{','.join(sorted(v.strip() for v in headers.get(n, [])))}\n" for n in names)
    return f"{method.upper()}\n/\n{canonical_query(query)}\n{block}\n{';'.join(names)}\n{payload_hash}"


def acs3_string_to_sign(canonical_request: str) -> str:
    return f"{ACS3}\n{hashlib.sha256(canonical_request.encode('utf-8')).hexdigest()}"


def acs3_signature(secret: str, string_to_sign: str) -> str:
    return hmac.new(secret.encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def verify_acs3(
    *,
    method: str,
    query: list[tuple[str, str]],
    headers: Mapping[str, list[str]],
    body: bytes,
    authorization: Acs3Authorization,
    secret: str,
) -> None:
    """Raise SignatureError unless the request is signed with `secret` over the parts that matter."""
    unsigned = [h for h in ("host", "x-acs-action", "x-acs-date", "x-acs-signature-nonce") if h not in authorization.signed_headers]
    if unsigned:
        raise SignatureError("IncompleteSignature", f"SignedHeaders must include {', '.join(unsigned)}")
    declared = (headers.get("x-acs-content-sha256") or [""])[0]
    if declared != hashlib.sha256(body).hexdigest():
        raise SignatureError("SignatureDoesNotMatch", "x-acs-content-sha256 does not match the request body")
    canonical = acs3_canonical_request(method, query, headers, authorization.signed_headers, declared)
    string_to_sign = acs3_string_to_sign(canonical)
    expected = acs3_signature(secret, string_to_sign)
    if not hmac.compare_digest(expected, authorization.signature):
        raise SignatureError(
            "SignatureDoesNotMatch",
            "The request signature does not conform to Aliyun standards. server string to sign is:"
            + string_to_sign.replace("\n", "\\n"),
        )


def sign_acs3(
    *,
    method: str,
    host: str,
    action: str,
    version: str,
    query: Mapping[str, str],
    access_key_id: str,
    secret: str,
    nonce: str,
    at: float,
    body: bytes = b"",
) -> dict[str, str]:
    """The headers (Authorization included) a client sends for an ACS3 request."""
    headers = {
        "host": host,
        "x-acs-action": action,
        "x-acs-content-sha256": hashlib.sha256(body).hexdigest(),
        "x-acs-date": format_timestamp(at),
        "x-acs-signature-nonce": nonce,
        "x-acs-version": version,
    }
    canonical = acs3_canonical_request(
        method, query.items(), {k: [v] for k, v in headers.items()}, ACS3_SIGNED_HEADERS, headers["x-acs-content-sha256"]
    )
    signature = acs3_signature(secret, acs3_string_to_sign(canonical))
    headers["Authorization"] = (
        f"{ACS3} Credential={access_key_id},SignedHeaders={';'.join(ACS3_SIGNED_HEADERS)},Signature={signature}"
    )
    return headers


# ---- RPC v1 HMAC-SHA1 -----------------------------------------------------


def rpc_string_to_sign(method: str, params: Iterable[tuple[str, str]]) -> str:
    """`METHOD&%2F&enc(sorted k=v joined by &)`; `Signature` itself is never part of it."""
    pairs = sorted((k, v) for k, v in params if k != "Signature")
    joined = "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in pairs)
    return f"{method.upper()}&%2F&{percent_encode(joined)}"


def rpc_signature(secret: str, string_to_sign: str) -> str:
    digest = hmac.new(f"{secret}&".encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_rpc(*, method: str, params: list[tuple[str, str]], secret: str) -> None:
    given = dict(params)
    if given.get("SignatureMethod") != "HMAC-SHA1":
        raise SignatureError(
            "InvalidSignatureMethod", f"SignatureMethod {short_repr(given.get('SignatureMethod'))} is not supported; use HMAC-SHA1"
        )
    if given.get("SignatureVersion") != "1.0":
        raise SignatureError("InvalidSignatureVersion", f"SignatureVersion {short_repr(given.get('SignatureVersion'))} is not 1.0")
    string_to_sign = rpc_string_to_sign(method, params)
    expected = rpc_signature(secret, string_to_sign)
    if not hmac.compare_digest(expected, given.get("Signature", "")):
        # The old core SDK reads the string to sign after the first ':' of this message.
        raise SignatureError(
            "SignatureDoesNotMatch",
            f"Specified signature is not matched with our calculation. server string to sign is:{string_to_sign}",
        )


def sign_rpc(
    *,
    method: str,
    action: str,
    version: str,
    params: Mapping[str, str],
    access_key_id: str,
    secret: str,
    nonce: str,
    at: float,
) -> dict[str, str]:
    """All query parameters (business + envelope + Signature) of an RPC v1 request."""
    query = {
        **params,
        "Action": action,
        "Version": version,
        "Format": "JSON",
        "Timestamp": format_timestamp(at),
        "SignatureNonce": nonce,
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "AccessKeyId": access_key_id,
    }
    query["Signature"] = rpc_signature(secret, rpc_string_to_sign(method, query.items()))
    return query


# ---- replay protection ------------------------------------------------------


class ReplayGuard:
    """Refuses stale or future timestamps and nonces already seen within the window (per AccessKey)."""

    def __init__(self, window: float = 900.0) -> None:
        self.window = window
        self._seen: dict[tuple[str, str], float] = {}
        self._order: deque[tuple[float, tuple[str, str]]] = deque()  # (seen at, key), oldest first

    def check(self, access_key_id: str, nonce: str, signed_at: float, now: float) -> None:
        if not nonce:
            raise SignatureError("MissingSignatureNonce", "the request carries no signature nonce")
        if abs(now - signed_at) > self.window:
            raise SignatureError(
                "InvalidTimeStamp.Expired",
                f"Specified time stamp or date value is expired: {format_timestamp(signed_at)} is more than "
                f"{self.window:g} s from the server time {format_timestamp(now)}",
            )
        self._forget_before(now - 2 * self.window)
        key = (access_key_id, nonce)
        if key in self._seen:
            raise SignatureError("SignatureNonceUsed", f"Specified signature nonce {short_repr(nonce)} was used already")
        self._seen[key] = now
        self._order.append((now, key))

    def _forget_before(self, cutoff: float) -> None:
        # A nonce seen more than two windows ago can no longer be replayed: its timestamp would be stale.
        # Oldest first, so each request pays only for what it forgets (not a copy of every nonce kept).
        order, seen = self._order, self._seen
        while order and order[0][0] < cutoff:
            at, key = order.popleft()
            if seen.get(key) == at:
                del seen[key]

    def clear(self) -> None:
        self._seen.clear()
        self._order.clear()
