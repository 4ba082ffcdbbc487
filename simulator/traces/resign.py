"""Re-signing a vendor request for another endpoint and another key, keeping the request's own form.

Vendor signatures cover the Host header, a timestamp and (Aliyun, Tencent legacy) a nonce, so a request
signed for one endpoint cannot be forwarded to another as it is. The recording proxy re-signs what a
team's SDK sent (to the proxy, with local credentials) for the upstream, with the upstream's; `trace check`
re-signs recorded requests (whose signatures were scrubbed) for a fresh simulator with its defaults.

The form is kept: Aliyun ACS3 (Authorization header) stays ACS3 and classic RPC v1 (`Signature` among
the parameters, in the query or the form body, wherever it was) stays RPC; Tencent TC3-HMAC-SHA256 stays
TC3 and the legacy HmacSHA1/HmacSHA256 form keeps its method. The timestamp and the nonce are refreshed,
a caller's session token is dropped (it belongs to the caller's key), and the account's pool key
(Aliyun PoolKey / CustomerPoolKey) or BizAppId (Tencent) is rewritten when the credentials carry one.

Pure: no clock (`now` is passed in) and no I/O; only a fresh nonce is drawn when none is given.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from typing import Any, Mapping, Protocol
from urllib.parse import parse_qsl, urlencode

from ..dialects.aliyun import signing as aliyun_signing
from ..dialects.tencent import signing as tencent_signing
from ..dialects.volcengine import signing as volcengine_signing

# Hop-by-hop headers and those the HTTP client sets itself: never carried over.
DROPPED_HEADERS = frozenset({
    "host", "content-length", "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
    "trailer", "transfer-encoding", "upgrade",
})
# A caller's temporary-credential token is bound to the caller's key: meaningless under another.
ALIYUN_TOKEN_HEADER, ALIYUN_TOKEN_PARAM = "x-acs-security-token", "SecurityToken"
TENCENT_TOKEN_HEADER, TENCENT_TOKEN_PARAM = "x-tc-token", "Token"
# ACS3 headers a signature must cover whatever the caller signed (the simulator insists on the first four).
ACS3_REQUIRED_SIGNED = ("host", "x-acs-action", "x-acs-content-sha256", "x-acs-date", "x-acs-signature-nonce",
                        "x-acs-version")
TC3_REQUIRED_SIGNED = ("content-type", "host")
ALIYUN_POOL_PARAMS = ("PoolKey", "CustomerPoolKey")
TENCENT_APP_PARAM = "BizAppId"
VOLCENGINE_POOL_PARAM = "NumberPoolNo"
FORM = "application/x-www-form-urlencoded"


class ResignError(ValueError):
    """A request that cannot be re-signed in its dialect (no action, no recognisable form)."""


class AliyunKey(Protocol):
    """What re-signing an Aliyun request needs (simulator.config.AliyunCredentials fits)."""

    access_key_id: str
    access_key_secret: str


class TencentKey(Protocol):
    """What re-signing a Tencent request needs (simulator.config.TencentCredentials fits)."""

    secret_id: str
    secret_key: str


def resign(
    dialect: str,
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    body: bytes | str | dict | list | None,
    *,
    credentials: AliyunKey | TencentKey | None,
    host: str,
    now: float,
    nonce: str | None = None,
) -> tuple[str, dict[str, str], bytes]:
    """The (raw query string, headers, body bytes) to send to `host` instead of the request given.

    `query` is the raw (percent-encoded) query string as sent; send the one returned byte for byte (a TC3
    GET signs the raw query). `headers` come back without Content-Length and hop-by-hop headers, with
    `Host: host`. `body` may be bytes, text, or parsed JSON (a trace's), and comes back as bytes.
    `credentials` needs `access_key_id` / `access_key_secret` (Aliyun) or `secret_id` / `secret_key`
    (Tencent); an optional non-empty `pool_key` / `biz_app_id` replaces the request's. Native requests are
    not signed: only the Host changes. `now` is epoch seconds; `nonce` defaults to a fresh random one.
    """
    raw_body = _body_bytes(body)
    kept = _Headers(headers)
    kept.set("Host", host)
    if dialect == "native":
        return query, kept.as_dict(), raw_body
    if credentials is None:
        raise ResignError(f"re-signing a {dialect} request needs credentials")
    nonce = nonce or secrets.token_hex(16)
    if dialect == "aliyun":
        return _aliyun(method.upper(), query, kept, raw_body, credentials, now, nonce)
    if dialect == "tencent":
        return _tencent(method.upper(), query, kept, raw_body, credentials, host, now, nonce)
    if dialect == "volcengine":
        return _volcengine(method.upper(), path, query, kept, raw_body, credentials, now)
    raise ResignError(f"unknown dialect {dialect!r} (expected native, aliyun, tencent or volcengine)")


# ---- Aliyun ------------------------------------------------------------------------------------


def _aliyun(method: str, query: str, headers: "_Headers", body: bytes, key: Any, now: float,
            nonce: str) -> tuple[str, dict[str, str], bytes]:
    pairs = _pairs(query)
    form = _pairs(body.decode("utf-8", "replace")) if body and _is_form(headers) else None
    pool_key = getattr(key, "pool_key", None)
    if pool_key:
        pairs = _replace_values(pairs, ALIYUN_POOL_PARAMS, pool_key)
        form = None if form is None else _replace_values(form, ALIYUN_POOL_PARAMS, pool_key)
    pairs = [(k, v) for k, v in pairs if k != ALIYUN_TOKEN_PARAM]
    form = None if form is None else [(k, v) for k, v in form if k != ALIYUN_TOKEN_PARAM]
    headers.remove(ALIYUN_TOKEN_HEADER)
    if any(k == "Signature" for k, _ in pairs + (form or [])):
        return _aliyun_rpc(method, pairs, form, headers, body, key, now, nonce)
    if not headers.get("x-acs-action"):
        raise ResignError("not an Aliyun request: no x-acs-action header (ACS3) and no Signature parameter (RPC)")
    if form is not None:
        body = _encode_pairs(form).encode("utf-8")
    return _aliyun_acs3(method, pairs, headers, body, key, now, nonce)


def _aliyun_acs3(method: str, pairs: list[tuple[str, str]], headers: "_Headers", body: bytes, key: Any,
                 now: float, nonce: str) -> tuple[str, dict[str, str], bytes]:
    previous = _acs3_signed_headers(headers.get("authorization", ""))
    headers.remove("authorization")
    headers.set("x-acs-date", aliyun_signing.format_timestamp(now))
    headers.set("x-acs-signature-nonce", nonce)
    payload_hash = hashlib.sha256(body).hexdigest()
    headers.set("x-acs-content-sha256", payload_hash)
    signed = sorted({*previous, *ACS3_REQUIRED_SIGNED} & set(headers.lower_names()))
    canonical = aliyun_signing.acs3_canonical_request(method, pairs, headers.all_lower(), signed, payload_hash)
    signature = aliyun_signing.acs3_signature(key.access_key_secret, aliyun_signing.acs3_string_to_sign(canonical))
    headers.set("Authorization", f"{aliyun_signing.ACS3} Credential={key.access_key_id},"
                                 f"SignedHeaders={';'.join(signed)},Signature={signature}")
    return _encode_pairs(pairs), headers.as_dict(), body


def _acs3_signed_headers(authorization: str) -> tuple[str, ...]:
    try:
        return aliyun_signing.parse_acs3_authorization(authorization).signed_headers
    except aliyun_signing.SignatureError:  # scrubbed (`***`) in a trace, or absent
        return ()


def _aliyun_rpc(method: str, pairs: list[tuple[str, str]], form: list[tuple[str, str]] | None,
                headers: "_Headers", body: bytes, key: Any, now: float,
                nonce: str) -> tuple[str, dict[str, str], bytes]:
    envelope = {
        "AccessKeyId": key.access_key_id,
        "SignatureNonce": nonce,
        "Timestamp": aliyun_signing.format_timestamp(now),
        "SignatureMethod": "HMAC-SHA1",  # the only method RPC v1 signs with
        "SignatureVersion": "1.0",
    }
    in_form = form is not None and any(k == "Signature" for k, _ in form)
    signed_home = form if in_form and form is not None else pairs
    for name, value in envelope.items():
        if not _set_existing(pairs, name, value) and not (form is not None and _set_existing(form, name, value)):
            signed_home.append((name, value))
    everything = [(k, v) for k, v in pairs + (form or []) if k != "Signature"]
    signature = aliyun_signing.rpc_signature(key.access_key_secret, aliyun_signing.rpc_string_to_sign(method, everything))
    _set_existing(signed_home, "Signature", signature)
    if form is not None:
        body = _encode_pairs(form).encode("utf-8")
    return _encode_pairs(pairs), headers.as_dict(), body


# ---- Tencent -----------------------------------------------------------------------------------


def _tencent(method: str, query: str, headers: "_Headers", body: bytes, key: Any, host: str, now: float,
             nonce: str) -> tuple[str, dict[str, str], bytes]:
    biz_app_id = getattr(key, "biz_app_id", None)
    headers.remove(TENCENT_TOKEN_HEADER)
    if headers.get("x-tc-action"):
        if biz_app_id:
            query, body = _tencent_tc3_app(method, query, headers, body, biz_app_id)
        return _tencent_tc3(method, query, headers, body, key, now)
    pairs = _pairs(query)
    form = _pairs(body.decode("utf-8", "replace")) if method != "GET" and body else None
    if not any(k == "Action" for k, _ in pairs + (form or [])):
        raise ResignError("not a Tencent request: no X-TC-Action header (TC3) and no Action parameter (legacy)")
    if biz_app_id:
        pairs = _replace_values(pairs, (TENCENT_APP_PARAM,), biz_app_id)
        form = None if form is None else _replace_values(form, (TENCENT_APP_PARAM,), biz_app_id)
    return _tencent_legacy(method, pairs, form, headers, key, host, now, nonce)


def _tencent_tc3_app(method: str, query: str, headers: "_Headers", body: bytes,
                     biz_app_id: str) -> tuple[str, bytes]:
    """BizAppId rewritten where the TC3 request carries it: the query (GET), a JSON or a form body."""
    if method == "GET":
        pairs = _pairs(query)
        if any(k == TENCENT_APP_PARAM and v != biz_app_id for k, v in pairs):
            query = urlencode(_replace_values(pairs, (TENCENT_APP_PARAM,), biz_app_id))
        return query, body
    if _is_form(headers):
        pairs = _pairs(body.decode("utf-8", "replace"))
        if any(k == TENCENT_APP_PARAM and v != biz_app_id for k, v in pairs):
            body = urlencode(_replace_values(pairs, (TENCENT_APP_PARAM,), biz_app_id)).encode("utf-8")
        return query, body
    try:
        data = json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError, RecursionError):
        return query, body  # not ours to repair: the upstream refuses it as it would the original
    if isinstance(data, dict) and TENCENT_APP_PARAM in data and data[TENCENT_APP_PARAM] != biz_app_id:
        data[TENCENT_APP_PARAM] = biz_app_id
        body = json.dumps(data, ensure_ascii=False).encode("utf-8")
    return query, body


def _tencent_tc3(method: str, query: str, headers: "_Headers", body: bytes, key: Any,
                 now: float) -> tuple[str, dict[str, str], bytes]:
    timestamp = int(now)
    previous = _tc3_authorization(headers.get("authorization", ""))
    service = previous.service if previous else tencent_signing.SERVICE
    wanted = previous.signed_headers if previous else ()
    headers.remove("authorization")
    headers.set("X-TC-Timestamp", str(timestamp))
    lower = {name: values[0] for name, values in headers.all_lower().items()}
    signed = tuple(sorted({*wanted, *TC3_REQUIRED_SIGNED} & set(lower)))
    if headers.get("x-tc-content-sha256") == "UNSIGNED-PAYLOAD":
        payload: bytes | str = "UNSIGNED-PAYLOAD"
    else:
        payload = b"" if method == "GET" else body
    canonical_query = query if method == "GET" else ""
    canonical = tencent_signing.tc3_canonical_request(method, canonical_query, lower, signed, payload)
    date = tencent_signing.utc_date(timestamp)
    string_to_sign = tencent_signing.tc3_string_to_sign(timestamp, date, service, canonical)
    signature = tencent_signing.tc3_signature(key.secret_key, date, service, string_to_sign)
    headers.set("Authorization", f"{tencent_signing.TC3_ALGORITHM} Credential={key.secret_id}/{date}/{service}/"
                                 f"tc3_request, SignedHeaders={';'.join(signed)}, Signature={signature}")
    return query, headers.as_dict(), body


# ---- Volcengine -------------------------------------------------------------------------------


def _volcengine(method: str, path: str, query: str, headers: "_Headers", body: bytes, key: Any,
                now: float) -> tuple[str, dict[str, str], bytes]:
    """HMAC-SHA256 V4 again: a new X-Date (and X-Content-Sha256 when sent), Content-Type, Host and every X-*
    header signed, as the SDK's SignerV4 does; NumberPoolNo rewritten when the key carries a pool."""
    pairs = _pairs(query)
    if not any(k == "Action" for k, _ in pairs):
        raise ResignError("not a Volcengine request: no Action in the query")
    pool = getattr(key, "number_pool_no", None)
    if pool:
        if any(k == VOLCENGINE_POOL_PARAM and v != pool for k, v in pairs):
            pairs = _replace_values(pairs, (VOLCENGINE_POOL_PARAM,), pool)
            query = _encode_pairs(pairs)
        if method != "GET" and body and _is_form(headers):
            form = _pairs(body.decode("utf-8", "replace"))
            if any(k == VOLCENGINE_POOL_PARAM and v != pool for k, v in form):
                body = _encode_pairs(_replace_values(form, (VOLCENGINE_POOL_PARAM,), pool)).encode("utf-8")
    previous = headers.get("authorization", "")
    try:
        wanted = volcengine_signing.parse_authorization(previous).signed_headers if previous else ()
    except volcengine_signing.MalformedAuthorization:
        wanted = ()
    headers.remove("authorization")
    date_time = volcengine_signing.x_date(now)
    headers.set("X-Date", date_time)
    if headers.get("x-content-sha256"):
        headers.set("X-Content-Sha256", hashlib.sha256(body).hexdigest())
    lower = {name: values[0] for name, values in headers.all_lower().items()}
    signed = tuple(sorted(name for name in lower
                          if name in wanted or name in ("content-type", "host") or name.startswith("x-")))
    canonical = volcengine_signing.canonical_request(method, path or "/", volcengine_signing.canonical_query(pairs),
                                                     lower, signed, body)
    date = date_time[:8]
    scope = f"{date}/{volcengine_signing.REGION}/{volcengine_signing.SERVICE}/request"
    signature = volcengine_signing.signature(key.secret_access_key, date, volcengine_signing.REGION,
                                             volcengine_signing.SERVICE,
                                             volcengine_signing.string_to_sign(date_time, scope, canonical))
    headers.set("Authorization", f"{volcengine_signing.ALGORITHM} Credential={key.access_key_id}/{scope}, "
                                 f"SignedHeaders={';'.join(signed)}, Signature={signature}")
    return query, headers.as_dict(), body


def _tc3_authorization(header: str) -> tencent_signing.Tc3Authorization | None:
    try:
        return tencent_signing.parse_tc3_authorization(header)
    except tencent_signing.MalformedAuthorization:  # scrubbed (`***`) in a trace, or absent
        return None


def _tencent_legacy(method: str, pairs: list[tuple[str, str]], form: list[tuple[str, str]] | None,
                    headers: "_Headers", key: Any, host: str, now: float,
                    nonce: str) -> tuple[str, dict[str, str], bytes]:
    pairs = [(k, v) for k, v in pairs if k != TENCENT_TOKEN_PARAM]
    form = None if form is None else [(k, v) for k, v in form if k != TENCENT_TOKEN_PARAM]
    envelope = {"SecretId": key.secret_id, "Nonce": _numeric(nonce), "Timestamp": str(int(now))}
    in_form = form is not None and any(k == "Signature" for k, _ in form)
    home = form if in_form and form is not None else pairs
    for name, value in envelope.items():
        if not _set_existing(pairs, name, value) and not (form is not None and _set_existing(form, name, value)):
            home.append((name, value))
    params = dict(pairs + (form or []))
    sign_method = params.get("SignatureMethod") or "HmacSHA1"
    if sign_method not in tencent_signing.LEGACY_METHODS:
        raise ResignError(f"SignatureMethod must be HmacSHA1 or HmacSHA256, got {sign_method!r}")
    string_to_sign = tencent_signing.legacy_string_to_sign(method, host, params)
    signature = tencent_signing.legacy_signature(key.secret_key, string_to_sign, sign_method)
    if not _set_existing(home, "Signature", signature):
        home.append(("Signature", signature))
    body = urlencode(form).encode("utf-8") if form is not None else b""
    return urlencode(pairs), headers.as_dict(), body


def _numeric(nonce: str) -> str:
    """Tencent's legacy Nonce is a positive integer."""
    if nonce.isdigit():
        return nonce
    return str(int(hashlib.sha256(nonce.encode()).hexdigest()[:15], 16) or 1)


# ---- shared helpers --------------------------------------------------------------------------------


class _Headers:
    """An ordered header list edited by case-insensitive name, keeping the caller's spelling."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        self._items = [(str(k), str(v)) for k, v in headers.items() if str(k).lower() not in DROPPED_HEADERS]

    def get(self, name: str, default: str = "") -> str:
        lower = name.lower()
        return next((v for k, v in self._items if k.lower() == lower), default)

    def set(self, name: str, value: str) -> None:
        """Replace the first header of that name (dropping any others) or append one."""
        lower = name.lower()
        where = [i for i, (k, _) in enumerate(self._items) if k.lower() == lower]
        if not where:
            self._items.append((name, value))
            return
        self._items[where[0]] = (self._items[where[0]][0], value)
        for i in reversed(where[1:]):
            del self._items[i]

    def remove(self, name: str) -> None:
        lower = name.lower()
        self._items = [(k, v) for k, v in self._items if k.lower() != lower]

    def lower_names(self) -> list[str]:
        return [k.lower() for k, _ in self._items]

    def all_lower(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for k, v in self._items:
            out.setdefault(k.lower(), []).append(v)
        return out

    def as_dict(self) -> dict[str, str]:
        return dict(self._items)


def _body_bytes(body: bytes | str | dict | list | None) -> bytes:
    if body is None:
        return b""
    if isinstance(body, (bytes, bytearray)):
        return bytes(body)
    if isinstance(body, str):
        return body.encode("utf-8")
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


def _is_form(headers: _Headers) -> bool:
    return headers.get("content-type").split(";")[0].strip().lower() == FORM


def _pairs(text: str) -> list[tuple[str, str]]:
    return parse_qsl(text or "", keep_blank_values=True)


def _encode_pairs(pairs: list[tuple[str, str]]) -> str:
    """RFC 3986 encoding, as POP canonicalises (a space is %20, never `+`)."""
    return "&".join(f"{aliyun_signing.percent_encode(k)}={aliyun_signing.percent_encode(v)}" for k, v in pairs)


def _replace_values(pairs: list[tuple[str, str]], names: tuple[str, ...], value: str) -> list[tuple[str, str]]:
    return [(k, value if k in names else v) for k, v in pairs]


def _set_existing(pairs: list[tuple[str, str]], name: str, value: str) -> bool:
    """Set `name` in place (its first occurrence; later duplicates dropped); False when it is absent."""
    where = [i for i, (k, _) in enumerate(pairs) if k == name]
    if not where:
        return False
    pairs[where[0]] = (name, value)
    for i in reversed(where[1:]):
        del pairs[i]
    return True
