"""Injected faults on Tencent requests, as the unmodified SDK surfaces them: throttling, 5xx, timeout, ghost success.

Rules match by dialect "tencent" and the action name; the journal records each exchange.
"""

from __future__ import annotations

from typing import Any, Callable

import pytest
import requests
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from simulator.config import ProviderConfig

from .test_tencent_sdk import B, B2, del_virtual_num, get_virtual_num, npp, tc


@pytest.fixture
def tp(threaded_provider: Callable[..., Any]) -> Any:
    return threaded_provider(ProviderConfig(seed=5))


def add_rule(tp: Any, rule: dict) -> None:
    response = requests.post(f"{tp.url}/_admin/faults", json=rule, timeout=5)
    assert response.status_code in (200, 201), response.text


def sdk_error(call: Callable[[], Any]) -> TencentCloudSDKException:
    with pytest.raises(TencentCloudSDKException) as caught:
        call()
    return caught.value


def journal(tp: Any) -> list[dict]:
    return tp.call(lambda: [e.to_dict() for e in tp.provider.journal.entries()])


def test_throttling_is_request_limit_exceeded_then_the_retry_succeeds(tp: Any) -> None:
    add_rule(tp, {"match": {"dialect": "tencent", "operation": "GetVirtualNum"},
                  "action": {"kind": "status", "status": 429, "retry_after": 2}, "when": {"first": 1}})
    client = npp(tp)
    error = sdk_error(lambda: client.GetVirtualNum(get_virtual_num(Dst=tc(B))))
    assert error.code == "RequestLimitExceeded" and error.requestId
    assert tp.call(tp.provider.ledger.bindings) == []
    assert client.GetVirtualNum(get_virtual_num(Dst=tc(B))).ErrorCode == "0"


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_a_server_network_error_and_changes_nothing(tp: Any, status: int) -> None:
    add_rule(tp, {"match": {"dialect": "tencent", "operation": "GetVirtualNum"},
                  "action": {"kind": "status", "status": status}, "when": {"first": 1}})
    error = sdk_error(lambda: npp(tp).GetVirtualNum(get_virtual_num(Dst=tc(B))))
    assert error.code == "ServerNetworkError"
    assert b'"Error"' in error.message  # the raw body (bytes), in Tencent's envelope
    assert tp.call(tp.provider.ledger.bindings) == []


def test_timeout_hits_the_sdk_read_timeout(tp: Any) -> None:
    add_rule(tp, {"match": {"dialect": "tencent", "operation": "DelVirtualNum"},
                  "action": {"kind": "timeout", "seconds": 30}, "when": {"first": 1}})
    client = npp(tp, timeout=1)
    bound = client.GetVirtualNum(get_virtual_num(Dst=tc(B)))
    error = sdk_error(lambda: client.DelVirtualNum(del_virtual_num(bound.BindId)))
    assert error.code == "ClientNetworkError" and "timed out" in error.message.lower()
    assert len(tp.call(tp.provider.ledger.bindings)) == 1  # a plain timeout applied nothing


def test_ghost_success_binds_although_the_sdk_saw_a_failure(tp: Any) -> None:
    add_rule(tp, {"match": {"dialect": "tencent", "operation": "GetVirtualNum"},
                  "action": {"kind": "ghost_success", "status": 503}, "when": {"first": 1}})
    assert sdk_error(lambda: npp(tp).GetVirtualNum(get_virtual_num(Dst=tc(B)))).code == "ServerNetworkError"
    [binding] = tp.call(tp.provider.ledger.bindings)
    assert binding.b == B


def test_rules_match_by_action_and_number_and_the_journal_records_them(tp: Any) -> None:
    add_rule(tp, {"match": {"dialect": "tencent", "operation": "GetVirtualNum", "b": B2},
                  "action": {"kind": "status", "status": 500}})
    client = npp(tp)
    assert client.GetVirtualNum(get_virtual_num(Dst=tc(B))).ErrorCode == "0"
    assert sdk_error(lambda: client.GetVirtualNum(get_virtual_num(Dst=tc(B2)))).code == "ServerNetworkError"
    entries = [e for e in journal(tp) if e["dialect"] == "tencent"]
    assert [(e["operation"], e["b"], e["status"], bool(e["fault"])) for e in entries] == [
        ("GetVirtualNum", B, 200, False),
        ("GetVirtualNum", B2, 500, True),
    ]
    assert "pstnsim-secret" not in str(entries)
