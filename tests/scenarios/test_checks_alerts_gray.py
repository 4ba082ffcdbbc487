"""Alert deliveries, gray routing and attempts at the provider: each check on small hand-built observations
(fails on a defect's data, passes on a correct core's), and the recording alert sink over real HTTP."""

from __future__ import annotations

import aiohttp
import pytest

from scenarios.alert_sink import PORT_ENV, AlertRecorder, configured_port
from scenarios.checkers import CHECKS, Observation, RetryPolicy, run_checks

X1, X2 = "17100000001", "17100000002"
POLICY = RetryPolicy(max_attempts=4, alert_threshold=2, provider_timeout=2, max_delay=4)


def result(name: str, obs: Observation):
    (outcome,) = run_checks(obs, CHECKS.select([name]))
    return outcome


# ---- alerts_delivered_once -------------------------------------------------------------------


def alert(op_id: str, seq: int) -> dict:
    return {"operation_id": op_id, "x": X1, "mode": "XB", "attempts": 2, "at": 10.0, "alert_id": seq}


def delivery(op_id: str, at: float, seq: int = 1) -> dict:
    return {"at": at, "operation_id": op_id, "alert_id": str(seq), "x": X1, "mode": "XB", "body": {}}


def alerts_obs(deliveries, *, alerts=None, crashes=(), wired=True) -> Observation:
    return Observation(now=100.0, alerts=[alert("op1", 1)] if alerts is None else alerts,
                       alert_deliveries=deliveries, alert_sink_wired=wired, crash_times=list(crashes))


def test_one_delivery_per_alert_passes():
    assert result("alerts_delivered_once", alerts_obs([delivery("op1", 10.0)])).status == "passed"


def test_an_alert_told_again_on_a_later_failure_fails():
    """The defect: the sinks are told again on every failed attempt past the threshold (the rows stay one)."""
    outcome = result("alerts_delivered_once", alerts_obs([delivery("op1", 10.0), delivery("op1", 14.0),
                                                          delivery("op1", 22.0)]))
    assert outcome.status == "failed"
    (repeated,) = outcome.violation.details["repeated"]
    assert repeated["deliveries"] == 3 and repeated["without_a_restart_before"] == [14.0, 22.0]


def test_a_second_delivery_after_a_restart_is_allowed_but_not_a_third_without_one():
    once_more = alerts_obs([delivery("op1", 10.0), delivery("op1", 31.0)], crashes=[30.0])
    assert result("alerts_delivered_once", once_more).status == "passed"
    twice_more = alerts_obs([delivery("op1", 10.0), delivery("op1", 31.0), delivery("op1", 35.0)], crashes=[30.0])
    assert result("alerts_delivered_once", twice_more).status == "failed"


def test_a_raised_alert_never_delivered_and_a_delivery_never_raised_fail():
    lost = result("alerts_delivered_once", alerts_obs([]))
    assert lost.status == "failed" and len(lost.violation.details["lost"]) == 1
    stray = result("alerts_delivered_once", alerts_obs([delivery("op1", 10.0), delivery("op9", 12.0)]))
    assert stray.status == "failed" and stray.violation.details["stray"][0]["alert"] == "op:op9"


def test_a_delivery_that_is_not_json_fails():
    outcome = result("alerts_delivered_once", alerts_obs([delivery("op1", 10.0), {"at": 11.0, "malformed": "oops"}]))
    assert outcome.status == "failed" and outcome.violation.details["malformed"]


def test_without_a_recording_sink_the_check_is_skipped_with_the_reason():
    obs = Observation(now=0.0, alerts=[], unavailable={"alert_deliveries": "no recording alert sink: give the adapter"})
    outcome = result("alerts_delivered_once", obs)
    assert outcome.status == "skipped" and "no recording alert sink" in outcome.reason


def test_a_service_not_pointed_at_the_sink_is_skipped_not_passed():
    """By URL: nothing reached the sink while the service raised alerts: its webhook is elsewhere."""
    outcome = result("alerts_delivered_once", alerts_obs([], wired=False))
    assert outcome.status == "skipped" and "does not point at the sink" in outcome.reason
    # Wired by the harness itself (in-process), the same silence is a lost alert.
    assert result("alerts_delivered_once", alerts_obs([], wired=True)).status == "failed"


def test_without_the_services_alert_rows_only_repeats_are_checked_and_the_note_says_so():
    obs = Observation(now=1.0, alert_deliveries=[delivery("op1", 10.0)], alert_sink_wired=False,
                      unavailable={"alerts": "the adapter offers no alerts()"})
    outcome = result("alerts_delivered_once", obs)
    assert outcome.status == "passed" and "no alerts()" in outcome.reason


