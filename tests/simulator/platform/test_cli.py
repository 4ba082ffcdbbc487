"""`pstnsim provider` as a real subprocess: prints its URL, serves, exits cleanly on SIGINT / SIGTERM."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
import pytest

from simulator.dialects.aliyun import signing

SCRIPT = Path(sys.executable).with_name("pstnsim")
COMMAND = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "scenarios.cli"]
URL = re.compile(r"listening on (http://\S+)")


async def start(*args: str) -> tuple[asyncio.subprocess.Process, str, list[str]]:
    process = await asyncio.create_subprocess_exec(*COMMAND, "provider", "--port", "0", *args,
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert process.stdout is not None
    lines: list[str] = []

    async def url() -> str:
        while True:
            line = (await process.stdout.readline()).decode()
            if not line:
                raise AssertionError(f"provider exited before printing its URL: {lines}")
            lines.append(line)
            found = URL.search(line)
            if found:
                lines.append((await process.stdout.readline()).decode())
                return found.group(1)

    try:
        return process, await asyncio.wait_for(url(), 30), lines
    except BaseException:
        process.kill()
        await process.wait()
        raise


async def stop(process: asyncio.subprocess.Process, signum: int) -> int:
    process.send_signal(signum)
    return await asyncio.wait_for(process.wait(), 30)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
async def test_serves_until_signalled_then_exits_cleanly(tmp_path, signum):
    faults = tmp_path / "faults.toml"
    faults.write_text('[[rules]]\nid = "late"\naction = { kind = "latency", seconds = 0.01 }\n')
    trace = tmp_path / "trace.jsonl"
    process, url, lines = await start("--seed", "7", "--faults", str(faults), "--trace", str(trace))
    assert url.startswith("http://127.0.0.1:")
    assert "admin API: " in lines[-1]
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{url}/_admin/faults") as response:
            assert [rule["id"] for rule in (await response.json())["rules"]] == ["late"]
        async with session.get(f"{url}/v1/numbers") as response:
            assert response.status == 200
    assert await stop(process, signum) == 0
    assert "shutting down" in (await process.stdout.read()).decode()
    assert '"action": "list_numbers"' in trace.read_text()


async def test_the_same_seed_serves_the_same_pool():
    pools = []
    for _ in range(2):
        process, url, _ = await start("--seed", "7")
        async with aiohttp.ClientSession() as session, session.get(f"{url}/_admin/ledger") as response:
            pools.append([n["x"] for n in (await response.json())["numbers"]])
        assert await stop(process, signal.SIGINT) == 0
    assert pools[0] == pools[1] and pools[0]


async def test_a_bad_faults_file_is_refused_before_listening(tmp_path):
    faults = tmp_path / "faults.toml"
    faults.write_text('[[rules]]\naction = { kind = "explode" }\n')
    process = await asyncio.create_subprocess_exec(*COMMAND, "provider", "--port", "0", "--faults", str(faults),
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 2
    assert "action.kind must be one of" in err.decode() and b"listening" not in out


async def test_a_public_host_gets_no_admin_api_without_the_flag():
    process, url, lines = await start("--host", "0.0.0.0")
    port = url.rsplit(":", 1)[1]
    assert "admin API not mounted" in lines[-1]
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{port}/_admin/ledger") as response:
            assert response.status == 404
    assert await stop(process, signal.SIGINT) == 0


CONFIG = """
seed = 7
port = 1  # --port 0 on the command line wins
[pool]
cities = ["Wuhan"]
pool_key = "FC900000000000009"
[[aliyun.credentials]]
access_key_id = "custom-ak"
access_key_secret = "custom-secret"
"""


async def aliyun_bind(session: aiohttp.ClientSession, url: str, access_key_id: str, secret: str, nonce: str) -> dict:
    """An RPC v1 BindAxb signed with the given key; the subprocess's clock is the wall clock."""
    query = signing.sign_rpc(method="GET", action="BindAxb", version="2017-05-25", access_key_id=access_key_id,
                             secret=secret, nonce=nonce, at=time.time(),
                             params={"PoolKey": "FC900000000000009", "PhoneNoA": "13800000001", "PhoneNoB": "13900000002",
                                     "Expiration": "2099-01-01 00:00:00"})
    async with session.get(f"{url}/?{urlencode(query)}") as response:
        return await response.json(content_type=None)


async def test_a_config_file_sets_the_credentials_and_flags_win(tmp_path):
    config = tmp_path / "provider.toml"
    config.write_text(CONFIG)
    process, url, lines = await start("--config", str(config))
    assert "(seed 7," in lines[0]  # the file's seed: no --seed given
    async with aiohttp.ClientSession() as session:
        accepted = await aliyun_bind(session, url, "custom-ak", "custom-secret", "n1")
        refused = await aliyun_bind(session, url, "pstnsim-ak", "pstnsim-secret", "n2")
        async with session.get(f"{url}/_admin/ledger") as response:
            ledger = await response.json()
    assert accepted["Code"] == "OK", accepted
    assert refused["Code"] == "InvalidAccessKeyId.NotFound"  # the default key is gone
    [binding] = ledger["bindings"]
    assert binding["pool_key"] == "FC900000000000009"  # the account owns the file's pool
    assert {n["city"] for n in ledger["numbers"]} == {"Wuhan"}
    assert await stop(process, signal.SIGTERM) == 0


async def test_an_unknown_config_key_is_refused_before_listening(tmp_path):
    config = tmp_path / "provider.toml"
    config.write_text('[[aliyun.credentials]]\naccess_key = "k"\n')
    process = await asyncio.create_subprocess_exec(*COMMAND, "provider", "--port", "0", "--config", str(config),
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 2 and b"listening" not in out
    assert "unknown key aliyun.credentials[0].'access_key'" in err.decode()
