"""`--sut` as a team needs it: a service with its own API, reached through a small adapter, checked in real
time with a time budget; checks without data are skipped with the reason; examples stay apart."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import pytest

from scenarios.adapters import ModeStatus, NumberStatus, Reply, ServiceAdapter
from scenarios.checkers import CHECKS, Observation, RetryPolicy, run_checks
from scenarios.clients import Answer
from scenarios.driver import Driver
from scenarios.history import History, Outcome
from scenarios.world import NumberChoice, NumbersUsedUp

from servers import MASK_SERVICE, ROOT, provider, pstnsim, server

EXAMPLE = ROOT / "examples" / "sut"


def test_the_example_service_is_checked_through_its_adapter_in_real_time(tmp_path):
    """A stdlib http.server service whose API looks nothing like the bundled core's, against `pstnsim
    provider`, with a tiny time budget: it passes every check it has data for, and says why it skips others."""
    import sys

    with provider() as provider_url, server([sys.executable, str(MASK_SERVICE), "--provider-url", provider_url,
                                             "--port", "0"]) as service_url:
        done = pstnsim("chaos", "run", EXAMPLE / "mask_scenario.toml", "--sut", service_url, "--provider-url",
                       provider_url, "--adapter", EXAMPLE / "mask_adapter.py", "--time-budget", "6",
                       "--report-dir", tmp_path, "--run-id", "mask", timeout=120)
        wipes = json.loads(urllib.request.urlopen(f"{service_url}/testing/wipes").read())["wipes"]
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads((tmp_path / "mask" / "summary.json").read_text())
    scenario = summary["scenarios"][0]
    assert summary["mode"] == "real-time" and scenario["verdict"] == "passed"
    assert scenario["counts"]["ok"] > 0 and scenario["examples"] >= 2
    assert wipes >= scenario["examples"], "the adapter's reset() starts every example from an empty service"
    checks = {c["name"]: c for c in scenario["checks"]}
    for name in ("xb_matches_provider", "axb_matches_provider", "no_orphan_or_duplicate", "legal_transitions",
                 "versions_step_by_one", "linearizable", "calls_routed_as_core_says"):
        assert checks[name]["status"] == "passed", checks[name]
    for name in ("retries_capped", "alert_iff_threshold", "provider_agrees_at_each_end"):
        assert checks[name]["status"] == "skipped" and "offers no operations()" in checks[name]["reason"]
    assert "only the status rows" in checks["no_operation_left"]["reason"]  # passed, and says on what
    # Progress with an estimate, and nothing Hypothesis addresses to its own maintainers.
    assert "time budget 6 s" in done.stdout and " s left" in done.stdout
    assert "PLEASE REPORT" not in done.stdout + done.stderr


@pytest.mark.parametrize(
    ("adapter", "needle"),
    [("nope.py", "no such file: nope.py"), ("lacks_status.py", "does not implement status"),
     ("broken.py", "failed to load: SyntaxError")],
)
def test_a_bad_adapter_is_refused_by_name(tmp_path, adapter, needle):
    (tmp_path / "lacks_status.py").write_text(
        "from scenarios.adapters import ServiceAdapter\n\nclass Half(ServiceAdapter):\n"
        "    async def bind(self, x, mode, a, b): ...\n    async def unbind(self, x, mode): ...\n")
    (tmp_path / "broken.py").write_text("def (:\n")
    done = pstnsim("chaos", "run", EXAMPLE / "mask_scenario.toml", "--sut", "http://127.0.0.1:9", "--provider-url",
                   "http://127.0.0.1:9", "--adapter", adapter, "--report-dir", tmp_path, cwd=tmp_path)
    assert done.returncode == 2 and needle in done.stderr and "Traceback" not in done.stderr


def test_adapter_goes_only_with_sut(tmp_path):
    done = pstnsim("chaos", "run", "--adapter", EXAMPLE / "mask_adapter.py", "--report-dir", tmp_path)
    assert done.returncode == 2 and "--adapter only goes with --sut" in done.stderr


# ---- in-process pieces: fakes of a long-lived service and provider ---------------------------------------------


@dataclass
class FakeProvider:
    """What the driver asks a provider for: its ledger (numbers, bindings, in flight)."""

    numbers: list[str]
    bindings: list[dict[str, Any]] = field(default_factory=list)
    base_url: str = "http://provider"

    async def ledger(self, *, released: bool = False) -> Answer:
        return Answer(200, {"numbers": [{"x": x} for x in self.numbers], "bindings": list(self.bindings),
                            "in_flight": 0})


class LongLivedService(ServiceAdapter):
    """A service that already did things before the example: an operation, a transition and an alert each."""

    def __init__(self, views: dict[str, NumberStatus] | None = None) -> None:
        super().__init__("http://service", None)  # type: ignore[arg-type]
        self.views = views or {}
        self.old = {"operation_id": "op_old", "x": "X0", "mode": "XB", "state": "dead", "attempts": 9}
        self.rows: list[dict[str, Any]] = [dict(self.old)]
        self.moves = [{"x": "X1", "mode": "XB", "from_status": "NOT_BIND", "to_status": "OPERATION", "version": 7,
                       "at": 1.0}]
        self.raised = [{"operation_id": "op_old", "x": "X0", "mode": "XB", "attempts": 9, "at": 1.0}]

    async def bind(self, x: str, mode: str, a: str | None, b: str) -> Reply:
        return Reply("done")

    async def unbind(self, x: str, mode: str) -> Reply:
        return Reply("refused")

    async def status(self, x: str) -> NumberStatus | None:
        return self.views.get(x, NumberStatus())

    async def operations(self) -> list[dict[str, Any]] | None:
        return list(self.rows)

    async def transitions(self) -> list[dict[str, Any]] | None:
        return list(self.moves)

    async def alerts(self) -> list[dict[str, Any]] | None:
        return list(self.raised)


POLICY = RetryPolicy(max_attempts=3, alert_threshold=3, provider_timeout=1, max_delay=1)


def run(coro: Any) -> Any:
    return asyncio.new_event_loop().run_until_complete(coro)


def test_each_example_takes_numbers_nothing_holds_least_used_first():
    held_by_provider = {"x": "X1", "mode": "XB", "status": "active"}
    service = LongLivedService({"X2": NumberStatus(axb=ModeStatus("OPERATION"))})
    choice = NumberChoice()

    async def picks() -> list[list[str]]:
        driver = Driver(service, FakeProvider(["X0", "X1", "X2", "X3", "X4"], [held_by_provider]), POLICY)  # type: ignore[arg-type]
        return [await choice.pick(driver, 2) for _ in range(3)]

    first, second, third = run(picks())
    assert first == ["X0", "X3"], "X1 is bound at the provider, X2 busy at the service"
    assert second == ["X4", "X0"] and third == ["X3", "X4"], "unused numbers first, then the least used"

    async def too_many() -> None:
        driver = Driver(service, FakeProvider(["X1", "X2"], [held_by_provider]), POLICY)  # type: ignore[arg-type]
        await choice.pick(driver, 1)

    with pytest.raises(NumbersUsedUp, match="bigger pool"):
        run(too_many())


def test_an_example_checks_only_what_happened_on_its_numbers_since_it_started():
    service = LongLivedService()

    async def observe() -> Observation:
        driver = Driver(service, FakeProvider(["X1"], [{"binding_id": "b_old", "x": "X1", "mode": "XB",
                                                         "b": "B", "status": "released"}]), POLICY)  # type: ignore[arg-type]
        driver.managed_xs = {"X1"}
        await driver.record_initial(["X1"])
        service.rows.append({"operation_id": "op_new", "x": "X1", "mode": "XB", "state": "done", "attempts": 1})
        service.rows.append({"operation_id": "op_elsewhere", "x": "X9", "mode": "XB", "state": "done", "attempts": 1})
        service.moves.append({"x": "X1", "mode": "XB", "from_status": "OPERATION", "to_status": "NOT_BIND",
                              "version": 8, "at": 2.0})
        return await driver.observe(calls=False, callers=[])

    obs = run(observe())
    assert [o["id"] for o in obs.operations] == ["op_new"]
    assert obs.alerts == [] and [t["version"] for t in obs.transitions] == [8]
    assert obs.provider_history == [], "bindings the provider already had are not this example's"
    results = {r.name: r.status for r in run_checks(obs, CHECKS.select(["alert_iff_threshold", "retries_capped"]))}
    assert results == {"alert_iff_threshold": "passed", "retries_capped": "passed"}, \
        "an earlier example's 9 attempts and alert are not held against this one"


def test_every_check_without_its_data_is_skipped_with_the_reason():
    why = "the service's adapter (Minimal) offers no operations()"
    history = History()
    obs = Observation(now=0.0, core_numbers=[{"x": "X1", "xb": {"status": "NOT_BIND"}, "axb": {"status": "NOT_BIND"}}],
                      provider_bindings=[], provider_history=[], policy=POLICY, history=history,
                      legal_transitions={("NOT_BIND", "OPERATION")}, managed_xs={"X1"},
                      unavailable={"operations": why, "alerts": why.replace("operations", "alerts"),
                                   "transitions": why.replace("operations", "transitions"),
                                   "calls": "calls = false"})
    results = {r.name: r for r in run_checks(obs, CHECKS.select())}
    skipped = {n for n, r in results.items() if r.status == "skipped"}
    assert skipped >= {"provider_agrees_at_each_end", "retries_capped", "alert_iff_threshold", "legal_transitions",
                       "versions_step_by_one", "calls_routed_as_core_says",
                       # no recording alert sink, no gray list set, no journal read by this observation
                       "alerts_delivered_once", "path_matches_gray", "attempts_capped_at_provider"}
    assert {"xb_matches_provider", "axb_matches_provider", "no_orphan_or_duplicate", "no_operation_left", "liveness",
            "linearizable"} <= {n for n, r in results.items() if r.status == "passed"}
    assert not {r.status for n, r in results.items() if n not in skipped} - {"passed"}
    assert all(results[n].reason for n in skipped) and why in results["retries_capped"].reason
    # Checks that look at part of their property say which part.
    assert "only the status rows" in results["no_operation_left"].reason
    assert "per-operation ends" in results["liveness"].reason
    # Nothing observed at all: everything skipped, nothing passed.
    assert {r.status for r in run_checks(Observation(now=0.0), CHECKS.select())} == {"skipped"}


def test_orphans_are_found_by_numbers_when_the_service_shows_no_binding_ids():
    bound = {"x": "X1", "xb": {"status": "BIND", "b": "B1"}, "axb": {"status": "NOT_BIND"}}
    mine = {"binding_id": "p1", "x": "X1", "mode": "XB", "a": None, "b": "B1", "status": "active"}
    stray = {"binding_id": "p2", "x": "X1", "mode": "AXB", "a": "A1", "b": "B1", "status": "active"}
    ok = Observation(now=0.0, core_numbers=[bound], provider_bindings=[mine], managed_xs={"X1"})
    leak = Observation(now=0.0, core_numbers=[bound], provider_bindings=[mine, stray], managed_xs={"X1"})
    check = CHECKS.select(["no_orphan_or_duplicate"])
    assert run_checks(ok, check)[0].status == "passed"
    failed = run_checks(leak, check)[0]
    assert failed.status == "failed" and failed.violation.details["orphans"] == [stray]


def test_an_accepted_operation_without_operations_is_unknown_not_late():
    class Queued(LongLivedService):
        async def bind(self, x: str, mode: str, a: str | None, b: str) -> Reply:
            return Reply("accepted", "q1")

    Queued.operations = ServiceAdapter.operations  # type: ignore[method-assign]  # a queue it does not show

    async def go() -> Observation:
        driver = Driver(Queued(), FakeProvider(["X1"]), POLICY)  # type: ignore[arg-type]
        driver.managed_xs = {"X1"}
        await driver.bind("X1", "XB", None, "B1")
        return await driver.observe(calls=False, callers=[])

    obs = run(go())
    op = obs.history.operations[0]
    assert op.outcome is Outcome.INFO and "offers no operations()" in op.detail
    assert run_checks(obs, CHECKS.select(["liveness"]))[0].status == "passed"


def test_a_bug_in_a_teams_service_is_found_shrunk_in_time_and_its_replay_reproduces_until_fixed(tmp_path):
    """A blind retry (no idempotency key, no lookup) after a lost create: the service forgets a binding the
    provider holds. Found in real time, shrunk within the budget, replayed on the failing example's own numbers;
    replayed against the fixed service it no longer reproduces."""
    import subprocess
    import sys

    buggy = tmp_path / "buggy_mask_service.py"
    text = MASK_SERVICE.read_text()
    retry = 'status, answer = self._call("POST", "/v1/bindings", body, {"Idempotency-Key": key})'
    lookup = "found = self._lookup(virtual, MODES[kind], staff, customer)"
    assert retry in text and lookup in text
    buggy.write_text(text.replace(retry, 'status, answer = self._call("POST", "/v1/bindings", body, {})')
                     .replace(lookup, "found = None"))
    scenario = tmp_path / "ghost_first.toml"
    plan = 'action = { kind = "status", status = 503 }\nwhen = { probability = 0.2 }'
    assert plan in (EXAMPLE / "mask_scenario.toml").read_text()
    scenario.write_text((EXAMPLE / "mask_scenario.toml").read_text().replace(
        plan, 'action = { kind = "ghost_success", then = "status", status = 503 }\nwhen = { first = 1 }'))
    with provider() as provider_url:
        with server([sys.executable, str(buggy), "--provider-url", provider_url, "--port", "0"]) as buggy_url:
            found = pstnsim("chaos", "run", scenario, "--sut", buggy_url, "--provider-url", provider_url,
                            "--adapter", EXAMPLE / "mask_adapter.py", "--time-budget", "6", "--seed", "1",
                            "--report-dir", tmp_path, "--run-id", "found", timeout=180)
            assert found.returncode == 1, found.stdout + found.stderr
            assert "PLEASE REPORT" not in found.stdout + found.stderr
            violation = json.loads((tmp_path / "found" / "summary.json").read_text())["scenarios"][0]["violations"][0]
            assert violation["check"] in ("xb_matches_provider", "axb_matches_provider", "no_orphan_or_duplicate")
            assert "--numbers" in violation["replay_command"] and "--adapter" in violation["replay_command"]
            script = tmp_path / "found" / "replay.sh"
            again = subprocess.run(["sh", str(script), "--report-dir", str(tmp_path), "--run-id", "again"],
                                   capture_output=True, text=True, timeout=120)
            assert again.returncode == 1, again.stdout + again.stderr  # the same numbers meet the same faults
        with server([sys.executable, str(MASK_SERVICE), "--provider-url", provider_url, "--port", "0"]) as fixed_url:
            fixed = subprocess.run(["sh", str(script), "--sut", fixed_url, "--report-dir", str(tmp_path),
                                    "--run-id", "fixed"], capture_output=True, text=True, timeout=120)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "NO LONGER REPRODUCES" in fixed.stdout


def test_numbers_named_for_a_replay_must_be_free():
    service = LongLivedService({"X2": NumberStatus(xb=ModeStatus("BIND", b="B"))})

    async def take(wanted: list[str]) -> list[str]:
        driver = Driver(service, FakeProvider(["X1", "X2", "X3"]), POLICY)  # type: ignore[arg-type]
        return await NumberChoice().take(driver, wanted, 2)

    assert run(take(["X3", "X1"])) == ["X3", "X1"]
    from scenarios.world import HarnessError

    with pytest.raises(HarnessError, match="X2 is not free"):
        run(take(["X1", "X2"]))
