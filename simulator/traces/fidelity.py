"""`pstnsim trace check`: how faithful pstnsim is to the provider a trace was recorded from.

The recorded requests are played, in arrival order, against a fresh in-process simulator (127.0.0.1,
ephemeral port) whose clock stands at each request's recorded time, and every answer is compared with
the recorded one: HTTP status, business code, and the body's fields by name (values of volatile fields,
which differ on every run, are not compared). Ids and X numbers the provider handed out are followed:
once the simulator answers bnd_7 where the recording has SUB-42, later requests naming SUB-42 are sent
with bnd_7. Vendor requests carry scrubbed signatures, so they are signed again for the fresh simulator
with its own credentials (`resign`).

A recorded failure (timeout, reset) or an answer pstnsim's own fault engine injected has nothing to
compare: it is listed as not comparable, and sent only when the trace says the provider applied it.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable

import aiohttp
from yarl import URL

from ..clock import ManualClock
from ..config import AliyunCredentials, ProviderConfig, TencentCredentials, VolcengineCredentials
from ..numbers import DEFAULT_POOL_KEY, PoolSpec
from ..server import Provider
from .diff import Change, describe_exchange, ordered, outcome_changes
from .format import DIALECTS, Exchange, Trace, read_trace
from .id_map import IdMap
from .recording import fault_parts

SEND_TIMEOUT = 10.0


@dataclass(frozen=True)
class Verdict:
    """One recorded exchange against the fresh simulator: agree, differ or not_comparable."""

    exchange: Exchange
    verdict: str
    changes: tuple[Change, ...] = ()
    note: str = ""
    sent: bool = True

    def to_dict(self) -> dict[str, Any]:
        e = self.exchange
        return {"seq": e.seq, "offset": round(e.offset, 6), "dialect": e.dialect, "action": e.action,
                "params": e.params, "verdict": self.verdict, "sent": self.sent, "note": self.note,
                "changes": [c.to_dict() for c in self.changes]}


@dataclass
class FidelityReport:
    path: str
    seed: int
    verdicts: list[Verdict] = field(default_factory=list)

    def count(self, verdict: str) -> int:
        return sum(1 for v in self.verdicts if v.verdict == verdict)

    @property
    def all_agree(self) -> bool:
        return self.count("differ") == 0

    def differ_by_action(self) -> dict[str, int]:
        counts = Counter(f"{v.exchange.dialect} {v.exchange.action}" for v in self.verdicts if v.verdict == "differ")
        return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


# The vendor re-signer: (dialect, method, path, query, headers, body, *, credentials, host, now) ->
# (query, headers, body). Injected so tests and the CLI share one; see `default_resigner`.
Resigner = Callable[..., tuple[str, dict[str, str], bytes]]


def default_resigner() -> Resigner | None:
    """simulator.traces.resign.resign when it is there, else None (vendor exchanges: not comparable)."""
    try:
        from .resign import resign
    except ImportError:
        return None
    return resign


async def check_file(path: str | Path, *, seed: int | None = None) -> FidelityReport:
    """Reads the trace (TraceError naming file:line on bad input) and checks it."""
    trace = read_trace(path)
    return await check_trace(trace, seed=seed, path=str(path))


def seed_of(trace: Trace, seed: int | None) -> int:
    """The given seed, else the one the recording simulator printed in the header, else 0."""
    if seed is not None:
        return seed
    recorded = trace.header.meta.get("seed")
    return recorded if isinstance(recorded, int) and not isinstance(recorded, bool) else 0


def fresh_config(trace: Trace, seed: int) -> ProviderConfig:
    """Default credentials, but the pool key, BizAppId and NumberPoolNo the trace uses, so its requests are
    this pool's."""
    aliyun_keys = [e.params.get("pool_key") for e in trace.exchanges if e.dialect == "aliyun"]
    tencent_apps = [e.params.get("pool_key") for e in trace.exchanges if e.dialect == "tencent"]
    pool_key = next((k for k in aliyun_keys if isinstance(k, str) and k), DEFAULT_POOL_KEY)
    app = next((k for k in tencent_apps if isinstance(k, str) and k), TencentCredentials().biz_app_id)
    vms_pools = [e.params.get("pool_key") for e in trace.exchanges if e.dialect == "volcengine"]
    vms_pool = next((k for k in vms_pools if isinstance(k, str) and k), VolcengineCredentials().number_pool_no)
    return ProviderConfig(
        host="127.0.0.1", port=0, seed=seed, pool=PoolSpec(seed=seed, pool_key=pool_key),
        aliyun=(AliyunCredentials(pool_key=pool_key),), tencent=(TencentCredentials(biz_app_id=app),),
        volcengine=(VolcengineCredentials(number_pool_no=vms_pool),),
    )


