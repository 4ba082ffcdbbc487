"""vms callbacks: call status events and the call record, POSTed to the key's callback URL, signed in the URL.

Bindings are made with the unmodified SDK; the calls are placed on the provider's
ledger; a stdlib HTTP server stands in for the team's callback endpoint.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
from typing import Any, Callable, Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from simulator.config import ProviderConfig, VolcengineCredentials

from .test_volcengine_sdk import A, B, POOL, expire, result, vms

TOKEN = "8D202AC288"
C = "13700000009"


class Receiver:
    """Collects every POST (path, query, raw body); `wait(n)` blocks until n arrived or the deadline passes."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, list[str]], bytes]] = []
        self.arrived = threading.Condition()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                parts = urlsplit(self.path)
                with receiver.arrived:
                    receiver.received.append((parts.path, parse_qs(parts.query), body))
                    receiver.arrived.notify_all()
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/vms/callback"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait(self, count: int, timeout: float = 10) -> list[tuple[str, dict[str, list[str]], bytes]]:
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.received) >= count, timeout), self.received
            return list(self.received)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def tp(threaded_provider: Callable[..., Any], receiver: Receiver) -> Any:
    account = VolcengineCredentials(callback_url=receiver.url, auth_token=TOKEN)
    return threaded_provider(ProviderConfig(seed=5, volcengine=(account,)))


def verified(message: tuple[str, dict[str, list[str]], bytes]) -> dict:
    """The body, after checking the URL's authCode as a receiver would (the vendor's published recipe)."""
    path, query, body = message
    assert path == "/vms/callback"
    timestamp, code = query["timestamp"][0], query["authCode"][0]
    inner = hashlib.sha256(body).hexdigest()
    assert code == hashlib.sha256(f"{timestamp}{inner}{TOKEN}".encode()).hexdigest()
    return json.loads(body)


def test_a_connected_axb_call_pushes_four_status_events_then_its_call_record(tp: Any, receiver: Receiver) -> None:
    made = result(vms(tp).select_number_and_bind_axb({
        "NumberPoolNo": POOL, "PhoneNoA": A, "PhoneNoB": B, "ExpireTime": expire(), "UserData": "order-7"}))
    call = tp.call(lambda: tp.provider.ledger.place_call(B, made["PhoneNoX"], duration=42))
    bodies = [verified(m) for m in receiver.wait(5)]
    assert len(bodies) == 5
    # Each message is its own delivery: they may arrive in any order, as at the vendor.
    status = sorted((b for b in bodies if b["messageType"] == 1), key=lambda b: b["eventType"])
    assert [s["eventType"] for s in status] == [1, 2, 3, 4]
    for s in status:
        assert (s["callId"], s["subscriptionId"], s["caller"], s["callee"], s["phoneNoX"], s["phoneNoA"],
                s["phoneNoB"], s["serviceType"], s["allEventType"], s["userData"]) == (
            call.call_id, made["SubId"], B, A, made["PhoneNoX"], A, B, 200, [1, 2, 3, 4], "order-7")
    assert int(status[3]["eventTime"]) - int(status[0]["eventTime"]) == 42
    [record] = [b for b in bodies if b["messageType"] == 2]
    assert (record["callId"], record["subscriptionId"], record["numberPoolNo"], record["subServiceType"],
            record["callResult"], record["callDuration"], record["secretCallType"], record["caller"],
            record["callee"], record["userData"]) == (
        call.call_id, made["SubId"], POOL, 201, 1, 42, 10, B, A, "order-7")
    assert record["endTime"] - record["beginCallTime"] == 42_000  # milliseconds


def test_an_axn_call_is_sub_service_202_and_a_call_it_refuses_pushes_start_and_end_only(
        tp: Any, receiver: Receiver) -> None:
    service = vms(tp)
    made = result(service.select_number_and_bind_axn({"NumberPoolNo": POOL, "PhoneNoA": A, "ExpireTime": expire()}))
    tp.call(lambda: tp.provider.ledger.place_call(C, made["PhoneNoX"], duration=10))  # anyone reaches A
    tp.call(lambda: tp.provider.ledger.place_call(A, made["PhoneNoX"]))  # A dialling its own X: refused
    bodies = [verified(m) for m in receiver.wait(5 + 3)]
    records = {b["caller"]: b for b in bodies if b["messageType"] == 2}
    assert (records[C]["subServiceType"], records[C]["callResult"], records[C]["callee"], records[C]["phoneNoA"],
            records[C]["secretCallType"]) == (202, 1, A, A, 10)
    assert records[A]["callResult"] != 1 and records[A]["callDuration"] == 0 and records[A]["startTime"] == 0
    refused = sorted(b["eventType"] for b in bodies if b["messageType"] == 1 and b["caller"] == A)
    assert refused == [1, 4]


def test_nothing_is_pushed_without_a_callback_url_or_for_bindings_made_elsewhere(
        threaded_provider: Callable[..., Any], receiver: Receiver) -> None:
    quiet = threaded_provider(ProviderConfig(seed=5))  # default key: no callback URL
    made = result(vms(quiet).select_number_and_bind_axb({
        "NumberPoolNo": POOL, "PhoneNoA": A, "PhoneNoB": B, "ExpireTime": expire()}))
    quiet.call(lambda: quiet.provider.ledger.place_call(B, made["PhoneNoX"]))
    loud = threaded_provider(ProviderConfig(seed=5, volcengine=(VolcengineCredentials(callback_url=receiver.url),)))
    native = loud.call(lambda: loud.provider.ledger.create_binding("AXB", a=A, b=B))  # not through vms
    loud.call(lambda: loud.provider.ledger.place_call(B, native.x))
    for tp in (quiet, loud):
        tp.run(tp.provider.pusher.drain())
        assert tp.call(lambda tp=tp: tp.provider.pusher.deliveries()) == []
    assert receiver.received == []


def test_the_config_file_sets_the_callback_url_and_token_and_refuses_a_url_that_is_not_http() -> None:
    from simulator.config_file import ConfigFileError, parse_provider_config

    row = {"access_key_id": "AKLTmine", "secret_access_key": "s", "number_pool_no": "NP42",
           "callback_url": "https://example.invalid/vms", "auth_token": "0123456789"}
    [account] = parse_provider_config({"volcengine": {"credentials": [row]}}).volcengine
    assert (account.callback_url, account.auth_token) == ("https://example.invalid/vms", "0123456789")
    with pytest.raises(ConfigFileError, match="callback_url"):
        parse_provider_config({"volcengine": {"credentials": [{**row, "callback_url": "ftp://x"}]}})


def test_push_faults_match_the_vms_push_kinds(tp: Any, receiver: Receiver) -> None:
    import requests

    rule = {"match": {"dialect": "volcengine", "operation": "push:volcengine.record"}, "action": {"kind": "drop"}}
    assert requests.post(f"{tp.url}/_admin/faults", json=rule, timeout=5).status_code == 201
    made = result(vms(tp).select_number_and_bind_axb({
        "NumberPoolNo": POOL, "PhoneNoA": A, "PhoneNoB": B, "ExpireTime": expire()}))
    tp.call(lambda: tp.provider.ledger.place_call(A, made["PhoneNoX"]))
    tp.run(tp.provider.pusher.drain())
    deliveries = tp.call(lambda: tp.provider.pusher.deliveries())
    assert sorted((d.kind, d.result) for d in deliveries) == [("volcengine.record", "dropped")] + [
        ("volcengine.status", "delivered")] * 4
    assert [verified(m)["messageType"] for m in receiver.received] == [1, 1, 1, 1]
