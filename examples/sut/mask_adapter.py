"""How pstnsim's harness reaches examples/sut/mask_service.py: its API mapped onto the adapter contract.

    pstnsim chaos run examples/sut/mask_scenario.toml --sut http://127.0.0.1:8081 \
        --provider-url http://127.0.0.1:8090 --adapter examples/sut/mask_adapter.py

The service keeps a journal of state changes (mapped to transitions) and a wipe
hook (mapped to reset); it has no operations or alerts, so the checks that need
them are reported skipped.
"""

from __future__ import annotations

from typing import Any

from scenarios.adapters import ModeStatus, NumberStatus, Reply, ServiceAdapter

KIND = {"XB": "staff", "AXB": "pair"}
MODE = {kind: mode for mode, kind in KIND.items()}
STATUS = {"none": "NOT_BIND", "changing": "OPERATION", "live": "BIND"}


class MaskServiceAdapter(ServiceAdapter):
    async def bind(self, x: str, mode: str, a: str | None, b: str) -> Reply:
        body = {"kind": KIND[mode], "staff": b, **({"customer": a} if mode == "AXB" else {})}
        return Reply.from_answer(await self.http.put(f"/masks/{x}", json=body))  # 200 done, 4xx refused, 502 unknown

    async def unbind(self, x: str, mode: str) -> Reply:
        return Reply.from_answer(await self.http.delete(f"/masks/{x}/{KIND[mode]}"))

    async def status(self, x: str) -> NumberStatus | None:
        answer = await self.http.get(f"/masks/{x}")
        if not answer.ok:
            return None
        modes = {MODE[m["kind"]]: ModeStatus(STATUS[m["state"]], a=m.get("customer"), b=m["staff"],
                                              binding_id=m.get("provider_ref"), version=m["rev"])
                 for m in answer.body["masks"]}
        return NumberStatus(xb=modes.get("XB", ModeStatus()), axb=modes.get("AXB", ModeStatus()))

    async def transitions(self) -> list[dict[str, Any]] | None:
        answer = await self.http.get("/journal")
        if not answer.ok:
            return None
        return [{"x": e["virtual"], "mode": MODE[e["kind"]], "from_status": STATUS[e["was"]],
                 "to_status": STATUS[e["now"]], "version": e["rev"], "at": e["at"]} for e in answer.body["events"]]

    async def reset(self) -> None:
        await self.http.post("/testing/wipe")

    async def health(self) -> str | None:
        answer = await self.http.get("/ping")
        return None if answer.status == 200 else answer.describe()
