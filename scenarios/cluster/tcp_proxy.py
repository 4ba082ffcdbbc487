"""A small TCP proxy in front of one replica's broker connection, so the nemesis can cut just that replica's link.

The replica connects to the proxy's local port; each accepted connection gets its own upstream connection and
two pumps copying bytes. `cut()` aborts every current connection on both sides (as a network failure would: the
replica sees its connection drop and reconnects through the proxy, which accepts again at once).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Awaitable, Callable

_CHUNK = 64 * 1024


@dataclass(eq=False)
class _Link:
    """One client connection and its upstream twin; aborting either transport ends both pumps."""

    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter
    pumps: list[asyncio.Task] = field(default_factory=list)

    def abort(self) -> None:
        for writer in (self.client, self.upstream):
            transport = writer.transport
            if not transport.is_closing():
                transport.abort()


class TcpProxy:
    """`TcpProxy(host, port)` forwards a local port (127.0.0.1, chosen at `start()`) to host:port."""

    def __init__(self, host: str, port: int, *, listen_host: str = "127.0.0.1",
                 connect: Callable[[str, int], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]
                 = asyncio.open_connection) -> None:
        self.host = host
        self.port = port
        self.listen_host = listen_host
        self._connect = connect  # how the upstream connection is made (a test holds it half-way)
        self.local_port: int | None = None
        self.accepted = 0  # connections accepted since start
        self.cuts = 0  # cut() calls
        self.bytes_up = 0  # client -> upstream
        self.bytes_down = 0  # upstream -> client
        self._server: asyncio.Server | None = None
        self._links: set[_Link] = set()
        self._connecting: set[asyncio.StreamWriter] = set()  # accepted, upstream connection not yet made

    @property
    def connections(self) -> int:
        """Connections open right now."""
        return len(self._links)

    async def start(self) -> int:
        """Listen and return the local port."""
        self._server = await asyncio.start_server(self._accept, self.listen_host, 0)
        self.local_port = self._server.sockets[0].getsockname()[1]
        return self.local_port

    async def cut(self) -> int:
        """Abort every open connection (both sides); new connections are accepted as before. Returns how many
        were cut."""
        cut = await self._abort_all()
        self.cuts += 1
        return cut

    async def stop(self) -> None:
        """Stop listening and abort every open connection."""
        if self._server is not None:
            self._server.close()
            self._server = None
        await self._abort_all()

    async def _abort_all(self) -> int:
        """Abort the open connections and those still connecting upstream; wait for their pumps to end."""
        links = list(self._links)
        connecting = list(self._connecting)
        for link in links:
            link.abort()
        for writer in connecting:
            writer.transport.abort()
        self._links.difference_update(links)
        pumps = [pump for link in links for pump in link.pumps]
        if pumps:
            await asyncio.gather(*pumps, return_exceptions=True)
        return len(links) + len(connecting)

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self._connecting.add(client_writer)
        try:
            upstream_reader, upstream_writer = await self._connect(self.host, self.port)
        except OSError:
            # Upstream down: the client sees its connection closed, as it would with no proxy in between.
            client_writer.transport.abort()
            return
        finally:
            self._connecting.discard(client_writer)
        if client_writer.transport.is_closing():  # cut while we were connecting upstream
            upstream_writer.transport.abort()
            return
        link = _Link(client_writer, upstream_writer)
        self._links.add(link)
        link.pumps = [
            asyncio.create_task(self._pump(client_reader, upstream_writer, link, up=True)),
            asyncio.create_task(self._pump(upstream_reader, client_writer, link, up=False)),
        ]
        try:
            await asyncio.gather(*link.pumps, return_exceptions=True)
        except asyncio.CancelledError:
            link.abort()
            raise
        finally:
            self._links.discard(link)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, link: _Link, *, up: bool) -> None:
        """Copy until EOF (then close the other side after flushing, which ends the opposite pump too) or an
        error (then abort the whole link)."""
        try:
            while True:
                data = await reader.read(_CHUNK)
                if not data:
                    break
                if up:
                    self.bytes_up += len(data)
                else:
                    self.bytes_down += len(data)
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            link.abort()
        else:
            with contextlib.suppress(Exception):
                writer.close()
