"""`--replay`: a trace served as the provider, as a client sees it, under looptime virtual time.

Each test records its own incident with pstnsim (`trace_file=` plus fault rules), then serves that trace
with `replay_file=` and sends the same requests (re-signed, new nonces and timestamps for the vendors).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from binding_core.provider.tencent import tc3_headers
from simulator.clock import FIXED_EPOCH
from simulator.config import ProviderConfig
from simulator.dialects.aliyun import signing as aliyun_signing
from scenarios.cli import main
from simulator.server import Provider
from simulator.traces import Exchange, Failure, Header, Trace, read_trace, write_trace

pytestmark = pytest.mark.looptime

B, B2, A = "13800000003", "13800000004", "13900000001"
POOL_KEY = "FC100000000000001"


def config(**overrides: Any) -> ProviderConfig:
    return ProviderConfig(seed=7, epoch=FIXED_EPOCH, **overrides)


async def add_rules(session: aiohttp.ClientSession, provider: Provider, *rules: dict) -> None:
    for rule in rules:
        async with session.post(f"{provider.admin_url}/faults", json=rule) as response:
            assert response.status == 201, await response.text()


async def post(session: aiohttp.ClientSession, url: str, body: dict, timeout: float = 60.0) -> tuple[int | str, Any]:
    """(status, body as JSON) or ("timeout", None) when the client gives up first."""
    try:
        async with session.post(url, json=body, timeout=aiohttp.ClientTimeout(total=timeout)) as response:
            return response.status, await response.json(content_type=None)
    except asyncio.TimeoutError:
        return "timeout", None


async def bind_three_times(session: aiohttp.ClientSession, provider: Provider) -> list[tuple[Any, Any, float]]:
    """The incident: the same XB bind sent three times (a client that retries), with a 3 s client timeout."""
    loop = asyncio.get_running_loop()
    seen = []
    for _ in range(3):
        started = loop.time()
        status, body = await post(session, f"{provider.url}/v1/bindings", {"mode": "XB", "b": B}, timeout=3.0)
        seen.append((status, body, round(loop.time() - started, 1)))  # virtual seconds (loopback I/O adds ms)
    return seen


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as s:
        yield s


async def record_incident(tmp_path: Path, session: aiohttp.ClientSession) -> tuple[Path, list]:
    """A recorded trace: ghost success answered 503, then a bind held 8 s (the client gives up at 3 s),
    then one answered after 2 s of latency. Called in the test body: looptime's virtual time starts there."""
    trace = tmp_path / "incident.jsonl"
    async with Provider(config(trace_file=trace)) as recorder:
        await add_rules(
            session, recorder,
            {"match": {"operation": "create_binding"}, "action": {"kind": "ghost_success", "status": 503},
             "when": {"first": 1}},
            {"match": {"operation": "create_binding"}, "action": {"kind": "timeout", "seconds": 8}, "when": {"nth": 2}},
            {"match": {"operation": "create_binding"}, "action": {"kind": "latency", "seconds": 2}, "when": {"nth": 3}},
        )
        seen = await bind_three_times(session, recorder)
        await asyncio.sleep(10)  # virtual: the held bind ends and is journaled before the recorder stops
    return trace, seen


async def test_a_recorded_incident_replays_in_recorded_order_with_its_latency(tmp_path, session) -> None:
    trace, recorded = await record_incident(tmp_path, session)
    assert [status for status, _, _ in recorded] == [503, "timeout", 201]
    async with Provider(config(replay_file=trace)) as replay:
        replayed = await bind_three_times(session, replay)
        await asyncio.sleep(10)
        entries = replay.journal.entries()
        ledger = replay.ledger.snapshot(released=True)
    assert replayed == recorded  # statuses, bodies and (virtual) latencies: 503 at once, timeout at 3 s, 201 after 2 s
    assert [r[2] for r in replayed] == [0.0, 3.0, 2.0]
    ghost, duplicate = recorded[0], recorded[2][1]
    hidden = read_trace(trace).exchanges[0].provider_response["body"]
    assert ghost[1]["code"] == "INJECTED_FAULT"
    # The ledger ends with the ghost's binding (recorded id and X) and the duplicate the retry made.
    assert [(b["binding_id"], b["x"], b["b"], b["status"]) for b in ledger["bindings"]] == [
        (hidden["binding_id"], hidden["x"], B, "active"), (duplicate["binding_id"], duplicate["x"], B, "active")]
    faults = sorted(e.fault for e in entries)
    assert faults[0].startswith("replay:seq=") and faults[0].endswith("+ghost_success:503")
    assert [e.x for e in entries if e.fault == faults[0]] == [hidden["x"]]  # the journal knows the X it made
    assert any(f.endswith("+timeout") for f in faults) and any(f.endswith("+latency") for f in faults)


