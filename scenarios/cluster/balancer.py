"""A load balancer in front of the replicas, as the adapter's Http: round-robin over the replicas that serve.

Like a balancer with health checks, it sends nothing to a replica it knows is
down or paused, and sends a request to the next replica when one refuses the
connection (nothing reached it, so even a bind may go elsewhere). A request a
replica took and then lost (it was killed or paused mid-request) is not sent
again: that answer is the business's to see.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from ..clients import Answer, Http, _request, request_kwargs
from .processes import Cluster

NO_REPLICA_WAIT = 15.0  # seconds a request waits for a replica to serve again when none does
REFUSED = ("ClientConnectorError", "ClientConnectionError", "Cannot connect")


class BalancedHttp(Http):
    def __init__(self, session: aiohttp.ClientSession, cluster: Cluster) -> None:
        super().__init__(session, cluster.replicas[0].url or "http://127.0.0.1")
        self.cluster = cluster
        self._next = 0
        self.served: dict[int, int] = {r.index: 0 for r in cluster.replicas}  # answers per replica
        # loop time of each answer per replica, for the report's per-replica traffic over time
        self.answered_at: dict[int, list[float]] = {r.index: [] for r in cluster.replicas}
        self.failovers = 0  # requests moved to another replica after a refused connection

    async def request(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None,
                      headers: dict[str, str] | None = None) -> Answer:
        kwargs = request_kwargs(json, params, headers)
        if "://" in path:
            return await _request(self.session, method, path, **kwargs)
        tried: set[int] = set()
        answer = Answer(None, error="no replica serves")
        while True:
            replica = await self._pick(tried)
            if replica is None:
                return answer
            tried.add(replica.index)
            answer = await _request(self.session, method, f"{replica.url.rstrip('/')}/{path.lstrip('/')}", **kwargs)
            if answer.status is None and any(word in answer.error for word in REFUSED):
                self.failovers += 1
                continue
            self.served[replica.index] = self.served.get(replica.index, 0) + 1
            self.answered_at.setdefault(replica.index, []).append(asyncio.get_running_loop().time())
            return answer

    async def _pick(self, tried: set[int]) -> Any:
        """The next serving replica not tried yet; when none serves, wait (bounded) for one to come back."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + NO_REPLICA_WAIT
        while True:
            serving = [r for r in self.cluster.serving() if r.index not in tried]
            if serving:
                self._next += 1
                return serving[self._next % len(serving)]
            if tried or loop.time() >= deadline:
                return None
            await asyncio.sleep(0.1)
