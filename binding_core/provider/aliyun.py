"""The provider client for Aliyun dyplsapi (2017-05-25): ACS3-signed RPC over aiohttp, no vendor SDK.

The core's modes map onto two dyplsapi families:
- XB -> the work-number family: BindXB / UnBindXB. `ReqId` is the service's
  dedup key; we derive it from (X, B), so a re-sent bind returns the binding an
  earlier, lost attempt made instead of a second one. That also makes BindXB a
  create-or-get, which is how `find_bindings` answers for XB (the family has no
  lookup by number) -- but only once ListXTelephones says X carries a work
  number at all, so a lookup never creates a binding, and a BindXB outage does
  not block settling a bind that never reached the provider.
- AXB -> the classic subscription family: BindAxb / UnbindSubscription, looked
  up with QuerySubsId (every subscription on X, comma-separated) +
  QuerySubscriptionDetail on each: X may carry a stray (a late create) beside
  the core's binding, so the first id alone cannot say the core's is absent.
Every dyplsapi call that addresses a binding needs its X as well as its id; the
core's protocol passes only the id, so X is remembered from the calls that
returned the binding, and after a restart looked up once: ListXTelephones for
the pool's numbers in use, then QuerySubscriptionDetail on each (`_locate`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp

from ..clock import Clock
from ..config import ProviderSettings
from .base import AuthFailed, NotSent, Ok, Outcome, ProviderBinding, Refused, Unknown, read_only
from .http import SessionHolder

API_VERSION = "2017-05-25"
BEIJING = timezone(timedelta(hours=8))
AXB_LIFETIME = 30 * 86400.0  # BindAxb requires an Expiration; the core's bindings live until unbound
# dyplsapi business codes -> the core's codes (base.NOT_FOUND_CODES, CONFLICT_CODES).
BUSINESS_CODES = {
    "isv.SUBS_NOT_EXIST": "BINDING_NOT_FOUND",
    "isv.BIND_CONFLICT": "BIND_CONFLICT",
    "isv.NO_AVAILABLE_NUMBER": "NO_AVAILABLE_NUMBER",
    "isv.MOBILE_NUMBER_ILLEGAL": "INVALID_NUMBER",
}
SUCCESS_CODES = ("OK", "0000")
# Actions that change nothing: a lost one leaves nothing that could land late (base.read_only).
READ_ACTIONS = frozenset({"QuerySubsId", "QuerySubscriptionDetail", "ListXTelephones"})
LIST_PAGE = 100
# POP gateway codes that refuse the caller, not the request: a wrong key or secret, a clock off, a key
# without the right to the API or the pool. Never settled as a business refusal (see base.AuthFailed).
AUTH_CODE_PREFIXES = ("SignatureDoesNotMatch", "IncompleteSignature", "InvalidAccessKeyId", "InvalidTimeStamp",
                      "SignatureNonceUsed", "MissingSignatureNonce", "InvalidSignatureVersion", "Forbidden",
                      "InvalidSecurityToken", "isv.POOLKEY_NOT_EXISTS", "isv.NO_POOL_PERMISSION")


def subs_ids(answer: Any) -> list[str]:
    """The SubsIds of a QuerySubsId answer. X may carry several AXB subscriptions, and dyplsapi then answers
    them all in the one SubsId string, comma-separated (its API reference: "11111111,1111111")."""
    return [part.strip() for part in str(answer or "").split(",") if part.strip()]


def req_id(*parts: str) -> str:
    """A ReqId (at most 20 characters) that is the same for the same parts."""
    return hashlib.sha256(":".join(parts).encode()).hexdigest()[:20]


def acs3_headers(action: str, params: dict[str, str], host: str, at: float, nonce: str,
                 access_key_id: str, secret: str) -> dict[str, str]:
    """The headers of an ACS3-HMAC-SHA256-signed RPC POST, parameters in the query and an empty body,
    as the Tea SDK sends it (written here, not shared with the simulator, so the two check each other)."""
    payload = hashlib.sha256(b"").hexdigest()
    headers = {  # the signed headers, in sorted order
        "host": host,
        "x-acs-action": action,
        "x-acs-content-sha256": payload,
        "x-acs-date": datetime.fromtimestamp(at, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "x-acs-signature-nonce": nonce,
        "x-acs-version": API_VERSION,
    }
    query = "&".join(f"{quote(k, safe='~')}={quote(v, safe='~')}" for k, v in sorted(params.items()))
    signed = ";".join(headers)
    canonical = "\n".join(["POST", "/", query, "".join(f"{k}:{v}\n" for k, v in headers.items()), signed, payload])
    to_sign = f"ACS3-HMAC-SHA256\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    signature = hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
    return {**headers, "Authorization": f"ACS3-HMAC-SHA256 Credential={access_key_id},SignedHeaders={signed},"
                                        f"Signature={signature}"}


class AliyunClient(SessionHolder):
    dialect = "aliyun"

    def __init__(
        self,
        url: str,
        *,
        access_key_id: str,
        access_key_secret: str,
        pool_key: str,
        clock: Clock,
        timeout: float,
        connect_timeout: float,
    ) -> None:
        super().__init__(timeout=timeout, connect_timeout=connect_timeout)
        self.url = url.rstrip("/") + "/"
        self.host = urlsplit(self.url).netloc
        self.access_key_id, self.access_key_secret, self.pool_key = access_key_id, access_key_secret, pool_key
        self.clock = clock
        self._sent = 0
        # binding id -> (mode, X): dyplsapi addresses a binding by id *and* X.
        self._known: dict[str, tuple[str, str]] = {}

    @classmethod
    def from_settings(cls, settings: ProviderSettings, clock: Clock) -> "AliyunClient":
        return cls(
            settings.url,
            access_key_id=settings.aliyun_access_key_id,
            access_key_secret=settings.aliyun_access_key_secret,
            pool_key=settings.aliyun_pool_key,
            clock=clock,
            timeout=settings.timeout,
            connect_timeout=settings.connect_timeout,
        )

    # ---- the core's protocol ---------------------------------------------------

    async def create_binding(
        self, mode: str, x: str, b: str, a: str | None = None, *, idempotency_key: str
    ) -> Outcome[ProviderBinding]:
        if mode == "XB":
            return await self._bind_xb(x, b)
        if mode != "AXB" or a is None:
            return Refused("INVALID_ARGUMENT", f"dyplsapi binds XB or AXB (with a), not {mode}", 400)
        expires = datetime.fromtimestamp(self.clock.now() + AXB_LIFETIME, tz=BEIJING).strftime("%Y-%m-%d %H:%M:%S")
        outcome = await self._call("BindAxb", PoolKey=self.pool_key, PhoneNoA=a, PhoneNoB=b, PhoneNoX=x,
                                   Expiration=expires, OutId=idempotency_key[:64])
        if not isinstance(outcome, Ok):
            return outcome
        try:
            subs_id = str(outcome.value["SecretBindDTO"]["SubsId"])
        except (KeyError, TypeError):
            return Unknown("BindAxb answered OK without SecretBindDTO.SubsId")
        return Ok(self._remember(ProviderBinding(subs_id, "AXB", x, a, b)))

    async def find_bindings(
        self, mode: str, x: str, b: str | None = None, a: str | None = None
    ) -> Outcome[list[ProviderBinding]]:
        if mode == "XB":
            if b is None:
                return Refused("INVALID_ARGUMENT", "a work-number binding is found by X and B", 400)
            carried = await self._carries_work_number(x)
            if not isinstance(carried, Ok):
                return carried
            if not carried.value:
                return Ok([])  # no work number on X: none to find (and none made by looking)
            found = await self._bind_xb(x, b)  # create-or-get: ReqId (X, B) returns the existing one
            if isinstance(found, Refused) and found.code == "BIND_CONFLICT":
                return Ok([])  # X carries another B's work number: none with this B
            return found if not isinstance(found, Ok) else Ok([found.value])
        subs = await self._call("QuerySubsId", PoolKey=self.pool_key, PhoneNoX=x)
        if isinstance(subs, Refused) and subs.code == "BINDING_NOT_FOUND":
            return Ok([])
        if not isinstance(subs, Ok):
            return subs
        listed = subs_ids(subs.value.get("SubsId"))
        if not listed:  # "OK" without an id: says nothing about what X carries
            return Unknown("QuerySubsId answered OK without a SubsId", may_apply=False)
        found = []
        for subs_id in listed:  # every subscription on X: ours may be any of them, not the first
            held = await self._detail(subs_id, x)
            if not isinstance(held, Ok):
                return held  # one we could not read may be ours: no answer rather than "none"
            binding = held.value
            if binding is None or binding.mode != mode or (a is not None and binding.a != a) or (b is not None and binding.b != b):
                continue
            found.append(binding)
        return Ok(found)

    async def get_binding(self, binding_id: str) -> Outcome[ProviderBinding | None]:
        located = await self._locate(binding_id)
        if not isinstance(located, Ok) or located.value is None:
            return located
        return await self._detail(binding_id, located.value[1])

    async def delete_binding(self, binding_id: str, *, idempotency_key: str) -> Outcome[None]:
        located = await self._locate(binding_id)
        if not isinstance(located, Ok):
            return located
        if located.value is None:
            return Refused("BINDING_NOT_FOUND", f"no number of pool {self.pool_key} carries {binding_id}", 200)
        mode, x = located.value
        if mode == "XB":
            outcome = await self._call("UnBindXB", CustomerPoolKey=self.pool_key, ReqId=req_id(idempotency_key),
                                       AuthId=binding_id, TelX=x)
        else:
            outcome = await self._call("UnbindSubscription", PoolKey=self.pool_key, SubsId=binding_id, SecretNo=x)
        if isinstance(outcome, Ok):
            self._known.pop(binding_id, None)
            return Ok(None)
        return outcome

    async def _locate(self, binding_id: str) -> Outcome[tuple[str, str] | None]:
        """(mode, X) of a binding; None if no number in the pool carries it (it is gone)."""
        known = self._known.get(binding_id)
        if known is not None:
            return Ok(known)
        rows = await self._pool_rows()
        if not isinstance(rows, Ok):
            return rows
        for row in rows.value:
            if row.get("TelephoneStatus") == "0":
                continue  # free: carries nothing
            held = await self._detail(binding_id, str(row.get("Telephone")))
            if not isinstance(held, Ok):
                return held
            if held.value is not None:
                return Ok(self._known[binding_id])
        return Ok(None)

    async def _carries_work_number(self, x: str) -> Outcome[bool]:
        """Whether X carries a work-number (XB) binding now: its ListXTelephones row has a BindTime."""
        rows = await self._pool_rows()
        if not isinstance(rows, Ok):
            return rows
        for row in rows.value:
            if row.get("Telephone") == x:
                return Ok(bool(row.get("BindTime")))
        return Ok(False)  # X is not in the pool: it carries none of the pool's work numbers

    async def _pool_rows(self) -> Outcome[list[dict[str, Any]]]:
        """Every ListXTelephones row of the pool, page by page."""
        rows: list[dict[str, Any]] = []
        page = 1
        while True:
            listed = await self._call("ListXTelephones", CustomerPoolKey=self.pool_key, ReqId=req_id("list", str(page)),
                                      PageNo=str(page), PageSize=str(LIST_PAGE))
            if not isinstance(listed, Ok):
                return listed
            data = listed.value.get("Data") or {}
            rows.extend(data.get("List") or [])
            if page * LIST_PAGE >= int(data.get("Total") or 0):
                return Ok(rows)
            page += 1

    # ---- dyplsapi calls -------------------------------------------------------------

    async def _bind_xb(self, x: str, b: str) -> Outcome[ProviderBinding]:
        outcome = await self._call("BindXB", CustomerPoolKey=self.pool_key, ReqId=req_id("XB", x, b), TelX=x, TelB=b)
        if not isinstance(outcome, Ok):
            return outcome
        try:
            auth_id = str(outcome.value["Data"]["AuthId"])
        except (KeyError, TypeError):
            return Unknown("BindXB answered 0000 without Data.AuthId")
        return Ok(self._remember(ProviderBinding(auth_id, "XB", x, None, b)))

    async def _detail(self, binding_id: str, x: str) -> Outcome[ProviderBinding | None]:
        outcome = await self._call("QuerySubscriptionDetail", PoolKey=self.pool_key, SubsId=binding_id, PhoneNoX=x)
        if isinstance(outcome, Refused) and outcome.code == "BINDING_NOT_FOUND":
            return Ok(None)
        if not isinstance(outcome, Ok):
            return outcome
        detail = outcome.value.get("SecretBindDetailDTO") or {}
        if detail.get("Status") != 1:
            return Ok(None)  # expired
        a, b = detail.get("PhoneNoA"), detail.get("PhoneNoB")
        mode = "AXB" if a and b else "XB"
        return Ok(self._remember(ProviderBinding(binding_id, mode, x, a if mode == "AXB" else None, b)))

    def _remember(self, binding: ProviderBinding) -> ProviderBinding:
        self._known[binding.binding_id] = (binding.mode, binding.x)
        return binding

    def _nonce(self) -> str:
        """Unique per request and process; from the clock and a counter, not a random source."""
        self._sent += 1
        return hashlib.sha256(f"{os.getpid()}:{id(self)}:{self.clock.now():.6f}:{self._sent}".encode()).hexdigest()[:32]

    async def _call(self, action: str, **params: str) -> Ok[dict[str, Any]] | Refused | Unknown | NotSent | AuthFailed:
        outcome = await self._exchange(action, params)
        return read_only(outcome) if action in READ_ACTIONS else outcome

    async def _exchange(self, action: str, params: dict[str, str]) -> Ok[dict[str, Any]] | Refused | Unknown | NotSent | AuthFailed:
        headers = acs3_headers(action, params, self.host, self.clock.now(), self._nonce(),
                               self.access_key_id, self.access_key_secret)
        headers["accept"] = "application/json"
        try:
            async with self._http().post(self.url, params=params, headers=headers) as response:
                raw = await response.read()
                status = response.status
        except TimeoutError:
            return Unknown(f"{action}: no answer within {self.timeout.total:g}s", timed_out=True)
        except aiohttp.ClientConnectorError as exc:
            return NotSent(f"{action}: cannot connect: {exc.os_error or exc}")
        except (aiohttp.ClientError, OSError) as exc:
            return Unknown(f"{action}: {type(exc).__name__}: {exc}")
        return _outcome(action, status, raw)


def _outcome(action: str, status: int, raw: bytes) -> Ok[dict[str, Any]] | Refused | Unknown | AuthFailed:
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return Unknown(f"{action}: HTTP {status} with a body that is not a JSON object")
    code, message = str(body.get("Code", "")), str(body.get("Message", ""))
    if status in (401, 403) or code.startswith(AUTH_CODE_PREFIXES):
        return AuthFailed(code or f"HTTP_{status}", message, status)
    if status == 200:
        if code in SUCCESS_CODES:
            return Ok(body)
        if code.startswith("isp."):  # the platform failed: the change may or may not have happened
            return Unknown(f"{action}: {code} {message}")
        return Refused(BUSINESS_CODES.get(code, code), message, status)
    if 400 <= status < 500 and not code.startswith("Throttling"):
        return Refused(code or f"HTTP_{status}", message, status)
    # Throttled at the gate, so never applied: nothing of it can land later.
    return Unknown(f"{action}: HTTP {status} {code}", may_apply=not code.startswith("Throttling"))