# ---- path_matches_gray -------------------------------------------------------------------------

START = {"at": None, "begun": None, "applied": None, "enabled": True, "all": False, "numbers": [X1]}


def switch(numbers, begun, applied, all_numbers=False) -> dict:
    return {"at": 5.0, "begun": begun, "applied": applied, "enabled": True, "all": all_numbers, "numbers": numbers}


def request(op_id: str, x: str, sent: int, answered: int) -> dict:
    return {"operation_id": op_id, "x": x, "mode": "XB", "kind": "bind", "sent_at": 0.0, "answered_at": 0.0,
            "sent": sent, "answered": answered}


def gray_obs(paths: dict[str, str], requests, timeline) -> Observation:
    ops = [{"id": op_id, "x": X1, "mode": "XB", "kind": "bind", "state": "done", "path": path}
           for op_id, path in paths.items()]
    return Observation(now=10.0, operations=ops, requests=requests, gray_timeline=timeline)


def test_paths_that_follow_every_switch_pass():
    # X1 gray (async) at first, then X1 taken off the gray list (sync), then every number gray.
    timeline = [START, switch([], 3, 4), switch([], 7, 8, all_numbers=True)]
    obs = gray_obs({"op1": "async", "op2": "sync", "op3": "async"},
                   [request("op1", X1, 1, 2), request("op2", X1, 5, 6), request("op3", X1, 9, 10)], timeline)
    assert result("path_matches_gray", obs).status == "passed"


def test_a_path_decided_once_and_kept_after_a_switch_fails():
    """The defect: X1's path was decided at its first request and the later switch ignored."""
    timeline = [START, switch([], 3, 4)]
    obs = gray_obs({"op1": "async", "op2": "async"}, [request("op1", X1, 1, 2), request("op2", X1, 5, 6)], timeline)
    outcome = result("path_matches_gray", obs)
    assert outcome.status == "failed"
    (wrong,) = outcome.violation.details["operations"]
    assert (wrong["operation_id"], wrong["path"], wrong["expected"]) == ("op2", "async", "sync")


def test_no_gray_list_means_every_number_on_the_new_path():
    timeline = [{**START, "enabled": False, "numbers": []}]
    assert result("path_matches_gray", gray_obs({"op1": "async"}, [request("op1", X2, 1, 2)], timeline)).status == "passed"
    assert result("path_matches_gray", gray_obs({"op1": "sync"}, [request("op1", X2, 1, 2)], timeline)).status == "failed"


def test_a_request_in_flight_while_the_list_changed_may_take_either_path():
    timeline = [START, switch([], 3, 4)]
    obs = gray_obs({"op1": "sync"}, [request("op1", X1, 2, 5)], timeline)  # sent before, answered after the switch
    assert result("path_matches_gray", obs).status == "passed"


def test_gray_routing_is_skipped_without_a_known_configuration_or_paths():
    unknown = Observation(now=0.0, operations=[], requests=[])
    assert result("path_matches_gray", unknown).status == "skipped"
    no_paths = gray_obs({}, [request("op1", X1, 1, 2)], [START])
    no_paths.operations = [{"id": "op1", "x": X1, "mode": "XB", "kind": "bind", "state": "done"}]
    outcome = result("path_matches_gray", no_paths)
    assert outcome.status == "skipped" and "path" in outcome.reason


# ---- attempts_capped_at_provider ---------------------------------------------------------------


def call(op_id: str, at: float, *, suffix: str = "", status: int | None = 500, latency: float = 0.01) -> dict:
    return {"at": at, "end": at + latency, "operation": "create_binding", "key": f"core-db1-{op_id}{suffix}",
            "status": status}


def attempts_obs(calls, *, attempts: int = 4, crashes=()) -> Observation:
    ops = [{"id": "op_00000001", "x": X1, "mode": "XB", "kind": "bind", "state": "dead", "attempts": attempts}]
    return Observation(now=100.0, policy=POLICY, operations=ops, write_calls=calls, crash_times=list(crashes))


def test_max_attempts_calls_across_a_restart_pass():
    calls = [call("op_00000001", t) for t in (0.0, 1.0)] + [call("op_00000001", t) for t in (40.0, 44.0)]
    assert result("attempts_capped_at_provider", attempts_obs(calls, crashes=[20.0])).status == "passed"


