"""The replicas' TCP proxy: bytes pass both ways unchanged; cut() drops the open connections and new ones work."""

from __future__ import annotations

import asyncio
import os

import pytest

from scenarios.cluster.tcp_proxy import TcpProxy

DEADLINE = 10.0


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


@pytest.fixture
async def proxy():
    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    proxy = TcpProxy("127.0.0.1", server.sockets[0].getsockname()[1])
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.stop()
        server.close()
        await server.wait_closed()


async def roundtrip(port: int, payload: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(payload)
    await writer.drain()
    got = await asyncio.wait_for(reader.readexactly(len(payload)), DEADLINE)
    return reader, writer, got


async def test_bytes_pass_both_ways_unchanged(proxy: TcpProxy) -> None:
    payload = os.urandom(300_000)
    _, writer, got = await roundtrip(proxy.local_port, payload)
    assert got == payload
    assert proxy.bytes_up == proxy.bytes_down == len(payload)
    writer.close()


async def test_cut_drops_open_connections_and_new_ones_are_served(proxy: TcpProxy) -> None:
    reader_a, writer_a, _ = await roundtrip(proxy.local_port, b"a")
    reader_b, writer_b, _ = await roundtrip(proxy.local_port, b"b")
    assert proxy.connections == 2
    assert await proxy.cut() == 2
    for reader in (reader_a, reader_b):
        try:
            rest = await asyncio.wait_for(reader.read(10), DEADLINE)
        except ConnectionResetError:
            rest = b""
        assert rest == b""  # the connection is gone (EOF or reset), nothing more arrives
    assert proxy.connections == 0
    _, writer_c, got = await roundtrip(proxy.local_port, b"again")
    assert got == b"again"
    assert proxy.accepted == 3 and proxy.cuts == 1
    for writer in (writer_a, writer_b, writer_c):
        writer.close()


async def test_upstream_down_closes_the_client(proxy: TcpProxy) -> None:
    closed = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = closed.sockets[0].getsockname()[1]
    closed.close()
    await closed.wait_closed()
    nowhere = TcpProxy("127.0.0.1", port)
    local = await nowhere.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", local)
        try:
            rest = await asyncio.wait_for(reader.read(10), DEADLINE)
        except ConnectionResetError:
            rest = b""
        assert rest == b""
        writer.close()
    finally:
        await nowhere.stop()


async def test_a_connection_still_reaching_upstream_is_cut_too(proxy: TcpProxy) -> None:
    """A client accepted while its upstream connection is being made (the broker slow to answer) is cut as
    well, and the upstream connection made afterwards is not kept."""
    reaching = asyncio.Event()
    go_on = asyncio.Event()
    made: list[asyncio.StreamWriter] = []

    async def slow_connect(host: str, port: int):
        reaching.set()
        await go_on.wait()
        reader, writer = await asyncio.open_connection(host, port)
        made.append(writer)
        return reader, writer

    held = TcpProxy(proxy.host, proxy.port, connect=slow_connect)
    local = await held.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", local)
        await asyncio.wait_for(reaching.wait(), DEADLINE)
        assert await held.cut() == 1
        go_on.set()
        try:
            rest = await asyncio.wait_for(reader.read(10), DEADLINE)
        except ConnectionResetError:
            rest = b""
        assert rest == b""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DEADLINE
        while not (made and made[0].transport.is_closing()):  # the proxy drops it once made (polled)
            assert loop.time() < deadline, "the upstream connection made after the cut was kept"
            await asyncio.sleep(0.01)
        assert held.connections == 0
        writer.close()
    finally:
        await held.stop()
