"""Injected faults on vms requests, as the unmodified SDK surfaces them, and the SDK's own retry as a hazard.

`VmsService` wraps every call in `@retry(tries=2, delay=0)`, and its handlers turn
any JSON answer (errors too) into a dict: so throttling and a gateway 5xx come back
as dicts and are not retried, while a timeout or a body that is not JSON raises
inside the SDK and the call is silently sent a second time. After a ghost success
(applied, reply lost) that second SelectNumberAndBindAXB makes a second binding.
"""

from __future__ import annotations

from typing import Any, Callable

import pytest
import requests

from simulator.config import ProviderConfig

from .test_volcengine_sdk import A, B, POOL, active, error, expire, free_numbers, result, vms


@pytest.fixture
def tp(threaded_provider: Callable[..., Any]) -> Any:
    return threaded_provider(ProviderConfig(seed=5))


def add_rule(tp: Any, rule: dict) -> None:
    response = requests.post(f"{tp.url}/_admin/faults", json=rule, timeout=5)
    assert response.status_code in (200, 201), response.text


def sent(tp: Any, action: str) -> int:
    """How many requests for `action` reached the provider (the journal)."""
    entries = tp.call(lambda: [e.to_dict() for e in tp.provider.journal.entries()])
    return sum(1 for e in entries if e["dialect"] == "volcengine" and e["operation"] == action)


def bind_form() -> dict:
    return {"NumberPoolNo": POOL, "PhoneNoA": A, "PhoneNoB": B, "ExpireTime": expire()}


def test_throttling_is_flow_limit_exceeded_returned_not_retried(tp: Any) -> None:
    add_rule(tp, {"match": {"dialect": "volcengine", "operation": "SelectNumberAndBindAXB"},
                  "action": {"kind": "status", "status": 429, "retry_after": 2}, "when": {"first": 1}})
    service = vms(tp)
    reply = service.select_number_and_bind_axb(bind_form())
    assert error(reply)["Code"] == "FlowLimitExceeded" and error(reply)["CodeN"] == 100018
    assert sent(tp, "SelectNumberAndBindAXB") == 1 and active(tp) == []
    result(service.select_number_and_bind_axb(bind_form()))


@pytest.mark.parametrize("status", [500, 503])
def test_a_gateway_5xx_comes_back_as_a_dict_and_changes_nothing(tp: Any, status: int) -> None:
    add_rule(tp, {"match": {"dialect": "volcengine", "operation": "SelectNumberAndBindAXB"},
                  "action": {"kind": "status", "status": status}, "when": {"first": 1}})
    reply = vms(tp).select_number_and_bind_axb(bind_form())
    assert error(reply)["Code"] in ("InternalError", "ServiceUnavailableTemp")
    assert sent(tp, "SelectNumberAndBindAXB") == 1 and active(tp) == []


def test_a_body_that_is_not_json_raises_inside_the_sdk_and_is_sent_again(tp: Any) -> None:
    add_rule(tp, {"match": {"dialect": "volcengine", "operation": "QuerySubscription"},
                  "action": {"kind": "malformed_body"}, "when": {"first": 1}})
    service = vms(tp)
    sub_id = result(service.select_number_and_bind_axb(bind_form()))["SubId"]
    assert result(service.query_subscription({"NumberPoolNo": POOL, "SubId": sub_id}))["SubId"] == sub_id
    assert sent(tp, "QuerySubscription") == 2  # the SDK retried the garbled answer on its own


def retries(caplog: pytest.LogCaptureFixture) -> int:
    """How many times the SDK's @retry sent a call again (the `retry` package logs each one)."""
    return sum(1 for r in caplog.records if r.name == "retry.api" and "retrying" in r.getMessage())


def test_timeouts_raise_after_the_sdks_second_attempt(tp: Any, caplog: pytest.LogCaptureFixture) -> None:
    add_rule(tp, {"match": {"dialect": "volcengine", "operation": "UnbindAXB"},
                  "action": {"kind": "timeout", "seconds": 5}})
    service = vms(tp, timeout=0.5)
    sub_id = result(service.select_number_and_bind_axb(bind_form()))["SubId"]
    with pytest.raises(Exception, match="(?i)timed out"):
        service.unbind_axb({"NumberPoolNo": POOL, "SubId": sub_id})
    assert retries(caplog) == 1 and len(active(tp)) == 1  # a plain timeout applied nothing


def test_the_sdk_retry_after_a_ghost_success_makes_a_second_binding(tp: Any, caplog: pytest.LogCaptureFixture) -> None:
    """The hazard: the first bind was applied and its reply lost; the SDK sends it again and reports one binding."""
    add_rule(tp, {"match": {"dialect": "volcengine", "operation": "SelectNumberAndBindAXB"},
                  "action": {"kind": "ghost_success", "then": "timeout", "seconds": 5}, "when": {"first": 1}})
    reply = vms(tp, timeout=0.5).select_number_and_bind_axb(bind_form())
    shown = result(reply)  # the caller sees one clean success
    bindings = active(tp)
    assert len(bindings) == 2 and {(b.a, b.b) for b in bindings} == {(A, B)}
    assert shown["SubId"] == bindings[1].binding_id  # the first, applied binding is nowhere in the answer
    assert retries(caplog) == 1


def test_the_sdk_retry_of_a_ghost_bind_on_a_fixed_x_reports_a_conflict_for_a_binding_that_exists(tp: Any) -> None:
    add_rule(tp, {"match": {"dialect": "volcengine", "operation": "BindAXB"},
                  "action": {"kind": "ghost_success", "then": "timeout", "seconds": 5}, "when": {"first": 1}})
    service = vms(tp, timeout=0.5)
    [x] = free_numbers(service, 1)
    reply = service.bind_axb({**bind_form(), "PhoneNoX": x})
    assert error(reply)["Code"] == "BindConflict"  # the retry collided with its own first attempt
    [binding] = active(tp)
    assert (binding.x, binding.a, binding.b) == (x, A, B)  # ... which stands, unknown to the caller
