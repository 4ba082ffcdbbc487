"""The provider client for Tencent Cloud NPP (API 2019-08-23): TC3-signed JSON over aiohttp, no vendor SDK.

NPP has three binding actions and no lookup: `GetVirtualNum` (xb mode without
Src, axb with it), `DelVirtualNum`, `Get400Cdr`. Two NPP rules make the core's
"did my earlier attempt apply?" answerable anyway:
- a GetVirtualNum that repeats an active binding (same Src, Dst, X) returns that
  binding with one more reference (`RefNum`); DelVirtualNum drops one reference
  and releases the binding at zero (`RefLeftNum`);
- so `find_bindings` probes: GetVirtualNum for the pair on X, then DelVirtualNum
  to give the probe's reference back. RefNum 1 means the probe made it (nothing
  was there; released again), RefNum > 1 means it was there already.
`delete_binding` releases every reference, so references a probe or a lost reply
left behind never keep a binding alive. `get_binding` can only be answered by
releasing (see its docstring).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from ..clock import Clock
from ..config import ProviderSettings
from .base import AuthFailed, NotSent, Ok, Outcome, ProviderBinding, Refused, Unknown
from .http import SessionHolder

API_VERSION = "2019-08-23"
SERVICE = "npp"
PREFIX = "0086"
# NPP business ErrorCodes -> the core's codes (base.NOT_FOUND_CODES, CONFLICT_CODES).
BUSINESS_CODES = {"-204": "BINDING_NOT_FOUND", "-106": "BIND_CONFLICT", "-107": "NO_AVAILABLE_NUMBER", "-101": "INVALID_NUMBER"}
# Gateway errors after which the request may be retried: throttled or the platform failed.
RETRYABLE_GATEWAY = ("RequestLimitExceeded", "InternalError", "ServiceUnavailable")
# Refusals of the caller rather than the request: a wrong SecretId / SecretKey, a clock off, no right to
# the action, a BizAppId not of this account (NPP's -401). Never settled as a business refusal (base.AuthFailed).
AUTH_GATEWAY_PREFIXES = ("AuthFailure", "UnauthorizedOperation")
AUTH_BUSINESS_CODES = frozenset({"-401"})
MAX_RELEASES = 64  # DelVirtualNum calls per delete: far more references than probes ever leave


def tc3_headers(
    action: str, body: bytes, host: str, timestamp: int, secret_id: str, secret_key: str
) -> dict[str, str]:
    """The headers of a TC3-HMAC-SHA256-signed POST (content-type;host signed, as the SDK does)."""
    content_type = "application/json"
    canonical = "\n".join(
        ["POST", "/", "", f"content-type:{content_type}\nhost:{host}\n", "content-type;host", hashlib.sha256(body).hexdigest()]
    )
    date = datetime.fromtimestamp(timestamp, tz=timezone.utc).strftime("%Y-%m-%d")
    scope = f"{date}/{SERVICE}/tc3_request"
    string_to_sign = f"TC3-HMAC-SHA256\n{timestamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    key = ("TC3" + secret_key).encode()
    for part in (date, SERVICE, "tc3_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    return {
        "Content-Type": content_type,
        "Host": host,
        "X-TC-Action": action,
        "X-TC-Version": API_VERSION,
        "X-TC-Timestamp": str(timestamp),
        "Authorization": f"TC3-HMAC-SHA256 Credential={secret_id}/{scope}, SignedHeaders=content-type;host, Signature={signature}",
    }


class TencentClient(SessionHolder):
    dialect = "tencent"

    def __init__(
        self,
        url: str,
        *,
        secret_id: str,
        secret_key: str,
        biz_app_id: str,
        clock: Clock,
        timeout: float,
        connect_timeout: float,
    ) -> None:
        super().__init__(timeout=timeout, connect_timeout=connect_timeout)
        self.url = url.rstrip("/") + "/"
        self.host = urlsplit(self.url).netloc
        self.secret_id, self.secret_key, self.biz_app_id = secret_id, secret_key, biz_app_id
        self.clock = clock

    @classmethod
    def from_settings(cls, settings: ProviderSettings, clock: Clock) -> "TencentClient":
        return cls(
            settings.url,
            secret_id=settings.tencent_secret_id,
            secret_key=settings.tencent_secret_key,
            biz_app_id=settings.tencent_biz_app_id,
            clock=clock,
            timeout=settings.timeout,
            connect_timeout=settings.connect_timeout,
        )

    # ---- the core's protocol ---------------------------------------------

    async def create_binding(
        self, mode: str, x: str, b: str, a: str | None = None, *, idempotency_key: str
    ) -> Outcome[ProviderBinding]:
        """GetVirtualNum on X. NPP has no idempotency key: a repeat reuses the binding (one more reference)."""
        outcome = await self._get_virtual_num(mode, x, b, a)
        if not isinstance(outcome, Ok):
            return outcome
        return _shaped(outcome.value, mode, a, b)

    async def find_bindings(
        self, mode: str, x: str, b: str | None = None, a: str | None = None
    ) -> Outcome[list[ProviderBinding]]:
        """The active binding of (mode, a, b) on X, found by a probe that gives its reference back."""
        if b is None or (mode == "AXB" and a is None):
            return Refused("INVALID_ARGUMENT", "NPP can only look a binding up by its numbers: b (and a for AXB) needed", 400)
        probe = await self._get_virtual_num(mode, x, b, a)
        if isinstance(probe, Refused) and probe.status == 200:
            return Ok([])  # X is held by another binding or cannot be had: none of ours is there (it would be reused)
        if not isinstance(probe, Ok):
            return probe
        shaped = _shaped(probe.value, mode, a, b)
        if not isinstance(shaped, Ok):
            return shaped
        found = shaped.value
        released = await self._release_once(found.binding_id)
        if not isinstance(released, Ok):
            return Unknown(f"probe of {mode} on {x} left a reference on {found.binding_id}: {released.describe()}")
        if str(probe.value.get("RefNum")) == "1":
            return Ok([])  # the probe made it, and released it again
        return Ok([found])

    async def get_binding(self, binding_id: str) -> Outcome[ProviderBinding | None]:
        """NPP cannot look a binding up by id; the core asks only to settle an unbind, so this completes it.

        Returns Ok(None) once the binding is really gone (released here, or already released).
        """
        released = await self.delete_binding(binding_id, idempotency_key="")
        if isinstance(released, Ok) or (isinstance(released, Refused) and released.code == "BINDING_NOT_FOUND"):
            return Ok(None)
        return released  # type: ignore[return-value]

    async def delete_binding(self, binding_id: str, *, idempotency_key: str) -> Outcome[None]:
        """DelVirtualNum until no reference is left (probes and lost replies may have added some)."""
        for _ in range(MAX_RELEASES):
            outcome = await self._release_once(binding_id)
            if not isinstance(outcome, Ok):
                return outcome
            if str(outcome.value.get("RefLeftNum", "0")) in ("0", ""):
                return Ok(None)
        return Unknown(f"{binding_id} still has references after {MAX_RELEASES} releases")

    # ---- the wire ----------------------------------------------------------

    async def _get_virtual_num(self, mode: str, x: str, b: str, a: str | None) -> Ok[dict[str, Any]] | Refused | Unknown | NotSent | AuthFailed:
        params = {"BizAppId": self.biz_app_id, "Dst": PREFIX + b, "AssignVirtualNum": PREFIX + x}
        if mode == "AXB":
            if a is None:
                return Refused("INVALID_ARGUMENT", "an AXB binding needs a", 400)
            params["Src"] = PREFIX + a
        elif mode != "XB":
            return Refused("INVALID_ARGUMENT", f"NPP binds XB or AXB, not {mode}", 400)
        return await self._business("GetVirtualNum", params)

    async def _release_once(self, binding_id: str) -> Ok[dict[str, Any]] | Refused | Unknown | NotSent | AuthFailed:
        return await self._business("DelVirtualNum", {"BizAppId": self.biz_app_id, "BindId": binding_id})

    async def _business(self, action: str, params: dict[str, str]) -> Ok[dict[str, Any]] | Refused | Unknown | NotSent | AuthFailed:
        """A call whose ErrorCode != "0" is a definite refusal (HTTP 200, nothing changed)."""
        outcome = await self._call(action, params)
        if not isinstance(outcome, Ok):
            return outcome
        code = str(outcome.value.get("ErrorCode"))
        if code in AUTH_BUSINESS_CODES:
            return AuthFailed(f"NPP_{code}", str(outcome.value.get("Msg", "")), 200)
        if code != "0":
            return Refused(BUSINESS_CODES.get(code, f"NPP_{code}"), str(outcome.value.get("Msg", "")), 200)
        return outcome

    async def _call(self, action: str, params: dict[str, str]) -> Ok[dict[str, Any]] | Refused | Unknown | NotSent | AuthFailed:
        body = json.dumps(params).encode()
        headers = tc3_headers(action, body, self.host, int(self.clock.now()), self.secret_id, self.secret_key)
        try:
            async with self._http().post(self.url, data=body, headers=headers) as response:
                raw, status = await response.read(), response.status
        except asyncio.TimeoutError:
            return Unknown(f"{action}: no answer within {self.timeout.total:g}s", timed_out=True)
        except aiohttp.ClientConnectorError as exc:
            return NotSent(f"{action}: cannot connect: {exc.os_error or exc}")
        except (aiohttp.ClientError, OSError) as exc:
            return Unknown(f"{action}: {type(exc).__name__}: {exc}")
        if status != 200:
            return Unknown(f"{action}: HTTP {status}")
        try:
            reply = json.loads(raw)["Response"]
        except (ValueError, KeyError, TypeError):
            return Unknown(f"{action}: HTTP 200 with a body that is not an NPP response")
        if not isinstance(reply, dict):
            return Unknown(f"{action}: HTTP 200 with a body that is not an NPP response")
        error = reply.get("Error")
        if isinstance(error, dict):
            code, message = str(error.get("Code")), str(error.get("Message", ""))
            if code.startswith(AUTH_GATEWAY_PREFIXES):
                return AuthFailed(code, message, 200)
            if code in RETRYABLE_GATEWAY:
                # Throttled at the gate, so never applied: nothing of it can land later.
                return Unknown(f"{action}: {code}: {message}", may_apply=code != "RequestLimitExceeded")
            return Refused(code, message, 400)
        return Ok(reply)


def _shaped(reply: dict[str, Any], mode: str, a: str | None, b: str) -> Ok[ProviderBinding] | Unknown:
    """A GetVirtualNum success as the core's binding; a success without a BindId is an unknown outcome."""
    if not reply.get("BindId"):
        return Unknown("GetVirtualNum answered ErrorCode 0 without a BindId")
    virtual = str(reply.get("VirtualNum") or "")
    return Ok(ProviderBinding(
        binding_id=str(reply["BindId"]),
        mode=mode,
        x=virtual[len(PREFIX) :] if virtual.startswith(PREFIX) else virtual,
        a=a if mode == "AXB" else None,
        b=b,
    ))
