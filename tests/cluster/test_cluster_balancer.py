"""The balancer in front of the replicas: round-robin over those that serve, never to a paused or killed one,
and on to the next replica when one refuses the connection. Real HTTP servers; the cluster is our own
interface (replicas with url/running/paused), so a plain stand-in holds it."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web

from scenarios.cluster.balancer import BalancedHttp


@dataclass
class Replica:
    index: int
    url: str
    running: bool = True
    paused: bool = False


@dataclass
class StandInCluster:
    replicas: list[Replica] = field(default_factory=list)

    def serving(self) -> list[Replica]:
        return [r for r in self.replicas if r.running and not r.paused]


async def answering(name: str) -> tuple[web.AppRunner, str]:
    async def who(request: web.Request) -> web.Response:
        return web.json_response({"replica": name})

    app = web.Application()
    app.router.add_get("/who", who)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"


def refusing_url() -> str:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.mark.asyncio
async def test_round_robin_skips_paused_and_fails_over_on_refusal() -> None:
    a, a_url = await answering("a")
    b, b_url = await answering("b")
    cluster = StandInCluster([Replica(0, a_url), Replica(1, b_url), Replica(2, refusing_url())])
    try:
        async with aiohttp.ClientSession() as session:
            http = BalancedHttp(session, cluster)  # type: ignore[arg-type]
            seen = [(await http.get("/who")).body["replica"] for _ in range(6)]
            assert set(seen) == {"a", "b"}  # the refusing replica's share went elsewhere
            assert http.failovers >= 1
            assert http.served[2] == 0

            cluster.replicas[0].paused = True
            seen = [(await http.get("/who")).body["replica"] for _ in range(4)]
            assert seen == ["b"] * 4
            # the report's per-replica traffic over time: one time per answer, in order
            assert {i: len(times) for i, times in http.answered_at.items()} == http.served
            assert http.answered_at[1] == sorted(http.answered_at[1])

            cluster.replicas[1].running = False  # nothing serves but the refusing one: its refusal is the answer
            answer = await http.get("/who")
            assert answer.status is None
    finally:
        await a.cleanup()
        await b.cleanup()
