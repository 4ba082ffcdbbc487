"""The bundled core's HTTP API as an adapter: the default for `--sut`, and what in-process runs use.

A service that serves this same API (docs/harness.md, "The bundled core's API")
needs no adapter of its own.
"""

from __future__ import annotations

from typing import Any

from ..clients import Answer, items
from .base import ModeStatus, NumberStatus, Reply, ServiceAdapter


class CoreApiAdapter(ServiceAdapter):
    """`POST|DELETE /v1/numbers/{x}/{xb|axb}`, `GET /v1/numbers/{x}`, `/v1/operations`, `/v1/transitions`,
    `/v1/alerts` (paged: every page is read), `PUT /_admin/gray`, `GET /health`."""

    # What the bundled core's API answers a bind or unbind with (its OpenAPI document, GET /openapi.json).
    answer_statuses = frozenset({200, 202, 400, 409, 413, 415, 422, 502, 503, 504})

    async def bind(self, x: str, mode: str, a: str | None, b: str) -> Reply:
        body = {"b": b} if mode == "XB" else {"a": a, "b": b}
        answer = await self.http.post(f"/v1/numbers/{x}/{mode.lower()}", json=body)
        return Reply.from_answer(answer, _operation_id(answer))

    async def unbind(self, x: str, mode: str) -> Reply:
        answer = await self.http.delete(f"/v1/numbers/{x}/{mode.lower()}")
        return Reply.from_answer(answer, _operation_id(answer))

    async def status(self, x: str) -> NumberStatus | None:
        answer = await self.http.get(f"/v1/numbers/{x}")
        if not answer.ok or not isinstance(answer.body, dict):
            return None
        return NumberStatus(xb=_mode(answer.body.get("xb")), axb=_mode(answer.body.get("axb")))

    async def operations(self) -> list[dict[str, Any]] | None:
        return _rows(await self.http.pages("/v1/operations", "operations"), "operations")

    async def transitions(self) -> list[dict[str, Any]] | None:
        return _rows(await self.http.pages("/v1/transitions", "transitions"), "transitions")

    async def alerts(self) -> list[dict[str, Any]] | None:
        return _rows(await self.http.pages("/v1/alerts", "alerts"), "alerts")

    async def health_report(self) -> tuple[int | None, Any]:
        """`GET /health`: its status (None: no answer) and JSON body ({status, problems, operations, breaker})."""
        answer = await self.http.get("/health")
        return answer.status, answer.body

    async def set_gray(self, all_numbers: bool, numbers: list[str]) -> bool:
        answer = await self.http.put("/_admin/gray", json={"all": all_numbers, "numbers": numbers})
        return answer.ok


def _operation_id(answer: Answer) -> str | None:
    body = answer.body if isinstance(answer.body, dict) else {}
    op_id = body.get("operation_id")
    return str(op_id) if op_id else None


def _mode(view: Any) -> ModeStatus:
    if not isinstance(view, dict):
        return ModeStatus()
    return ModeStatus(status=str(view.get("status") or "NOT_BIND"), a=view.get("a"), b=view.get("b"),
                      binding_id=view.get("binding_id"), version=view.get("version"))


def _rows(answer: Answer, key: str) -> list[dict[str, Any]] | None:
    return items(answer.body, key) if answer.ok else None
