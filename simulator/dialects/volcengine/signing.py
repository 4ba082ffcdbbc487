"""Volcengine's HMAC-SHA256 (V4 style) request signature, as pure functions.

The SDK (volcengine/auth/SignerV4.py) signs `Content-Type`, `Host` and every
`X-*` header it sends (`X-Date`, `X-Content-Sha256`), the sorted query, and the
body's SHA-256; the scope is `<yyyymmdd>/<region>/<service>/request` and the key
is derived from the bare secret (no prefix, unlike AWS's "AWS4"). Nothing here
reads a clock or a request object; the same functions sign and verify.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Mapping
from urllib.parse import quote

ALGORITHM = "HMAC-SHA256"
SERVICE = "vms"
REGION = "cn-north-1"
X_DATE_FORMAT = "%Y%m%dT%H%M%SZ"

_AUTHORIZATION = re.compile(
    r"^HMAC-SHA256 Credential=(?P<access_key_id>[^/,\s]+)/(?P<date>\d{8})/(?P<region>[^/,\s]+)/(?P<service>[^/,\s]+)"
    r"/request,\s*SignedHeaders=(?P<signed_headers>[a-z0-9;\-]+),\s*Signature=(?P<signature>[0-9a-f]{64})$"
)


class MalformedAuthorization(ValueError):
    """The Authorization header is not a credential the gateway can parse."""


@dataclass(frozen=True)
class Authorization:
    access_key_id: str
    date: str  # yyyymmdd
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str


def parse_authorization(header: str) -> Authorization:
    match = _AUTHORIZATION.match(header.strip())
    if not match:
        raise MalformedAuthorization(
            "Authorization must be 'HMAC-SHA256 Credential=<AccessKeyId>/<yyyymmdd>/<region>/<service>/request, "
            "SignedHeaders=<h1;h2>, Signature=<64 hex>'"
        )
    return Authorization(
        access_key_id=match["access_key_id"],
        date=match["date"],
        region=match["region"],
        service=match["service"],
        signed_headers=tuple(match["signed_headers"].split(";")),
        signature=match["signature"],
    )


def x_date(at: float) -> str:
    return datetime.fromtimestamp(at, tz=timezone.utc).strftime(X_DATE_FORMAT)


def parse_x_date(value: str) -> float:
    """Unix seconds of an `X-Date`; ValueError when it is not `yyyymmddThhmmssZ`."""
    return datetime.strptime(value, X_DATE_FORMAT).replace(tzinfo=timezone.utc).timestamp()


def canonical_query(pairs: list[tuple[str, str]]) -> str:
    """Sorted by name (stable for repeats), each side percent-encoded except `-_.~`."""
    ordered = sorted(pairs, key=lambda kv: kv[0])
    return "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in ordered)


def canonical_request(
    method: str, path: str, query: str, headers: Mapping[str, str], signed_headers: tuple[str, ...], body: bytes
) -> str:
    """`headers` maps lower-case names to values as sent (the SDK neither trims nor lower-cases values)."""
    canonical_headers = "".join(f"{name}:{headers.get(name, '')}\n" for name in signed_headers)
    return "\n".join(
        [method.upper(), quote(path or "/", safe="/~"), query, canonical_headers, ";".join(signed_headers),
         hashlib.sha256(body).hexdigest()]
    )


def string_to_sign(date_time: str, scope: str, canonical: str) -> str:
    return "\n".join([ALGORITHM, date_time, scope, hashlib.sha256(canonical.encode()).hexdigest()])


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = hmac.new(secret.encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, "request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def signature(secret: str, date: str, region: str, service: str, to_sign: str) -> str:
    return hmac.new(signing_key(secret, date, region, service), to_sign.encode(), hashlib.sha256).hexdigest()


def same_signature(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.encode())