def test_a_counter_reset_on_restart_fails_though_the_core_reports_max_attempts():
    """The defect: 2 calls, a crash, then 4 more; the core's own counter says 4."""
    calls = [call("op_00000001", t) for t in (0.0, 1.0, 40.0, 41.0, 43.0, 47.0)]
    outcome = result("attempts_capped_at_provider", attempts_obs(calls, crashes=[20.0]))
    assert outcome.status == "failed"
    (over,) = outcome.violation.details["operations"]
    assert (over["calls"], over["allowed"], over["core_attempts"]) == (6, 4, 4)


def test_a_call_cut_off_by_a_crash_may_be_made_again():
    calls = [call("op_00000001", t) for t in (0.0, 1.0, 3.0)] + [call("op_00000001", 5.0, latency=2.0)] + \
            [call("op_00000001", 40.0)]
    assert result("attempts_capped_at_provider", attempts_obs(calls, crashes=[6.0])).status == "passed"
    assert result("attempts_capped_at_provider", attempts_obs(calls, crashes=[30.0])).status == "failed"


def test_a_duplicates_delete_a_sweeps_calls_and_refused_credentials_are_not_attempts():
    calls = [call("op_00000001", t) for t in (0.0, 1.0, 3.0, 7.0)] + [
        call("op_00000001", 8.0, suffix="-dup-bnd_9"), call("op_00000001", 9.0, status=401)]
    assert result("attempts_capped_at_provider", attempts_obs(calls)).status == "passed"


def test_attempts_at_the_provider_are_skipped_when_calls_cannot_be_told_apart():
    no_journal = Observation(now=0.0, policy=POLICY, operations=[],
                             unavailable={"write_calls": "the aliyun wire carries no idempotency key"})
    outcome = result("attempts_capped_at_provider", no_journal)
    assert outcome.status == "skipped" and "aliyun" in outcome.reason
    foreign = attempts_obs([{"at": 0.0, "end": 0.1, "operation": "create_binding", "key": "uuid-7f3a", "status": 500}])
    assert result("attempts_capped_at_provider", foreign).status == "skipped"


# ---- the recording sink --------------------------------------------------------------------------


async def test_the_recording_sink_keeps_every_delivery_and_refuses_a_body_that_is_not_json():
    recorder = await AlertRecorder().start()
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(2):
                async with session.post(recorder.url, json={"alert_id": 7, "operation_id": "op1", "x": X1}) as reply:
                    assert reply.status == 200
            async with session.post(recorder.url, data=b"not json") as reply:
                assert reply.status == 400
    finally:
        await recorder.stop()
    assert recorder.url.startswith("http://127.0.0.1:")
    assert [(d.get("operation_id"), d.get("alert_id")) for d in recorder.deliveries[:2]] == [("op1", "7")] * 2
    assert recorder.deliveries[2]["malformed"] == "not json"


def test_a_service_by_url_names_the_sink_port_in_its_adapter_or_the_environment(monkeypatch):
    class Adapter:
        alert_sink_port = 9123

    monkeypatch.delenv(PORT_ENV, raising=False)
    assert configured_port(object()) is None
    assert configured_port(Adapter()) == 9123
    monkeypatch.setenv(PORT_ENV, "9124")
    assert configured_port(object()) == 9124
    monkeypatch.setenv(PORT_ENV, "ninety")
    with pytest.raises(ValueError, match=PORT_ENV):
        configured_port(object())


def test_an_http_clients_immediate_resend_of_an_unanswered_request_is_one_attempt():
    """aiohttp sends a DELETE once more at once when the connection drops: one attempt, two requests."""
    pairs = [c for t in (0.0, 1.0, 3.0, 7.0) for c in (call("op_00000001", t, status=None),
                                                       call("op_00000001", t, status=None))]
    assert result("attempts_capped_at_provider", attempts_obs(pairs)).status == "passed"
    # Answered calls at one instant are two attempts; so is a resend that comes late.
    answered = [call("op_00000001", t) for t in (0.0, 0.0, 1.0, 1.0, 3.0)]
    assert result("attempts_capped_at_provider", attempts_obs(answered)).status == "failed"
    late = [c for t in (0.0, 1.0) for c in (call("op_00000001", t, status=None), call("op_00000001", t + 0.5))] + \
           [call("op_00000001", 3.0)]
    assert result("attempts_capped_at_provider", attempts_obs(late)).status == "failed"


# ---- over a vendor's wire: the calls as they leave the core -------------------------------------------


