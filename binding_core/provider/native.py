"""The provider client for pstnsim's native REST API (`/v1/bindings`), over aiohttp with connect and total timeouts."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

from .base import NOT_FOUND_CODES, AuthFailed, NotSent, Ok, Outcome, ProviderBinding, Refused, Unknown, read_only
from .http import SessionHolder


class NativeClient(SessionHolder):
    dialect = "native"

    def __init__(self, url: str, *, timeout: float, connect_timeout: float) -> None:
        super().__init__(timeout=timeout, connect_timeout=connect_timeout)
        self.url = url.rstrip("/")

    async def create_binding(
        self, mode: str, x: str, b: str, a: str | None = None, *, idempotency_key: str
    ) -> Outcome[ProviderBinding]:
        body: dict[str, Any] = {"mode": mode, "x": x, "b": b}
        if a is not None:
            body["a"] = a
        outcome = await self._call("POST", "/v1/bindings", json_body=body, idempotency_key=idempotency_key)
        return _map(outcome, _binding)

    async def find_bindings(
        self, mode: str, x: str, b: str | None = None, a: str | None = None
    ) -> Outcome[list[ProviderBinding]]:
        params = {"mode": mode, "x": x, "status": "active"}
        if b is not None:
            params["b"] = b
        if a is not None:
            params["a"] = a
        outcome = await self._call("GET", "/v1/bindings", params=params)
        return _map(outcome, lambda data: [_binding(item) for item in data["bindings"]])

    async def get_binding(self, binding_id: str) -> Outcome[ProviderBinding | None]:
        outcome = await self._call("GET", f"/v1/bindings/{binding_id}")
        if isinstance(outcome, Refused) and outcome.code in NOT_FOUND_CODES:
            return Ok(None)
        mapped = _map(outcome, _binding)
        if isinstance(mapped, Ok) and mapped.value.status != "active":
            return Ok(None)
        return mapped

    async def delete_binding(self, binding_id: str, *, idempotency_key: str) -> Outcome[None]:
        outcome = await self._call("DELETE", f"/v1/bindings/{binding_id}", idempotency_key=idempotency_key)
        return _map(outcome, lambda data: None)

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json_body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> Ok[Any] | Refused | Unknown | NotSent | AuthFailed:
        outcome = await self._exchange(method, path, json_body=json_body, params=params, idempotency_key=idempotency_key)
        return read_only(outcome) if method == "GET" else outcome

    async def _exchange(
        self,
        method: str,
        path: str,
        *,
        json_body: dict[str, Any] | None,
        params: dict[str, str] | None,
        idempotency_key: str | None,
    ) -> Ok[Any] | Refused | Unknown | NotSent | AuthFailed:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        try:
            async with self._http().request(
                method, self.url + path, json=json_body, params=params, headers=headers
            ) as response:
                raw = await response.read()
                status = response.status
        except asyncio.TimeoutError:
            return Unknown(f"{method} {path}: no answer within {self.timeout.total:g}s", timed_out=True)
        except aiohttp.ClientConnectorError as exc:
            # The connection was never made: the request cannot have reached the provider.
            return NotSent(f"{method} {path}: cannot connect: {exc.os_error or exc}")
        except (aiohttp.ClientError, OSError) as exc:
            return Unknown(f"{method} {path}: {type(exc).__name__}: {exc}")
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            data = None
        if status in (401, 403):  # a gateway in front of the provider refused us: whatever the body says
            code = str(data.get("code", f"HTTP_{status}")) if isinstance(data, dict) else f"HTTP_{status}"
            message = str(data.get("message", "")) if isinstance(data, dict) else ""
            return AuthFailed(code, message, status)
        if 200 <= status < 300:
            if data is None:
                return Unknown(f"{method} {path}: HTTP {status} with a body that is not JSON")
            return Ok(data)
        if 400 <= status < 500 and status not in (408, 429) and isinstance(data, dict) and "code" in data:
            return Refused(code=str(data["code"]), message=str(data.get("message", "")), status=status)
        # 429: throttled at the gate, so never applied: nothing of it can land later.
        return Unknown(f"{method} {path}: HTTP {status}" + (f" {data.get('code')}" if isinstance(data, dict) else ""),
                       may_apply=status != 429)


def _binding(data: dict[str, Any]) -> ProviderBinding:
    return ProviderBinding(
        binding_id=str(data["binding_id"]),
        mode=str(data["mode"]),
        x=str(data["x"]),
        a=data.get("a"),
        b=data.get("b"),
        status=str(data.get("status", "active")),
    )


def _map(outcome: Ok[Any] | Refused | Unknown | NotSent | AuthFailed, shape: Any) -> Any:
    if not isinstance(outcome, Ok):
        return outcome
    try:
        return Ok(shape(outcome.value))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        return Unknown(f"unexpected answer shape: {type(exc).__name__}: {exc}")