async def test_unrecorded_requests_are_served_by_the_ledger_and_marked(tmp_path, session) -> None:
    trace, _ = await record_incident(tmp_path, session)
    async with Provider(config(replay_file=trace)) as replay:
        async with session.get(f"{replay.url}/v1/bindings", params={"b": B}) as response:
            listed = await response.json()
        async with session.get(f"{replay.admin_url}/replay") as response:
            progress = await response.json()
        entries = replay.journal.entries()
    # The preloaded ledger knows nothing yet (no recorded create was answered), and says so.
    assert response.status == 200 and listed["bindings"] == []
    assert [e.fault for e in entries] == ["UNRECORDED"]
    assert progress["matched"] == 0 and progress["unrecorded"] == 1
    assert progress["unrecorded_requests"] == [{"dialect": "native", "action": "list_bindings", "params": {"b": B}}]
    assert sorted(progress["never_asked"]) == [1, 2, 3]  # in recorded (arrival) order: the held bind ends last


async def test_unrecorded_requests_are_refused_in_error_mode(tmp_path, session) -> None:
    trace, recorded = await record_incident(tmp_path, session)
    async with Provider(config(replay_file=trace, replay_unrecorded="error")) as replay:
        replayed = await bind_three_times(session, replay)
        status, body = await post(session, f"{replay.url}/v1/bindings", {"mode": "XB", "b": B})  # a fourth: none left
        other, other_body = await post(session, f"{replay.url}/v1/bindings", {"mode": "XB", "b": B2})
        await asyncio.sleep(10)
        faults = [e.fault for e in replay.journal.entries()]
        bindings = replay.ledger.bindings(b=B2)
    assert [r[0] for r in replayed] == [503, "timeout", 201]
    assert (status, body["code"], other, other_body["code"]) == (400, "UNRECORDED", 400, "UNRECORDED")
    assert other_body["action"] == "create_binding" and other_body["params"] == {"mode": "XB", "b": B2}
    assert B2 in other_body["message"] and bindings == []
    assert faults.count("UNRECORDED") == 2


async def test_matching_ignores_json_key_order_and_a_changed_number_does_not_match(tmp_path, session) -> None:
    trace, recorded = await record_incident(tmp_path, session)
    async with Provider(config(replay_file=trace, replay_unrecorded="error")) as replay:
        async with session.post(f"{replay.url}/v1/bindings", data='{"b": "+86' + B + '",   "mode": "XB"}',
                                headers={"Content-Type": "application/json"}) as response:
            first = response.status, await response.json()
        changed = await post(session, f"{replay.url}/v1/bindings", {"mode": "XB", "b": B2})
    assert first == recorded[0][:2]  # reordered keys, +86 form: the same meaning
    assert changed[0] == 400 and changed[1]["code"] == "UNRECORDED"


async def test_a_reset_rewinds_the_trace(tmp_path, session) -> None:
    trace, recorded = await record_incident(tmp_path, session)
    async with Provider(config(replay_file=trace)) as replay:
        first = await post(session, f"{replay.url}/v1/bindings", {"mode": "XB", "b": B})
        async with session.post(f"{replay.admin_url}/reset") as response:
            assert response.status == 200
        again = await post(session, f"{replay.url}/v1/bindings", {"mode": "XB", "b": B})
    assert first == again == recorded[0][:2]


