"""Finding 2 of issue 11, on both servers: no header or idle timeout and no connection cap. A client that
sends its request head one byte at a time held its connection for as long as it liked, and with the
open-file limit at 1,024 about 1,100 idle sockets made every new request time out (while asyncio's
accept-error logging filled the disk). Each test is bounded: a few thousand sockets, a few seconds."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest

from simulator.config import ProviderConfig
from simulator.server import Provider

from .conftest import Served, open_idle_sockets, raise_own_nofile

IDLE_SOCKETS = 2000
REAL_REQUESTS = 20
PATHS = {"provider": "/v1/numbers?limit=1", "core": "/health"}


async def _slowloris(served: Served, budget: float) -> tuple[bytes, float]:
    """Send a head one byte every 0.2 s; what the server answered and when, or b"" if it never did."""
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    started = time.monotonic()
    head = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 200
    answer = asyncio.ensure_future(reader.read(4096))
    try:
        for byte in head:
            if answer.done() or time.monotonic() - started > budget:
                break
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(0.2)
        await asyncio.wait([answer], timeout=max(0.0, budget - (time.monotonic() - started)))
        return (answer.result() if answer.done() else b""), time.monotonic() - started
    except ConnectionError:
        return (answer.result() if answer.done() else b""), time.monotonic() - started
    finally:
        answer.cancel()
        writer.close()


@pytest.mark.parametrize("kind", ["provider", "core"])
async def test_a_slowloris_client_is_cut_off_at_the_header_timeout(serve, kind) -> None:
    served = serve(kind, {"header_timeout": 1})
    answer, _ = await _slowloris(served, budget=6.0)  # a 408 before the client's budget is the cut-off
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["code"] == "REQUEST_TIMEOUT"


async def _real_requests_while_held(served: Served, kind: str) -> tuple[int, int]:
    """Hold IDLE_SOCKETS silent connections, then send REAL_REQUESTS real ones: (served, sockets held)."""
    idle = await open_idle_sockets(served.port, IDLE_SOCKETS)
    try:
        served_ok = 0
        timeout = aiohttp.ClientTimeout(total=3)
        async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(force_close=True)) as http:
            for _ in range(REAL_REQUESTS):
                try:
                    async with http.get(served.url + PATHS[kind]) as response:
                        served_ok += response.status == 200
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    pass
        return served_ok, len(idle)
    finally:
        for sock in idle:
            sock.close()


async def test_two_thousand_idle_sockets_do_not_stop_real_requests_on_either_server(serve) -> None:
    raise_own_nofile(2 * IDLE_SOCKETS + 500)
    servers = {kind: serve(kind) for kind in ("provider", "core")}  # defaults; each may open 1,024 files
    results = await asyncio.gather(*(_real_requests_while_held(s, kind) for kind, s in servers.items()))
    for (kind, served), (served_ok, held) in zip(servers.items(), results):
        assert served_ok == REAL_REQUESTS, f"{kind}: {served_ok} of {REAL_REQUESTS} served while {held} sockets were held"
        log = served.log.read_text()
        assert len(log) < 20_000, log[-2000:]  # nothing floods the log


async def test_accept_failures_are_logged_once_per_interval(serve) -> None:
    """Past the open-file limit accept() fails; asyncio logged each failure with a traceback."""
    raise_own_nofile(1000)
    served = serve("provider", {"max_connections": 5000}, nofile=128)  # a cap the file limit cannot honour
    idle = await open_idle_sockets(served.port, 300, connect_timeout=1.0)
    try:
        await asyncio.sleep(2)  # two of asyncio's 1 s accept retries
        log = served.log.read_text()
    finally:
        for sock in idle:
            sock.close()
    assert "cannot accept connections" in log
    assert log.count("accept") <= 2 and "Traceback" not in log, log[-3000:]


async def test_an_idle_kept_alive_connection_is_closed_after_the_keepalive_timeout() -> None:
    async with Provider(ProviderConfig(seed=1, keepalive_timeout=0.5)) as provider:
        reader, writer = await asyncio.open_connection("127.0.0.1", provider.port)
        writer.write(b"GET /v1/numbers?limit=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")))
        await reader.readexactly(length)
        assert await asyncio.wait_for(reader.read(), 5) == b""  # closed by the server, idle (else TimeoutError)
        writer.close()


async def test_at_the_cap_with_every_connection_busy_a_newcomer_gets_a_clear_503() -> None:
    config = ProviderConfig(seed=1, max_connections=2)
    async with Provider(config) as provider, aiohttp.ClientSession() as http:
        provider.faults.add({"match": {"operation": "list_numbers"}, "action": {"kind": "timeout", "seconds": 1}})
        busy = [asyncio.ensure_future(http.get(provider.url + "/v1/numbers")) for _ in range(2)]
        deadline = asyncio.get_running_loop().time() + 10
        while provider.faults.list()[0]["fired"] < 2:  # until both are being served (held by the fault)
            assert asyncio.get_running_loop().time() < deadline, "the two requests were never held"
            await asyncio.sleep(0.01)
        reader, writer = await asyncio.open_connection("127.0.0.1", provider.port)
        answer = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        assert answer.startswith(b"HTTP/1.1 503"), answer[:100]
        assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["code"] == "TOO_MANY_CONNECTIONS"
        for response in await asyncio.gather(*busy):
            response.release()
