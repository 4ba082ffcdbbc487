"""Crash safety: SIGKILL a core subprocess during a provider call, between the provider's answer and the
commit, and during backoff; restart it and check every accepted operation finished against the provider's
ledger (no OPERATION row, no duplicate, no orphan). Real processes, real time, loopback only."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
from pathlib import Path

import aiohttp
import pytest

B = "13800000001"
DEADLINE = 30.0  # seconds of wall time any one wait may take before the test fails

# The provider answers 504 to anything it held 2 s, so no call lands later than that; the core waits
# 3 s after a call it lost (and after taking over a dead holder's operation) before trusting a query.
PROVIDER_TOML = "request_deadline = 2\n"
CORE_TOML = """
[provider]
timeout = 1
connect_timeout = 1
in_doubt_window = 3
[retry]
max_attempts = 6
base_delay = 0.5
max_delay = 1
alert_threshold = 5
[worker]
lease = 3          # a dead holder's claims become free after 3 s
poll_interval = 0.2
"""


async def spawn(args: list[str], env: dict[str, str] | None = None, log: Path | None = None) -> tuple[asyncio.subprocess.Process, str]:
    """Start `python -m ...` and return it with the URL from its 'listening on' line."""
    stderr = open(log, "ab") if log else asyncio.subprocess.DEVNULL
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", *args, stdout=asyncio.subprocess.PIPE, stderr=stderr,
        env={**os.environ, **(env or {})},
    )
    while True:
        line = (await asyncio.wait_for(proc.stdout.readline(), DEADLINE)).decode()
        assert line, f"{args[0]} exited before listening (see {log})"
        if "listening on " in line:
            return proc, line.split("listening on ")[1].split()[0]


async def poll(predicate, what: str) -> None:
    """Wait for a condition with a deadline, looking every 20 ms (no fixed sleeps)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE
    while not await predicate():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def ops(db: Path) -> list[dict]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute("SELECT * FROM operations ORDER BY seq")]
    except sqlite3.OperationalError:
        return []  # not created yet
    finally:
        conn.close()


async def kill(proc: asyncio.subprocess.Process) -> None:
    proc.send_signal(signal.SIGKILL)
    assert await asyncio.wait_for(proc.wait(), DEADLINE) == -signal.SIGKILL


async def post(http: aiohttp.ClientSession, url: str, body: dict) -> None:
    """A bind request; the core may die while answering, so a dropped connection is not an error here."""
    try:
        async with http.post(url, json=body) as response:
            assert response.status == 202, await response.text()
    except aiohttp.ClientError:
        pass