async def test_the_admin_route_says_when_nothing_is_replayed(session) -> None:
    async with Provider(config()) as plain:
        async with session.get(f"{plain.admin_url}/replay") as response:
            assert (response.status, (await response.json())["code"]) == (404, "NOT_REPLAYING")


async def test_speed_divides_the_recorded_latencies(tmp_path, session) -> None:
    trace, recorded = await record_incident(tmp_path, session)
    async with Provider(config(replay_file=trace, replay_speed=4)) as replay:
        replayed = await bind_three_times(session, replay)
    # The held bind (8 s) now answers its recorded 504 at 2 s, before the client's 3 s timeout.
    assert [(status, seconds) for status, _, seconds in replayed] == [(503, 0.0), (504, 2.0), (201, 0.5)]
    assert replayed[2][1] == recorded[2][1]


async def observe(session: aiohttp.ClientSession, url: str, body: dict) -> str:
    """What a client makes of one answer: a status and JSON, or the way it failed."""
    try:
        async with session.post(url, json=body, timeout=aiohttp.ClientTimeout(total=60)) as response:
            raw = await response.read()
    except aiohttp.ClientPayloadError:
        return "cut body"
    except aiohttp.ServerDisconnectedError:
        return "disconnected"
    except aiohttp.ClientOSError as exc:
        return f"os error {exc.errno}"
    try:
        return f"{response.status} {sorted(json.loads(raw))}"
    except ValueError:
        return f"{response.status} malformed"


async def test_transport_failures_replay_as_the_client_saw_them(tmp_path, session) -> None:
    trace = tmp_path / "transport.jsonl"
    numbers = [f"1380000001{i}" for i in range(5)]
    kinds = ["reset", "truncated_body", "malformed_body", "empty_reply"]
    async with Provider(config(trace_file=trace)) as recorder:
        await add_rules(session, recorder, *[{"match": {"operation": "create_binding"}, "action": {"kind": kind},
                                              "when": {"nth": n}} for n, kind in enumerate(kinds, start=1)])
        recorded = [await observe(session, f"{recorder.url}/v1/bindings", {"mode": "XB", "b": b}) for b in numbers]
    assert recorded[0].startswith("os error") and recorded[1:4] == ["cut body", "201 malformed", "disconnected"]
    assert recorded[4].startswith("201")
    async with Provider(config(replay_file=trace)) as replay:
        replayed = [await observe(session, f"{replay.url}/v1/bindings", {"mode": "XB", "b": b}) for b in numbers]
        held = sorted(b.b for b in replay.ledger.bindings())
    assert replayed == recorded
    # A reset and an empty reply came before the handler; a cut or mangled body after it had applied the bind.
    assert held == [numbers[1], numbers[2], numbers[4]]


async def test_a_recorded_client_timeout_holds_until_the_gateway_deadline_then_closes(tmp_path, session) -> None:
    lost = Exchange(1, 0.0, "native", "create_binding", {"mode": "XB", "b": B}, {"method": "POST"}, None,
                    Failure("timeout", 50.0), 50.0)
    header = Header(recorder="pstnsim record", dialects=("native",), started_at=FIXED_EPOCH, pseudonymised=False)
    trace = write_trace(tmp_path / "proxy.jsonl", Trace(header, [lost]))
    async with Provider(config(replay_file=trace, request_deadline=4.0)) as replay:
        loop = asyncio.get_running_loop()
        started = loop.time()
        seen = await observe(session, f"{replay.url}/v1/bindings", {"mode": "XB", "b": B})
        waited = loop.time() - started
        [entry] = replay.journal.entries()
    assert seen == "disconnected" and waited == pytest.approx(4.0, abs=0.1)
    assert (entry.status, entry.fault) == (None, "replay:seq=1+timeout")


# ---- vendors: signed requests, a ghost success, then the retry ------------------------------------


