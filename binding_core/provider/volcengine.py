"""The provider client for Volcengine number privacy (vms, 2022-01-01): V4-signed form POSTs over aiohttp, no SDK.

The vendor's Python SDK retries every bind once by itself (`@retry(tries=2)`),
which after a lost reply makes a second binding; this client sends each call
once and reports a lost reply as Unknown, so the core's own settling decides.

The core's modes map onto two vms families on the X the core chose:
- AXB -> BindAXB / UnbindAXB;
- XB  -> BindAXN with PhoneNoA = the core's B (every caller dialling X reaches
  it) and no PhoneNoB / UnbindAXN.
Lookups: QuerySubscriptionForList by X (bound ones only) and QuerySubscription
by SubId. A subscription with an empty PhoneNoB is an AXN (the core's XB): an
AXB always has both numbers. Unbinding needs the family, remembered from the
calls that returned the binding and otherwise read back with QuerySubscription.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import aiohttp

from ..clock import Clock
from ..config import ProviderSettings
from .base import AuthFailed, NotSent, Ok, Outcome, ProviderBinding, Refused, Unknown, read_only
from .http import SessionHolder

API_VERSION = "2022-01-01"
SERVICE, REGION = "vms", "cn-north-1"
FORM = "application/x-www-form-urlencoded"
LIFETIME = 30 * 86400  # BindAXB / BindAXN need an ExpireTime; the core's bindings live until unbound
LIST_PAGE = 100
# vms business codes -> the core's codes (base.NOT_FOUND_CODES, CONFLICT_CODES).
BUSINESS_CODES = {"SubIdNotExist": "BINDING_NOT_FOUND", "BindConflict": "BIND_CONFLICT",
                  "NoAvailableNumber": "NO_AVAILABLE_NUMBER", "InvalidPhoneNumber": "INVALID_NUMBER"}
# Refusals of the caller, not the request: a wrong key or secret, a clock off, a pool not of this key.
AUTH_CODES = frozenset({"SignatureDoesNotMatch", "InvalidAccessKey", "InvalidTimestamp", "MissingAuthenticationToken",
                        "MissingSignature", "AccessDenied", "NumberPoolNotExist"})
RETRYABLE = frozenset({"InternalError", "ServiceUnavailableTemp", "ServiceUnavailable"})
THROTTLED = frozenset({"FlowLimitExceeded", "RequestLimitExceeded"})
READ_ACTIONS = frozenset({"QuerySubscription", "QuerySubscriptionForList"})
FAMILY = {"AXB": "AXB", "XB": "AXN"}


def v4_headers(action: str, body: bytes, host: str, at: float, access_key_id: str, secret: str) -> dict[str, str]:
    """The headers of an HMAC-SHA256-signed vms form POST to `/?Action=..&Version=..`, as SignerV4 makes them
    (written here, not shared with the simulator, so the two check each other)."""
    date_time = datetime.fromtimestamp(at, tz=timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    payload = hashlib.sha256(body).hexdigest()
    signed = {"content-type": FORM, "host": host, "x-content-sha256": payload, "x-date": date_time}
    query = "&".join(f"{k}={quote(v, safe='-_.~')}" for k, v in sorted({"Action": action, "Version": API_VERSION}.items()))
    names = ";".join(signed)
    canonical = "\n".join(["POST", "/", query, "".join(f"{k}:{v}\n" for k, v in signed.items()), names, payload])
    scope = f"{date_time[:8]}/{REGION}/{SERVICE}/request"
    to_sign = "\n".join(["HMAC-SHA256", date_time, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = secret.encode()
    for part in (date_time[:8], REGION, SERVICE, "request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return {"Content-Type": FORM, "Host": host, "X-Content-Sha256": payload, "X-Date": date_time,
            "Authorization": f"HMAC-SHA256 Credential={access_key_id}/{scope}, SignedHeaders={names}, Signature={signature}"}


class VolcengineClient(SessionHolder):
    dialect = "volcengine"

    def __init__(self, url: str, *, access_key_id: str, secret_access_key: str, number_pool_no: str, clock: Clock,
                 timeout: float, connect_timeout: float) -> None:
        super().__init__(timeout=timeout, connect_timeout=connect_timeout)
        self.url = url.rstrip("/") + "/"
        self.host = urlsplit(self.url).netloc
        self.access_key_id, self.secret_access_key, self.pool = access_key_id, secret_access_key, number_pool_no
        self.clock = clock
        self._family: dict[str, str] = {}  # SubId -> "AXB" | "AXN"

    @classmethod
    def from_settings(cls, settings: ProviderSettings, clock: Clock) -> "VolcengineClient":
        return cls(settings.url, access_key_id=settings.volcengine_access_key_id,
                   secret_access_key=settings.volcengine_secret_access_key,
                   number_pool_no=settings.volcengine_number_pool_no, clock=clock,
                   timeout=settings.timeout, connect_timeout=settings.connect_timeout)

    # ---- the core's protocol ---------------------------------------------------

    async def create_binding(
        self, mode: str, x: str, b: str, a: str | None = None, *, idempotency_key: str
    ) -> Outcome[ProviderBinding]:
        expires = str(int(self.clock.now()) + LIFETIME)
        if mode == "AXB" and a is not None:
            outcome = await self._call("BindAXB", NumberPoolNo=self.pool, PhoneNoA=a, PhoneNoB=b, PhoneNoX=x,
                                       ExpireTime=expires)
        elif mode == "XB":
            outcome = await self._call("BindAXN", NumberPoolNo=self.pool, PhoneNoA=b, PhoneNoX=x, ExpireTime=expires)
        else:
            return Refused("INVALID_ARGUMENT", f"vms binds XB (as AXN) or AXB (with a), not {mode}", 400)
        if not isinstance(outcome, Ok):
            return outcome
        sub_id = outcome.value.get("SubId") if isinstance(outcome.value, dict) else None
        if not sub_id:
            return Unknown(f"Bind{FAMILY[mode]}: answered without Result.SubId")
        self._family[str(sub_id)] = FAMILY[mode]
        return Ok(ProviderBinding(str(sub_id), mode, x, a if mode == "AXB" else None, b))

    async def find_bindings(
        self, mode: str, x: str, b: str | None = None, a: str | None = None
    ) -> Outcome[list[ProviderBinding]]:
        found: list[ProviderBinding] = []
        offset = 0
        while True:
            page = await self._call("QuerySubscriptionForList", NumberPoolNo=self.pool, PhoneNoX=x, Status="1",
                                    Offset=str(offset), Limit=str(LIST_PAGE))
            if not isinstance(page, Ok):
                return page
            records = page.value.get("Records") or []
            if not isinstance(records, list) or not all(isinstance(r, dict) and r.get("SubId") for r in records):
                # A row we cannot read may be ours: no answer, rather than "none there".
                return Unknown(f"QuerySubscriptionForList on {x}: a record without a SubId", may_apply=False)
            for record in records:
                binding = self._binding(record)
                if binding is None or binding.mode != mode:
                    continue
                if (a is not None and binding.a != a) or (b is not None and binding.b != b):
                    continue
                found.append(binding)
            offset += LIST_PAGE
            if offset >= int(page.value.get("Total") or 0) or not records:
                return Ok(found)

    async def get_binding(self, binding_id: str) -> Outcome[ProviderBinding | None]:
        outcome = await self._call("QuerySubscription", NumberPoolNo=self.pool, SubId=binding_id)
        if isinstance(outcome, Refused) and outcome.code == "BINDING_NOT_FOUND":
            return Ok(None)
        if not isinstance(outcome, Ok):
            return outcome
        return Ok(self._binding(outcome.value))

    async def delete_binding(self, binding_id: str, *, idempotency_key: str) -> Outcome[None]:
        family = self._family.get(binding_id)
        if family is None:
            held = await self.get_binding(binding_id)
            if not isinstance(held, Ok):
                return held
            if held.value is None:
                return Refused("BINDING_NOT_FOUND", f"SubId {binding_id} does not exist", 400)
            family = self._family[binding_id]
        outcome = await self._call(f"Unbind{family}", NumberPoolNo=self.pool, SubId=binding_id)
        if isinstance(outcome, Ok):
            self._family.pop(binding_id, None)
            return Ok(None)
        return outcome

    def _binding(self, record: Any) -> ProviderBinding | None:
        """A bound Subscription as the core's binding (None when expired or unreadable)."""
        if not isinstance(record, dict) or record.get("Status") != 1 or not record.get("SubId"):
            return None
        sub_id, x = str(record["SubId"]), str(record.get("PhoneNoX") or "")
        a, b = record.get("PhoneNoA") or None, record.get("PhoneNoB") or None
        if b is None:  # AXN: every caller reaches A, which is the core's B
            self._family[sub_id] = "AXN"
            return ProviderBinding(sub_id, "XB", x, None, a)
        self._family[sub_id] = "AXB"
        return ProviderBinding(sub_id, "AXB", x, a, b)

    # ---- the wire ----------------------------------------------------------------

    async def _call(self, action: str, **params: str) -> Ok[Any] | Refused | Unknown | NotSent | AuthFailed:
        outcome = await self._exchange(action, params)
        return read_only(outcome) if action in READ_ACTIONS else outcome

    async def _exchange(self, action: str, params: dict[str, str]) -> Ok[Any] | Refused | Unknown | NotSent | AuthFailed:
        body = urlencode(params).encode()
        headers = v4_headers(action, body, self.host, self.clock.now(), self.access_key_id, self.secret_access_key)
        headers["Accept"] = "application/json"
        url = f"{self.url}?Action={action}&Version={API_VERSION}"
        try:
            async with self._http().post(url, data=body, headers=headers) as response:
                raw, status = await response.read(), response.status
        except TimeoutError:
            return Unknown(f"{action}: no answer within {self.timeout.total:g}s", timed_out=True)
        except aiohttp.ClientConnectorError as exc:
            return NotSent(f"{action}: cannot connect: {exc.os_error or exc}")
        except (aiohttp.ClientError, OSError) as exc:
            return Unknown(f"{action}: {type(exc).__name__}: {exc}")
        return _outcome(action, status, raw)


def _outcome(action: str, status: int, raw: bytes) -> Ok[Any] | Refused | Unknown | AuthFailed:
    try:
        body = json.loads(raw)
        metadata = body["ResponseMetadata"]
    except (ValueError, KeyError, TypeError):
        return Unknown(f"{action}: HTTP {status} with a body that is not a vms response")
    error = metadata.get("Error") if isinstance(metadata, dict) else None
    if not error:
        if status == 200 and "Result" in body:
            return Ok(body["Result"])
        return Unknown(f"{action}: HTTP {status} without Result")
    code, message = str(error.get("Code", "")), str(error.get("Message", ""))
    if code in AUTH_CODES or status in (401, 403):
        return AuthFailed(code or f"HTTP_{status}", message, status)
    if code in THROTTLED or status == 429:
        return Unknown(f"{action}: {code}: {message}", may_apply=False)  # refused at the gate: never applied
    if code in RETRYABLE or status >= 500:
        return Unknown(f"{action}: HTTP {status} {code}: {message}")
    return Refused(BUSINESS_CODES.get(code, code), message, status)
