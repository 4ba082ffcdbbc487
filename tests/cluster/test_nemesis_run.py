"""run_nemesis against a stand-in Cluster that records what is done to each replica: actions happen, never two
at once on one replica, and every replica is left running and resumed, after a cancel too."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from scenarios.cluster.nemesis import Action, run_nemesis

DEADLINE = 10.0


@dataclass
class FakeReplica:
    index: int
    running: bool = True
    paused: bool = False


@dataclass
class FakeCluster:
    """The Cluster interface as plain state; `calls` is every call in order, `changed` fires on each one."""

    replicas: list[FakeReplica]
    lease: float = 0.05
    db_url: str = "sqlite:///unused.db"
    admin_db_url: str | None = None
    broker_url: str | None = None
    broker_namespace: str | None = None
    calls: list[tuple[str, int]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def _call(self, name: str, i: int) -> None:
        self.calls.append((name, i))
        self.changed.set()

    async def kill(self, i: int) -> None:
        self.replicas[i].running = self.replicas[i].paused = False
        self._call("kill", i)

    async def restart(self, i: int) -> None:
        await asyncio.sleep(0)  # a real restart takes a while: let a cancel land in the middle
        self.replicas[i].running, self.replicas[i].paused = True, False
        self._call("restart", i)

    async def pause(self, i: int) -> None:
        self.replicas[i].paused = True
        self._call("pause", i)

    async def resume(self, i: int) -> None:
        self.replicas[i].paused = False
        self._call("resume", i)

    async def cut_broker(self, i: int) -> None:
        self._call("cut_broker", i)

    async def wait_for_call(self, call: tuple[str, int]) -> None:
        async def seen() -> None:
            while call not in self.calls:
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(seen(), DEADLINE)


def cluster(n: int = 2, **kwargs) -> FakeCluster:
    return FakeCluster([FakeReplica(i) for i in range(n)], **kwargs)


def all_up(c: FakeCluster) -> bool:
    return all(r.running and not r.paused for r in c.replicas)


async def test_actions_on_one_replica_never_overlap_and_each_is_logged() -> None:
    c = cluster(2, lease=0.05, broker_url="amqp://unused")
    actions = [Action(0.0, "kill", 0, {"downtime": 0.1}),
               Action(0.01, "pause", 0, {"past_lease": 0.05}),
               Action(0.01, "pause", 1, {"past_lease": 0.05}),
               Action(0.02, "cut_broker", 0, {})]
    log: list = []
    await asyncio.wait_for(run_nemesis(c, actions, asyncio.get_running_loop().time(), log), DEADLINE)
    on_0 = [name for name, i in c.calls if i == 0]
    assert on_0 == ["kill", "restart", "pause", "resume", "cut_broker"]
    assert [name for name, i in c.calls if i == 1] == ["pause", "resume"]
    assert sorted((r["action"], r["replica"], r["outcome"]) for r in log) == [
        ("cut_broker", 0, "done"), ("kill", 0, "done"), ("pause", 0, "done"), ("pause", 1, "done")]
    pause_0 = next(r for r in log if r["action"] == "pause" and r["replica"] == 0)
    kill = next(r for r in log if r["action"] == "kill")
    assert pause_0["at"] >= kill["ended_at"]  # waited for the replica to be back
    assert pause_0["details"] == {"paused_for": 0.1}
    assert all_up(c)


async def test_cancel_mid_pause_and_mid_kill_leaves_every_replica_up() -> None:
    c = cluster(3, lease=60.0)
    actions = [Action(0.0, "pause", 0, {"past_lease": 60.0}), Action(0.0, "kill", 1, {"downtime": 60.0}),
               Action(120.0, "kill", 2, {"downtime": 1.0})]
    log: list = []
    run = asyncio.create_task(run_nemesis(c, actions, asyncio.get_running_loop().time(), log))
    await c.wait_for_call(("pause", 0))
    await c.wait_for_call(("kill", 1))
    assert not all_up(c)
    run.cancel()
    try:
        await asyncio.wait_for(run, DEADLINE)
    except asyncio.CancelledError:
        pass
    assert all_up(c)
    assert ("resume", 0) in c.calls and ("restart", 1) in c.calls
    assert all(i != 2 for _, i in c.calls)  # the action not yet due never ran
    assert sorted((r["action"], r["replica"], r["outcome"]) for r in log) == [
        ("kill", 1, "cancelled"), ("pause", 0, "cancelled")]


async def test_a_replica_left_down_by_someone_else_is_restarted_at_the_end() -> None:
    c = cluster(2)
    c.replicas[1].running = False
    c.replicas[0].paused = True
    log: list = []
    await asyncio.wait_for(run_nemesis(c, [], asyncio.get_running_loop().time(), log), DEADLINE)
    assert all_up(c)
    assert [(r["action"], r["replica"], r["details"]) for r in log] == [
        ("restore", 0, {"did": ["resumed"]}), ("restore", 1, {"did": ["restarted"]})]


async def test_an_action_that_cannot_run_here_is_logged_not_raised() -> None:
    c = cluster(1)
    actions = [Action(0.0, "cut_db", 0, {}), Action(0.0, "duplicate", None, {"messages": 1, "wait": 1.0}),
               Action(0.0, "cut_broker", 0, {})]
    log: list = []
    await asyncio.wait_for(run_nemesis(c, actions, asyncio.get_running_loop().time(), log), DEADLINE)
    assert sorted((r["action"], r["outcome"]) for r in log) == [
        ("cut_broker", "skipped"), ("cut_db", "skipped"), ("duplicate", "skipped")]
    assert all_up(c)


async def test_an_action_on_a_replica_the_cluster_lacks_is_skipped() -> None:
    c = cluster(1)
    log: list = []
    await asyncio.wait_for(run_nemesis(c, [Action(0.0, "kill", 3, {"downtime": 0.1})],
                                       asyncio.get_running_loop().time(), log), DEADLINE)
    assert [(r["action"], r["outcome"], r["details"]) for r in log] == [
        ("kill", "skipped", {"reason": "the cluster has no replica 3"})]
    assert c.calls == []
