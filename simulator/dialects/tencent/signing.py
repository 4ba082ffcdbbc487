"""Tencent Cloud API signatures, as pure functions: TC3-HMAC-SHA256 and the legacy HmacSHA1/HmacSHA256.

Nothing here reads a clock or a request object: callers pass the pieces that are
signed, and get back the signature the sender should have computed. The same
functions sign (a client) and verify (the simulator compares with
`hmac.compare_digest`).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Mapping

TC3_ALGORITHM = "TC3-HMAC-SHA256"
SERVICE = "npp"
LEGACY_METHODS = {"HmacSHA1": hashlib.sha1, "HmacSHA256": hashlib.sha256}

_TC3_AUTHORIZATION = re.compile(
    r"^TC3-HMAC-SHA256 Credential=(?P<secret_id>[^/,\s]+)/(?P<date>\d{4}-\d{2}-\d{2})/(?P<service>[^/,\s]+)/tc3_request,"
    r"\s*SignedHeaders=(?P<signed_headers>[a-z0-9;\-]+),\s*Signature=(?P<signature>[0-9a-f]{64})$"
)


class MalformedAuthorization(ValueError):
    """The Authorization header is not a TC3 credential the gateway can parse."""


@dataclass(frozen=True)
class Tc3Authorization:
    secret_id: str
    date: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str


def parse_tc3_authorization(header: str) -> Tc3Authorization:
    match = _TC3_AUTHORIZATION.match(header.strip())
    if not match:
        raise MalformedAuthorization(
            "Authorization must be 'TC3-HMAC-SHA256 Credential=<SecretId>/<date>/<service>/tc3_request, "
            "SignedHeaders=<h1;h2>, Signature=<64 hex>'"
        )
    return Tc3Authorization(
        secret_id=match["secret_id"],
        date=match["date"],
        service=match["service"],
        signed_headers=tuple(match["signed_headers"].split(";")),
        signature=match["signature"],
    )


@functools.lru_cache(maxsize=64)
def _utc_day(day: int) -> str:
    return datetime.fromtimestamp(day * 86400, tz=timezone.utc).strftime("%Y-%m-%d")


def utc_date(timestamp: int) -> str:
    """The credential-scope date of a request: the UTC day of its X-TC-Timestamp."""
    return _utc_day(int(timestamp // 86400))


def tc3_canonical_request(
    method: str,
    canonical_query: str,
    headers: Mapping[str, str],
    signed_headers: tuple[str, ...],
    payload: bytes | str,
) -> str:
    """METHOD, `/`, the query (raw as sent for GET, empty for POST), signed headers, and the payload hash.

    `headers` maps lower-case names to values; `payload` is the body bytes, or the
    literal "UNSIGNED-PAYLOAD" when the sender said so.
    """
    if isinstance(payload, str):
        payload = payload.encode()
    # Tencent's spec: header names and values lower-cased and stripped (the SDK's values already are).
    canonical_headers = "".join(f"{name}:{headers.get(name, '').strip().lower()}\n" for name in signed_headers)
    return "\n".join(
        [
            method.upper(),
            "/",
            canonical_query,
            canonical_headers,
            ";".join(signed_headers),
            hashlib.sha256(payload).hexdigest(),
        ]
    )


def tc3_string_to_sign(timestamp: int, date: str, service: str, canonical_request: str) -> str:
    digest = hashlib.sha256(canonical_request.encode()).hexdigest()
    return f"{TC3_ALGORITHM}\n{timestamp}\n{date}/{service}/tc3_request\n{digest}"


def tc3_signature(secret_key: str, date: str, service: str, string_to_sign: str) -> str:
    """hex(HMAC-SHA256(kSigning, string to sign)), kSigning derived from "TC3"+key, date, service, "tc3_request"."""
    return hmac.new(_tc3_signing_key(secret_key, date, service), string_to_sign.encode(), hashlib.sha256).hexdigest()


@functools.lru_cache(maxsize=256)
def _tc3_signing_key(secret_key: str, date: str, service: str) -> bytes:
    """kSigning changes once a day per key: derived once (three HMACs), not on every request."""
    k_date = hmac.new(("TC3" + secret_key).encode(), date.encode(), hashlib.sha256).digest()
    k_service = hmac.new(k_date, service.encode(), hashlib.sha256).digest()
    return hmac.new(k_service, b"tc3_request", hashlib.sha256).digest()


def tc3_authorization(secret_id: str, secret_key: str, timestamp: int, canonical_request: str, service: str = SERVICE) -> str:
    """The Authorization header a client sends for `canonical_request` (signed headers content-type;host)."""
    date = utc_date(timestamp)
    signature = tc3_signature(secret_key, date, service, tc3_string_to_sign(timestamp, date, service, canonical_request))
    return f"{TC3_ALGORITHM} Credential={secret_id}/{date}/{service}/tc3_request, SignedHeaders=content-type;host, Signature={signature}"


def legacy_string_to_sign(method: str, host: str, params: Mapping[str, str]) -> str:
    """`METHOD` + host + `/?` + sorted `k=v` with raw (un-encoded) values; `_` in keys read as `.`."""
    flat = {k.replace("_", "."): v for k, v in params.items() if k != "Signature"}
    query = "&".join(f"{k}={flat[k]}" for k in sorted(flat))
    return f"{method.upper()}{host}/?{query}"


def legacy_signature(secret_key: str, string_to_sign: str, method: str) -> str:
    """base64(HMAC-SHAx(SecretKey, string to sign)); `method` is HmacSHA1 or HmacSHA256."""
    digest = hmac.new(secret_key.encode(), string_to_sign.encode(), LEGACY_METHODS[method]).digest()
    return base64.b64encode(digest).decode()


def same_signature(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.encode())