async def check_trace(trace: Trace, *, seed: int | None = None, path: str = "<trace>",
                      resigner: Resigner | None | str = "default") -> FidelityReport:
    seed = seed_of(trace, seed)
    resign = default_resigner() if resigner == "default" else resigner
    report = FidelityReport(path, seed)
    config = fresh_config(trace, seed)
    clock = ManualClock(epoch=trace.header.started_at)
    ids = IdMap()
    async with Provider(config, port=0, clock=clock) as provider, aiohttp.ClientSession() as session:
        host = f"127.0.0.1:{provider.port}"

        async def send(exchange: Exchange) -> dict[str, Any]:
            return await _send(session, provider.url, host, exchange, ids, config, clock.now(), resign)

        for exchange in ordered(trace):
            clock.advance(max(0.0, trace.header.started_at + exchange.offset - clock.now()))
            report.verdicts.append(await _check_one(exchange, send, ids, resign is not None))
    return report


async def _check_one(exchange: Exchange, send: Callable[[Exchange], Awaitable[dict[str, Any]]], ids: IdMap,
                     can_sign: bool) -> Verdict:
    if exchange.dialect not in DIALECTS:
        return Verdict(exchange, "not_comparable", note=f"dialect {exchange.dialect!r} is not one pstnsim serves",
                       sent=False)
    if exchange.dialect != "native" and not can_sign:
        return Verdict(exchange, "not_comparable", sent=False,
                       note="vendor requests need re-signing and no re-signer was given")
    injected = [part for part in fault_parts(exchange.fault) if part.split(":")[0] != "latency"]
    hidden = exchange.provider_response is not None
    target = exchange.provider_response if hidden else (
        exchange.response if exchange.failure is None and not injected else None)
    if target is None:
        why = (f"pstnsim injected {exchange.fault}" if injected
               else _failure_text(exchange))
        if exchange.applied is True:
            try:
                await send(exchange)  # keep the fresh ledger where the recorded provider was
            except ValueError as exc:
                return Verdict(exchange, "not_comparable", note=f"{why}; cannot re-sign it: {exc}", sent=False)
            return Verdict(exchange, "not_comparable", note=f"{why}; sent (the provider applied it)")
        unsent = "not applied" if exchange.applied is False else "unknown whether the provider applied it"
        return Verdict(exchange, "not_comparable", note=f"{why}; not sent ({unsent})", sent=False)
    try:
        answer = await send(exchange)
    except ValueError as exc:  # resign.ResignError: a recorded request with no recognisable signed form
        return Verdict(exchange, "not_comparable", note=f"cannot re-sign it: {exc}", sent=False)
    if answer.get("error"):
        return Verdict(exchange, "differ", (Change("failure", None, answer["error"]),),
                       note="the simulator gave no answer")
    ids.learn(target.get("body"), answer.get("body"))
    # The recording in the simulator's ids and X numbers, so a number shown in any field compares equal.
    changes = outcome_changes(exchange.dialect, ids.apply(target), None, answer, None)
    note = f"compared with the answer pstnsim's {exchange.fault} fault hid" if hidden else ""
    return Verdict(exchange, "differ" if changes else "agree", tuple(changes), note=note)


