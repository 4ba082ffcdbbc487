"""Who may use an admin API (the provider's `/_admin/*` and `/metrics`, the core's `/_admin/*`), decided
before the handler runs. Pure: a request's headers and addresses in, a refusal (or None) out.

The threat is a web page open in the developer's browser: it can send "simple" requests (a form POST,
`text/plain`, no preflight) to 127.0.0.1, and through DNS rebinding read answers under a foreign host
name. So, in order:
1. the peer must be loopback (unless `allow_public`): 403 ADMIN_FORBIDDEN;
2. the Host header must name the address the server answered on (its socket's address; `localhost`
   and the loopback addresses when that is loopback) or one of `allowed_hosts`: 403 HOST_REFUSED;
3. an Origin header (browsers send one on every cross-site write) must name such a host too, and a
   `Sec-Fetch-Site: cross-site` request is refused: 403 ORIGIN_REFUSED;
4. with a token set, `Authorization: Bearer <token>` is required: 401 ADMIN_UNAUTHORIZED;
5. a write (POST, PUT, PATCH, DELETE) that carries a body must say `Content-Type: application/json`
   (a browser cannot send that cross-site without a CORS preflight, and no admin API answers one): 415.
   A bodiless write (`curl -XPOST .../reset`) passes whatever its Content-Type: a browser sends an
   Origin with every cross-site write, and step 3 refuses it.
"""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass
from typing import Mapping
from urllib.parse import urlsplit

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


@dataclass(frozen=True)
class Refusal:
    status: int
    code: str
    message: str
    headers: tuple[tuple[str, str], ...] = ()

    def body(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True)
class AdminGate:
    allowed_hosts: tuple[str, ...] = ()  # extra host names (no port) the admin API answers to
    token: str | None = None  # bearer token required when set (never logged)
    allow_public: bool = False  # peers that are not loopback may use it (still Host/Origin/token checked)

    def refusal(self, method: str, headers: Mapping[str, str], peer: str | None, local: str | None,
                has_body: bool) -> Refusal | None:
        """Why this request may not use the admin API, or None. `peer` and `local` are the connection's
        remote and local IP addresses; `headers` is case-insensitive (aiohttp's CIMultiDict)."""
        if not self.allow_public and not is_loopback(peer):
            return Refusal(403, "ADMIN_FORBIDDEN", "the admin API answers loopback clients only (allow_public_admin)")
        accepted = self._accepted_hosts(local)
        host = headers.get("Host")
        if host is not None and _hostname(host) not in accepted:
            return Refusal(403, "HOST_REFUSED", f"Host {_short(host)} is not an address this server answers to "
                                                "(add it to allowed_hosts)")
        origin = headers.get("Origin")
        if origin is not None and _origin_host(origin) not in accepted:
            return Refusal(403, "ORIGIN_REFUSED", f"cross-site request from Origin {_short(origin)} refused")
        if headers.get("Sec-Fetch-Site", "").lower() == "cross-site":
            return Refusal(403, "ORIGIN_REFUSED", "cross-site request refused (Sec-Fetch-Site: cross-site)")
        if self.token and not _bearer_matches(headers.get("Authorization", ""), self.token):
            return Refusal(401, "ADMIN_UNAUTHORIZED", "the admin API needs Authorization: Bearer <admin token>",
                           (("WWW-Authenticate", 'Bearer realm="pstnsim admin"'),))
        content_type = headers.get("Content-Type")
        if method in WRITE_METHODS and has_body and not is_json_type(content_type):
            return Refusal(415, "UNSUPPORTED_MEDIA_TYPE",
                           f"admin writes take Content-Type: application/json, not {_short(content_type or 'none')}")
        return None

    def _accepted_hosts(self, local: str | None) -> frozenset[str]:
        names = {h.lower().strip("[]") for h in self.allowed_hosts}
        if local:
            names.add(local.split("%")[0].lower())
            if is_loopback(local):
                names |= LOOPBACK_NAMES
        return frozenset(names)


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0].strip("[]")).is_loopback
    except ValueError:
        return False


def is_json_type(content_type: str | None) -> bool:
    """`application/json` or `application/<something>+json`, parameters (charset) allowed."""
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _hostname(host: str) -> str:
    """`name`, `name:port`, `[v6]:port` -> the name, lower case, brackets off."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    if host.count(":") == 1:
        return host.split(":", 1)[0]
    return host


def _origin_host(origin: str) -> str | None:
    try:
        parts = urlsplit(origin.strip())
    except ValueError:
        return None
    if parts.scheme not in ("http", "https"):
        return None  # "null" (sandboxed pages, file:), extensions...
    return (parts.hostname or "").lower() or None


def _bearer_matches(header: str, token: str) -> bool:
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def _short(value: str, limit: int = 60) -> str:
    return repr(value if len(value) <= limit else value[:limit] + "...")