async def aliyun_call(session: aiohttp.ClientSession, provider: Provider, action: str, params: dict[str, str],
                      secret: str = "pstnsim-secret") -> tuple[int, Any]:
    """An ACS3-signed RPC POST as the Tea SDK sends it, with a fresh nonce and the provider's time."""
    host = f"127.0.0.1:{provider.port}"
    headers = aliyun_signing.sign_acs3(method="POST", host=host, action=action, version="2017-05-25", query=params,
                                       access_key_id="pstnsim-ak", secret=secret, nonce=uuid.uuid4().hex,
                                       at=provider.ledger.clock.now())
    url = f"{provider.url}/?{aliyun_signing.canonical_query(params.items())}"
    async with session.post(url, headers=headers) as response:
        return response.status, await response.json(content_type=None)


async def tencent_call(session: aiohttp.ClientSession, provider: Provider, action: str, params: dict[str, Any],
                       secret_key: str = "pstnsim-secret") -> tuple[int, Any]:
    body = json.dumps(params).encode()
    headers = tc3_headers(action, body, f"127.0.0.1:{provider.port}", int(provider.ledger.clock.now()),
                          "pstnsim-id", secret_key)
    async with session.post(f"{provider.url}/", data=body, headers=headers) as response:
        return response.status, await response.json(content_type=None)


def ghost_then_serve(dialect: str, operation: str) -> dict:
    return {"match": {"dialect": dialect, "operation": operation},
            "action": {"kind": "ghost_success", "status": 503}, "when": {"first": 1}}


async def test_aliyun_replay_answers_signed_requests_as_recorded(tmp_path: Path, session) -> None:
    trace = tmp_path / "aliyun.jsonl"
    async with Provider(config(trace_file=trace)) as recorder:
        x = recorder.ledger.numbers()[0].x
        params = {"PoolKey": POOL_KEY, "PhoneNoA": A, "PhoneNoB": B, "PhoneNoX": x, "Expiration": "2030-01-01 00:00:00"}
        await add_rules(session, recorder, ghost_then_serve("aliyun", "BindAxb"))
        recorded = [await aliyun_call(session, recorder, "BindAxb", params) for _ in range(2)]
    assert [status for status, _ in recorded] == [503, 200]
    assert recorded[1][1]["Code"] == "isv.BIND_CONFLICT"  # the retry meets the binding the ghost made
    ghost_id = read_trace(trace).exchanges[0].provider_response["body"]["SecretBindDTO"]["SubsId"]

    async with Provider(config(replay_file=trace)) as replay:
        forged = await aliyun_call(session, replay, "BindAxb", params, secret="not-the-secret")
        replayed = [await aliyun_call(session, replay, "BindAxb", params) for _ in range(2)]
        bindings = replay.ledger.bindings(x=x)
        faults = [e.fault for e in replay.journal.entries()]
    assert forged[0] == 400 and forged[1]["Code"] == "SignatureDoesNotMatch"  # refused, and matched nothing
    assert replayed == recorded  # same statuses, same bodies (recorded request ids included)
    assert [(b.binding_id, b.mode, b.a, b.b) for b in bindings] == [(ghost_id, "AXB", A, B)]
    assert faults[0] == "replay:refused" and faults[1].endswith("ghost_success:503")


async def test_tencent_replay_answers_signed_requests_as_recorded(tmp_path: Path, session) -> None:
    trace = tmp_path / "tencent.jsonl"
    params = {"BizAppId": "pstnsim", "Dst": "0086" + B, "Src": "0086" + A}
    async with Provider(config(trace_file=trace)) as recorder:
        await add_rules(session, recorder, ghost_then_serve("tencent", "GetVirtualNum"))
        recorded = [await tencent_call(session, recorder, "GetVirtualNum", params) for _ in range(2)]
    assert [status for status, _ in recorded] == [503, 200]
    assert recorded[1][1]["Response"]["RefNum"] == "2"  # the retry reused the ghost's binding

    async with Provider(config(replay_file=trace)) as replay:
        forged = await tencent_call(session, replay, "GetVirtualNum", params, secret_key="wrong")
        # The same meaning, another JSON layout: keys reordered.
        replayed = [await tencent_call(session, replay, "GetVirtualNum", dict(reversed(params.items())))
                    for _ in range(2)]
        [binding] = replay.ledger.bindings(b=B)
    assert forged[1]["Response"]["Error"]["Code"] == "AuthFailure.SignatureFailure"
    assert replayed == recorded
    bind_id = recorded[1][1]["Response"]["BindId"]
    assert (binding.binding_id, binding.mode, binding.a) == (bind_id, "AXB", A)
    assert binding.extra["tencent"]["ref_num"] == 2