async def test_the_recording_client_keeps_each_create_and_delete_with_its_key_and_a_cut_off_calls_end():
    import asyncio

    from binding_core.provider.base import Ok, ProviderBinding, Unknown
    from scenarios.call_recorder import RecordingClient

    release = asyncio.Event()

    class Inner:
        async def create_binding(self, mode, x, b, a=None, *, idempotency_key):
            return Ok(ProviderBinding("bnd_1", mode, x, a, b))

        async def delete_binding(self, binding_id, *, idempotency_key):
            await release.wait()
            return Unknown("reset")

        async def find_bindings(self, mode, x, b=None, a=None):
            return Ok([])

    calls: list[dict] = []
    client = RecordingClient(Inner(), calls)
    assert isinstance(await client.create_binding("XB", X1, "13900000002", idempotency_key="core-db-op_1"), Ok)
    await client.find_bindings("XB", X1)  # a lookup is no attempt: not recorded
    cut = asyncio.ensure_future(client.delete_binding("bnd_1", idempotency_key="core-db-op_2"))
    await asyncio.sleep(0)
    cut.cancel()  # a crash mid-call
    with pytest.raises(asyncio.CancelledError):
        await cut
    assert [(c["operation"], c["key"], c["status"], c["source"]) for c in calls] == [
        ("create_binding", "core-db-op_1", 200, "client"), ("delete_binding", "core-db-op_2", None, "client")]
    assert calls[1]["end"] is not None and calls[1]["end"] >= calls[1]["at"]


# ---- a service by URL pointed at the recording sink ------------------------------------------------------

REMOTE_SCENARIO = """
name = "remote_alerts"
description = "Creates fail often enough that operations reach the alert threshold, against servers by URL."
[workload]
modes = ["XB"]
numbers = 2
parties = 4
mix = { bind = 3, unbind = 1 }
rate = 20.0
burst = [2, 4]
[[faults]]
match = { operation = "create_binding" }
action = { kind = "status", status = 500 }
when = { probability = 0.6 }
[core]
retry = { max_attempts = 3, base_delay = 0.05, max_delay = 0.2, alert_threshold = 1 }
provider = { timeout = 1.0, in_doubt_window = 0.5 }
[run]
duration = 2
[budget]
examples = 3
steps = 8
"""


def test_a_service_by_url_whose_webhook_points_at_the_sink_is_checked_and_one_that_does_not_is_skipped(
        tmp_path, monkeypatch, capsys):
    """The bundled core by URL with `[alerts] webhook_url` at the port named by PSTNSIM_ALERT_SINK_PORT: its
    deliveries are checked; the same run without the port skips the check, saying how to point it."""
    import json
    import logging
    import socket
    import urllib.request

    from scenarios.cli import main
    from servers import PSTNSIM, provider, server

    logging.getLogger("binding_core").setLevel(logging.CRITICAL)
    with socket.socket() as probe:  # a free loopback port for the sink
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = tmp_path / "core.toml"
    config.write_text("[retry]\nmax_attempts = 3\nbase_delay = 0.05\nmax_delay = 0.2\nalert_threshold = 1\n"
                      "[provider]\ntimeout = 1.0\nin_doubt_window = 0.5\n[worker]\npoll_interval = 0.2\n"
                      f'[alerts]\nlog = false\nwebhook_url = "http://127.0.0.1:{port}/alerts"\nwebhook_timeout = 1\n')
    scenario = tmp_path / "remote_alerts.toml"
    scenario.write_text(REMOTE_SCENARIO)
    with provider() as provider_url, server([str(PSTNSIM), "core", "--provider-url", provider_url, "--db",
                                             str(tmp_path / "core.db"), "--config", str(config), "--port", "0",
                                             "--log-level", "ERROR"]) as core_url:
        runs = {}
        for name, env in (("wired", str(port)), ("unwired", None)):
            if env is None:
                monkeypatch.delenv(PORT_ENV, raising=False)
            else:
                monkeypatch.setenv(PORT_ENV, env)
            main(["chaos", "run", str(scenario), "--sut", core_url, "--provider-url", provider_url,
                  "--report-dir", str(tmp_path), "--run-id", name, "--quiet"])
            summary = json.loads((tmp_path / name / "summary.json").read_text())
            runs[name] = {c["name"]: c for c in summary["scenarios"][0]["checks"]}
        with urllib.request.urlopen(f"{core_url}/v1/alerts") as answer:
            raised = json.loads(answer.read())["alerts"]
    capsys.readouterr()
    assert raised, ("the scenario must make the service raise alerts", runs)
    wired, unwired = runs["wired"]["alerts_delivered_once"], runs["unwired"]["alerts_delivered_once"]
    assert runs["wired"]["alert_iff_threshold"]["status"] == "passed"
    assert wired["status"] == "passed" and not wired.get("reason"), wired
    assert unwired["status"] == "skipped" and PORT_ENV in unwired["reason"], unwired