@pytest.mark.timeout(180)
async def test_sigkill_at_each_point_then_restart_finishes_everything_without_duplicates(tmp_path):
    config = tmp_path / "core.toml"
    config.write_text(CORE_TOML)
    (tmp_path / "provider.toml").write_text(PROVIDER_TOML)
    db, log = tmp_path / "core.db", tmp_path / "core.log"
    provider, provider_url = await spawn(["scenarios.cli", "provider", "--port", "0", "--seed", "3",
                                           "--config", str(tmp_path / "provider.toml")], log=tmp_path / "provider.log")
    core = None
    core_args = ["binding_core.cli", "--provider-url", provider_url, "--db", str(db), "--config", str(config), "--port", "0"]
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{provider_url}/v1/numbers") as response:
                x_call, x_answer, x_backoff, x_unbind = [n["x"] for n in (await response.json())["numbers"][:4]]

            async def add_fault(rule: dict) -> None:
                async with http.post(f"{provider_url}/_admin/faults", json=rule) as response:
                    assert response.status == 201, await response.text()

            # 0. a binding made normally, to be unbound across a crash below
            core, core_url = await spawn(core_args, log=log)
            await post(http, f"{core_url}/v1/numbers/{x_unbind}/xb", {"b": B})
            await poll(lambda: _done(db, x_unbind), "the first bind")

            # 1. during a provider call: the provider has applied the create and the delete but holds both
            #    answers (ghost success, then a hang); the core dies while waiting for them.
            for operation, x in (("create_binding", x_call), ("delete_binding", x_unbind)):
                await add_fault({"match": {"operation": operation, "x": x},
                                 "action": {"kind": "ghost_success", "then": "timeout", "seconds": 20},
                                 "when": {"first": 1}})
            await post(http, f"{core_url}/v1/numbers/{x_call}/xb", {"b": B})
            async with http.delete(f"{core_url}/v1/numbers/{x_unbind}/xb") as response:
                assert response.status == 202

            async def both_applied_and_waiting() -> bool:
                async with http.get(f"{provider_url}/_admin/ledger") as response:
                    held = {b["x"] for b in (await response.json())["bindings"] if b["status"] == "active"}
                return x_call in held and x_unbind not in held and await _running(db, x_call, x_unbind)

            await poll(both_applied_and_waiting, "both calls applied, answers pending")
            await kill(core)

            # 2. between the provider's answer and the commit (test-only crash point)
            core, core_url = await spawn(core_args, env={"PSTNSIM_CORE_CRASHPOINT": "after_provider_response"}, log=log)
            await post(http, f"{core_url}/v1/numbers/{x_answer}/axb", {"a": "13900000001", "b": B})
            assert await asyncio.wait_for(core.wait(), DEADLINE) == -signal.SIGKILL

            # 3. during backoff: the first attempt fails, the retry is scheduled, then the process dies
            core, core_url = await spawn(core_args, env={"PSTNSIM_CORE_CRASHPOINT": "after_reschedule"}, log=log)
            await add_fault({"match": {"operation": "create_binding", "x": x_backoff},
                             "action": {"kind": "status", "status": 503}, "when": {"first": 1}})
            await post(http, f"{core_url}/v1/numbers/{x_backoff}/xb", {"b": B})
            assert await asyncio.wait_for(core.wait(), DEADLINE) == -signal.SIGKILL
            [pending] = [op for op in ops(db) if op["x"] == x_backoff]
            assert (pending["state"], pending["attempts"]) == ("pending", 1)

            # restart without crash points; wait for quiescence
            core, core_url = await spawn(core_args, log=log)

            async def quiet() -> bool:
                async with http.get(f"{core_url}/health") as response:
                    counts = (await response.json())["operations"]
                return counts["pending"] == 0 and counts["running"] == 0

            await poll(quiet, "the restarted core to finish every operation")
            async with http.get(f"{provider_url}/_admin/ledger") as response:
                ledger = await response.json()
            active = [b for b in ledger["bindings"] if b["status"] == "active"]
            assert all(op["state"] == "done" for op in ops(db)), ops(db)
            for x, mode in ((x_call, "xb"), (x_answer, "axb"), (x_backoff, "xb"), (x_unbind, "xb")):
                async with http.get(f"{core_url}/v1/numbers/{x}") as response:
                    view = await response.json()
                held = [b for b in active if b["x"] == x]
                assert view["xb"]["status"] != "OPERATION" and view["axb"]["status"] != "OPERATION"
                if x == x_unbind:
                    assert view[mode]["status"] == "NOT_BIND" and held == []
                else:
                    assert view[mode]["status"] == "BIND", view
                    assert [b["binding_id"] for b in held] == [view[mode]["binding_id"]]  # one, and the core's
            assert {b["x"] for b in active} == {x_call, x_answer, x_backoff}  # no orphan anywhere
            async with http.get(f"{core_url}/v1/transitions") as response:
                from binding_core.transitions import check_history
                assert check_history((await response.json())["transitions"]) == []
    finally:
        for proc in (core, provider):
            if proc is not None and proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
                await asyncio.wait_for(proc.wait(), DEADLINE)


async def _done(db: Path, x: str) -> bool:
    return any(op["x"] == x and op["state"] == "done" for op in ops(db))


async def _running(db: Path, *xs: str) -> bool:
    running = {op["x"] for op in ops(db) if op["state"] == "running"}
    return set(xs) <= running
