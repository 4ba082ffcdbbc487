"""Finding 6 of issue 11: a 64 KB URL or header got aiohttp's plain-text 400 and a full traceback in the log
for each one. Now: JSON 414 / 431 with a code, one log line, no traceback, on both servers."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from binding_core.app import Core
from simulator.config import ProviderConfig
from simulator.server import Provider

HEADS = {
    "url": (b"GET /v1/numbers?x=" + b"1" * 65_536 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 414, "URI_TOO_LONG"),
    "header": (b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 65_536 + b"\r\n\r\n", 431,
               "HEADERS_TOO_LARGE"),
    "headers": (b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(300))
                + b"\r\n", 431, "HEADERS_TOO_LARGE"),
}


async def _send(port: int, head: bytes) -> tuple[int, dict]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head)
        await writer.drain()
    except ConnectionError:
        pass  # the server may answer and close before reading it all
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), json.loads(rest.split(b"\r\n\r\n", 1)[1])


@pytest.mark.parametrize("what", sorted(HEADS))
@pytest.mark.parametrize("server", ["provider", "core"])
async def test_an_oversize_head_is_a_json_414_or_431_with_one_log_line(server, what, caplog) -> None:
    head, status, code = HEADS[what]
    caplog.set_level(logging.DEBUG)
    if server == "provider":
        running = Provider(ProviderConfig(seed=1))
    else:
        running = Core(provider_url="http://127.0.0.1:9")
    async with running:
        caplog.clear()
        got_status, body = await _send(running.port, head)
    assert (got_status, body["code"]) == (status, code), body
    assert len(body["message"]) < 200
    noisy = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(noisy) == 1 and str(status) in noisy[0].getMessage(), [r.getMessage() for r in noisy]
    assert not any(r.exc_info for r in caplog.records)