async def test_unrecorded_vendor_requests_are_refused_in_the_vendors_own_shape(tmp_path, session) -> None:
    trace = small_trace(tmp_path / "native.jsonl")
    async with Provider(config(replay_file=trace, replay_unrecorded="error")) as replay:
        aliyun = await aliyun_call(session, replay, "BindXB", {"CustomerPoolKey": POOL_KEY, "ReqId": "r1",
                                                               "TelX": replay.ledger.numbers()[0].x, "TelB": B})
        tencent = await tencent_call(session, replay, "GetVirtualNum", {"BizAppId": "pstnsim", "Dst": "0086" + B})
        faults = [e.fault for e in replay.journal.entries()]
    assert aliyun[0] == 400 and aliyun[1]["Code"] == "Replay.Unrecorded" and "BindXB" in aliyun[1]["Message"]
    error = tencent[1]["Response"]["Error"]
    assert tencent[0] == 200 and error["Code"] == "FailedOperation.Unrecorded" and B in error["Message"]
    assert faults == ["UNRECORDED", "UNRECORDED"]


# ---- bad input, from the command line -----------------------------------------------------------


def provider_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "scenarios.cli", "provider", "--port", "0", *args],
                          capture_output=True, text=True, timeout=60)


def small_trace(path: Path) -> Path:
    """Two native exchanges, written through the format's own writer."""
    def create(seq: int, status: int, body: dict) -> Exchange:
        return Exchange(seq, seq * 1.0, "native", "create_binding", {"mode": "XB", "b": B},
                        {"method": "POST", "path": "/v1/bindings", "query": "", "headers": {}, "body": None},
                        {"status": status, "headers": {"content-type": "application/json"}, "body": body}, None, 0.1)

    header = Header(recorder="test", dialects=("native",), started_at=FIXED_EPOCH, pseudonymised=False)
    return write_trace(path, Trace(header, [create(1, 503, {"code": "INJECTED_FAULT"}),
                                            create(2, 201, {"binding_id": "bnd_00000009", "x": B2})]))


@pytest.mark.parametrize("damage, line, words", [
    (lambda lines: lines[:-1] + [lines[-1][: len(lines[-1]) // 2]], "last", "truncated"),
    (lambda lines: [lines[0].replace('"version": 1', '"version": 9')] + lines[1:], 1, "unknown trace format version 9"),
    (lambda lines: lines[:1] + ['{"type": "exchange", "seq": 1}'] + lines[2:], 2, "'offset' must be"),
])
def test_a_damaged_trace_stops_the_provider_naming_file_and_line(tmp_path, damage, line, words) -> None:
    lines = small_trace(tmp_path / "good.jsonl").read_text().splitlines()
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(damage(lines)))
    result = provider_cli("--replay", str(bad))
    number = len(lines) if line == "last" else line
    assert result.returncode == 2
    assert f"{bad}:{number}:" in result.stderr and words in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("args, words", [
    (["--speed", "0"], "--speed"),
    (["--speed", "fast"], "--speed"),
    (["--unrecorded", "maybe"], "--unrecorded"),
    (["--faults", str(Path(__file__).parents[2] / "examples/faults/transport.toml")], "--faults"),
])
def test_bad_replay_flags_exit_2(tmp_path, capsys, args, words) -> None:
    trace = small_trace(tmp_path / "good.jsonl")
    assert cli_exit(["provider", "--replay", str(trace), *args]) == 2
    assert words in capsys.readouterr().err


def test_replay_flags_need_a_trace(capsys) -> None:
    assert cli_exit(["provider", "--speed", "2"]) == 2
    assert "--replay" in capsys.readouterr().err


def cli_exit(argv: list[str]) -> int:
    """`pstnsim ...` in-process, for refusals that happen before anything listens."""
    try:
        return main(argv)
    except SystemExit as exc:  # argparse's own refusals
        return int(exc.code or 0)