def _failure_text(exchange: Exchange) -> str:
    failure = exchange.failure
    if failure is None:
        return "no recorded answer"
    after = f" after {failure.after:g} s" if failure.after is not None else ""
    return f"recorded {failure.kind}{after}"


async def _send(session: aiohttp.ClientSession, base_url: str, host: str, exchange: Exchange, ids: IdMap,
                config: ProviderConfig, now: float, resign: Resigner | None) -> dict[str, Any]:
    """The recorded request, with learned ids substituted (and re-signed for a vendor), and the answer."""
    request = exchange.request
    method = str(request.get("method", "GET")).upper()
    path = ids.apply(str(request.get("path") or "/"))
    query = ids.apply(str(request.get("query") or ""))
    headers = {str(k): str(v) for k, v in (request.get("headers") or {}).items()}
    body = _body_bytes(ids.apply(request.get("body")))
    if exchange.dialect == "native":
        headers = {k: v for k, v in headers.items() if "***" not in v and k.lower() != "authorization"}
    else:
        assert resign is not None
        credentials = {"aliyun": config.aliyun, "tencent": config.tencent,
                       "volcengine": config.volcengine}[exchange.dialect][0]
        query, headers, body = resign(exchange.dialect, method, path, query, headers, body,
                                      credentials=credentials, host=host, now=now)
    url = URL(base_url + path + (f"?{query}" if query else ""), encoded=True)
    try:
        async with session.request(method, url, headers=headers, data=body or None,
                                   timeout=aiohttp.ClientTimeout(total=SEND_TIMEOUT)) as response:
            raw = await response.read()
            return {"status": response.status, "body": _parse(raw)}
    except (aiohttp.ClientError, TimeoutError) as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}


def _body_bytes(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, (dict, list)):
        return json.dumps(body, ensure_ascii=False).encode("utf-8")
    return str(body).encode("utf-8")


def _parse(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return raw.decode("utf-8", errors="replace")


# ---- output ---------------------------------------------------------------------


def render_text(report: FidelityReport) -> str:
    total = len(report.verdicts)
    agree, differ, other = report.count("agree"), report.count("differ"), report.count("not_comparable")
    lines = [f"{report.path}: played {total} exchanges against a fresh pstnsim simulator (seed {report.seed})",
             f"{total} exchanges: {agree} agree, {differ} differ, {other} not comparable"]
    if differ:
        grouped = ", ".join(f"{action} {n}" for action, n in report.differ_by_action().items())
        lines.append(f"differ by action: {grouped}")
        lines.append("where the simulator answers differently from the recording (recorded -> simulator):")
        for verdict in report.verdicts:
            if verdict.verdict == "differ":
                what = "; ".join(change.describe("the recording", "the simulator") for change in verdict.changes)
                note = f" ({verdict.note})" if verdict.note else ""
                lines.append(f"  #{verdict.exchange.seq} {describe_exchange(verdict.exchange, include_volatile=True)}: "
                             f"{what}{note}")
    if other:
        lines.append("not comparable:")
        for verdict in report.verdicts:
            if verdict.verdict == "not_comparable":
                exchange = verdict.exchange
                lines.append(f"  #{exchange.seq} {exchange.dialect} {exchange.action}: {verdict.note}")
    if not differ:
        lines.append("the simulator agrees with the recording on every comparable exchange")
    return "\n".join(lines)


def to_json(report: FidelityReport) -> dict[str, Any]:
    return {
        "path": report.path, "seed": report.seed, "exchanges": len(report.verdicts),
        "agree": report.count("agree"), "differ": report.count("differ"),
        "not_comparable": report.count("not_comparable"), "differ_by_action": report.differ_by_action(),
        "results": [v.to_dict() for v in report.verdicts],
    }
