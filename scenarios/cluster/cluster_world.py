"""The harness's World over a cluster: requests go through the balancer to live replicas (any replica's API
shows every operation, since they share one database); the provider is the run's own process."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from ..adapters import CoreApiAdapter
from ..clients import ProviderClient
from ..driver import Driver
from ..scenario_file import Scenario
from ..world import HarnessError, RemoteWorld, retry_policy
from .balancer import BalancedHttp
from .processes import Cluster


class ClusterWorld(RemoteWorld):
    """RemoteWorld whose service is the cluster behind a balancer; the nemesis's kills and pauses count as the
    service's crashes for the checks (each one may cut calls off and leave claims until their lease runs out)."""

    def __init__(self, scenario: Scenario, seed: int, cluster: Cluster, provider_url: str,
                 dialect: str = "native") -> None:
        super().__init__(scenario, seed, provider_url, cluster.replicas[0].url, dialect)
        self.cluster = cluster
        self.http: BalancedHttp | None = None

    async def start(self) -> None:
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False, limit=200))
        self.http = BalancedHttp(self.session, self.cluster)
        adapter = CoreApiAdapter(self.sut_url, self.http)
        self.driver = Driver(adapter, ProviderClient(self.session, self.provider_url),
                             retry_policy(self.scenario.core, self.dialect), loop=asyncio.get_running_loop())
        down = await adapter.health()
        if down:
            raise HarnessError(f"the cluster's replicas do not answer: {down}")
        self.driver.world_data = self.observations
        await self.install_faults()

    def note_outages(self, events: list[dict[str, Any]]) -> None:
        """Kills and pauses (the cluster's event list) as crashes: when each began and how long it lasted; the
        liveness bound grows by each one plus the lease its claims held."""
        open_since: dict[int, float] = {}
        for event in sorted(events, key=lambda e: e["t"]):
            replica, what = event["replica"], event["event"]
            if what in ("killed", "paused") and replica not in open_since:
                open_since[replica] = event["t"]
            elif what in ("restarted", "resumed") and replica in open_since:
                began = open_since.pop(replica)
                self._outage(began, event["t"] - began)
        for began in open_since.values():  # never ended within the run (should not happen: the nemesis resumes)
            self._outage(began, max(0.0, self.driver.now() - began))

    def _outage(self, began: float, lasted: float) -> None:
        self.crash_times.append(began)
        self.crashes.append((began, lasted))
        self.driver.downtime += lasted + self.cluster.lease
