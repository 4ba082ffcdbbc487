"""cut_db on a real PostgreSQL: it terminates exactly the named replica's connections to the run's database."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from types import SimpleNamespace

from binding_core.testing import POSTGRES_ADMIN_DEFAULT, POSTGRES_ADMIN_ENV
from scenarios.cluster.nemesis import Action, run_nemesis


@dataclass
class DbOnlyCluster:
    """The Cluster facts cut_db reads; its process methods are never called by a cut_db."""

    db_url: str
    admin_db_url: str | None
    replicas: list = field(default_factory=lambda: [SimpleNamespace(index=i, running=True, paused=False)
                                                    for i in range(2)])
    lease: float = 1.0
    broker_url: str | None = None
    broker_namespace: str | None = None


def connect(url: str, application: str):
    import psycopg  # here, not at import: without the driver the fixture says what to install (and fails on CI)

    return psycopg.connect(url, autocommit=True, application_name=application, connect_timeout=5)


def alive(conn) -> bool:
    import psycopg

    try:
        conn.execute("SELECT 1").fetchone()
        return True
    except psycopg.OperationalError:
        return False


async def test_cut_db_terminates_exactly_that_replicas_connections(pstnsim_postgres_url: str) -> None:
    admin_url = os.environ.get(POSTGRES_ADMIN_ENV, POSTGRES_ADMIN_DEFAULT)
    victims = [connect(pstnsim_postgres_url, "pstnsim-replica-0") for _ in range(2)]
    bystanders = [connect(pstnsim_postgres_url, "pstnsim-replica-1"),
                  connect(pstnsim_postgres_url, "pstnsim-replica-01"),
                  connect(admin_url, "pstnsim-replica-0")]  # same name, another database: not the run's
    try:
        log: list = []
        cluster = DbOnlyCluster(db_url=pstnsim_postgres_url, admin_db_url=admin_url)
        await asyncio.wait_for(run_nemesis(cluster, [Action(0.0, "cut_db", 0, {})],
                                           asyncio.get_running_loop().time(), log), 30)
        assert [(r["action"], r["outcome"], r["details"]) for r in log] == [
            ("cut_db", "done", {"terminated": 2, "application_name": "pstnsim-replica-0"})]
        assert [alive(c) for c in victims] == [False, False]
        assert [alive(c) for c in bystanders] == [True, True, True]
        # the replica's next connection works: the cut is of connections, not of the database
        with connect(pstnsim_postgres_url, "pstnsim-replica-0") as again:
            assert alive(again)
    finally:
        for conn in victims + bystanders:
            conn.close()


async def test_cut_db_without_an_admin_url_uses_the_run_database(pstnsim_postgres_url: str) -> None:
    victim = connect(pstnsim_postgres_url, "pstnsim-replica-1")
    try:
        log: list = []
        cluster = DbOnlyCluster(db_url=pstnsim_postgres_url, admin_db_url=None)
        await asyncio.wait_for(run_nemesis(cluster, [Action(0.0, "cut_db", 1, {})],
                                           asyncio.get_running_loop().time(), log), 30)
        assert log[0]["details"]["terminated"] == 1
        assert not alive(victim)
    finally:
        victim.close()
