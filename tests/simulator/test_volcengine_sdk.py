"""The unmodified `volcengine` SDK (volcengine.vms.VmsService) against pstnsim: every action, business errors,
the gateway's refusals.

The SDK is synchronous (requests), so the provider runs in a background thread
(`threaded_provider`, real time) and the SDK calls it over 127.0.0.1. The SDK
returns every JSON answer as a dict, errors included (`ResponseMetadata.Error`).
"""

from __future__ import annotations

import time
from typing import Any, Callable

import pytest
import requests
from volcengine.vms.VmsService import VmsService

from simulator.clock import Clock
from simulator.config import ProviderConfig, VolcengineCredentials

A, A2, B, B2 = "13900000001", "13900000002", "13800000001", "13800000002"
POOL = "NP000000000000000001"


def vms(tp: Any, *, ak: str = "pstnsim-ak", sk: str = "pstnsim-secret", timeout: float = 3) -> VmsService:
    """The SDK pointed at pstnsim: `set_host("127.0.0.1:<port>")` (its scheme is http by default)."""
    service = VmsService()  # a process-wide singleton whose __init__ resets host, keys and session
    service.set_host(tp.endpoint)
    service.set_ak(ak)
    service.set_sk(sk)
    service.set_socket_timeout(timeout)
    return service


def expire(seconds: float = 3600) -> str:
    return str(int(time.time() + seconds))


def error(reply: dict) -> dict:
    return reply["ResponseMetadata"].get("Error") or {}


def result(reply: dict) -> Any:
    assert "Error" not in reply["ResponseMetadata"], reply
    return reply["Result"]


@pytest.fixture
def tp(threaded_provider: Callable[..., Any]) -> Any:
    return threaded_provider(ProviderConfig(seed=5))


def active(tp: Any, **filters: Any) -> list:
    return tp.call(lambda: tp.provider.ledger.bindings(**filters))


def free_numbers(service: VmsService, count: int) -> list[str]:
    rows = result(service.number_list({"NumberPoolNo": POOL, "Limit": 100}))["Records"]
    return [r["Number"] for r in rows if r["CurrentBindCount"] == 0][:count]


# ---- AXB -----------------------------------------------------------------------------


def test_axb_bind_query_update_list_and_unbind(tp: Any) -> None:
    service = vms(tp)
    [x] = free_numbers(service, 1)
    bound = result(service.bind_axb({"NumberPoolNo": POOL, "PhoneNoA": A, "PhoneNoB": B, "PhoneNoX": x,
                                     "ExpireTime": expire(), "UserData": "order-7", "OutId": "o7"}))
    assert (bound["PhoneNoX"], bound["PhoneNoA"], bound["PhoneNoB"], bound["Status"]) == (x, A, B, 1)
    sub_id = bound["SubId"]
    [binding] = active(tp)
    assert (binding.mode, binding.x, binding.a, binding.b, binding.binding_id) == ("AXB", x, A, B, sub_id)

    later = expire(7200)
    assert result(service.update_axb({"NumberPoolNo": POOL, "SubId": sub_id, "UpdateType": "updateExpireTime",
                                      "ExpireTime": later})) is True
    assert result(service.update_axb({"NumberPoolNo": POOL, "SubId": sub_id, "UpdateType": "updatePhoneNoB",
                                      "PhoneNoB": B2})) is True
    sub = result(service.query_subscription({"NumberPoolNo": POOL, "SubId": sub_id}))
    assert (sub["PhoneNoB"], sub["ExpireTime"], sub["UserData"], sub["OutId"], sub["Status"]) == (B2, int(later), "order-7", "o7", 1)

    listed = result(service.query_subscription_for_list({"NumberPoolNo": POOL, "PhoneNoX": x, "Status": 1}))
    assert [r["SubId"] for r in listed["Records"]] == [sub_id] and listed["Total"] == 1

    assert result(service.unbind_axb({"NumberPoolNo": POOL, "SubId": sub_id})) is True
    assert active(tp) == []
    gone = service.query_subscription({"NumberPoolNo": POOL, "SubId": sub_id})
    assert error(gone)["Code"] == "SubIdNotExist"


def test_select_number_and_bind_axb_picks_x_from_the_pool(tp: Any) -> None:
    service = vms(tp)
    bound = result(service.select_number_and_bind_axb({"NumberPoolNo": POOL, "PhoneNoA": A, "PhoneNoB": B,
                                                       "ExpireTime": expire()}))
    [binding] = active(tp)
    assert binding.x == bound["PhoneNoX"] and binding.binding_id == bound["SubId"]
    numbers = {r["Number"]: r for r in result(service.number_list({"NumberPoolNo": POOL, "Limit": 100}))["Records"]}
    assert numbers[binding.x]["CurrentBindCount"] == 1


# ---- AXN -----------------------------------------------------------------------------


def test_axn_bind_routes_every_caller_to_a_and_updates_and_unbinds(tp: Any) -> None:
    service = vms(tp)
    [x] = free_numbers(service, 1)
    sub_id = result(service.bind_axn({"NumberPoolNo": POOL, "PhoneNoA": A, "PhoneNoX": x, "ExpireTime": expire()}))["SubId"]
    [binding] = active(tp)
    assert (binding.mode, binding.x, binding.b) == ("XB", x, A)  # any caller dialling X reaches A
    call = tp.call(lambda: tp.provider.ledger.place_call(B, x))
    assert call.callee == A

    assert result(service.update_axn({"NumberPoolNo": POOL, "SubId": sub_id, "UpdateType": "updatePhoneNoA",
                                      "PhoneNoA": A2})) is True
    assert active(tp)[0].b == A2
    assert result(service.unbind_axn({"NumberPoolNo": POOL, "SubId": sub_id})) is True
    assert active(tp) == []


def test_select_number_and_bind_axn_and_the_family_is_checked_on_unbind(tp: Any) -> None:
    service = vms(tp)
    bound = result(service.select_number_and_bind_axn({"NumberPoolNo": POOL, "PhoneNoA": A, "PhoneNoB": B,
                                                       "ExpireTime": expire()}))
    assert bound["PhoneNoA"] == A and bound["PhoneNoB"] == B
    wrong = service.unbind_axb({"NumberPoolNo": POOL, "SubId": bound["SubId"]})
    assert error(wrong)["Code"] == "SubIdNotExist" and len(active(tp)) == 1


# ---- pools, numbers, call records ---------------------------------------------------------


def test_number_pool_list_and_number_list_show_the_seeded_pool(tp: Any) -> None:
    service = vms(tp)
    [pool] = result(service.number_pool_list({"ServiceType": 100, "Limit": 5, "Offset": 0}))["Records"]
    seeded = tp.call(lambda: [n.x for n in tp.provider.ledger.numbers(tp.provider.config.pool.pool_key)])
    assert pool["NumberPoolNo"] == POOL and pool["NumberCount"] == len(seeded)
    page = result(service.number_list({"NumberPoolNo": POOL, "Limit": 5, "Offset": 5}))
    assert [r["Number"] for r in page["Records"]] == seeded[5:10] and page["Total"] == len(seeded)


def test_query_call_record_msg_returns_the_calls_asked_for(tp: Any) -> None:
    service = vms(tp)
    bound = result(service.select_number_and_bind_axb({"NumberPoolNo": POOL, "PhoneNoA": A, "PhoneNoB": B,
                                                       "ExpireTime": expire(), "UserData": "ud"}))
    call = tp.call(lambda: tp.provider.ledger.place_call(A, bound["PhoneNoX"], duration=42))
    [record] = result(service.query_call_record_msg({"CallIdList": f"{call.call_id},nope"}))
    assert (record["CallId"], record["Caller"], record["Callee"], record["CallDuration"], record["UserData"]) == (
        call.call_id, A, B, 42, "ud")


# ---- business errors ----------------------------------------------------------------------


def test_business_errors_change_nothing(tp: Any) -> None:
    service = vms(tp)
    [x, y] = free_numbers(service, 2)
    result(service.bind_axb({"NumberPoolNo": POOL, "PhoneNoA": A, "PhoneNoB": B, "PhoneNoX": x, "ExpireTime": expire()}))
    cases = [
        (service.bind_axb, {"NumberPoolNo": POOL, "PhoneNoA": A, "PhoneNoB": B2, "PhoneNoX": x, "ExpireTime": expire()},
         "BindConflict"),
        (service.bind_axb, {"NumberPoolNo": "NP999", "PhoneNoA": A, "PhoneNoB": B, "PhoneNoX": y, "ExpireTime": expire()},
         "NumberPoolNotExist"),
        (service.bind_axb, {"NumberPoolNo": POOL, "PhoneNoA": "12345", "PhoneNoB": B, "PhoneNoX": y, "ExpireTime": expire()},
         "InvalidPhoneNumber"),
        (service.bind_axb, {"NumberPoolNo": POOL, "PhoneNoA": A2, "PhoneNoB": B2, "PhoneNoX": "13000000000",
                            "ExpireTime": expire()}, "NumberNotInPool"),
        (service.bind_axb, {"NumberPoolNo": POOL, "PhoneNoA": A2, "PhoneNoB": B2, "PhoneNoX": y, "ExpireTime": expire(10)},
         "InvalidExpireTime"),
        (service.unbind_axb, {"NumberPoolNo": POOL, "SubId": "bnd_09999999"}, "SubIdNotExist"),
        (service.update_axb, {"NumberPoolNo": POOL, "SubId": "bnd_00000001", "UpdateType": "updateColour"},
         "InvalidParameter"),
    ]
    for call, form, code in cases:
        reply = call(form)
        assert error(reply)["Code"] == code, (form, reply)
        assert reply["ResponseMetadata"]["RequestId"]
    assert [(b.x, b.a, b.b) for b in active(tp)] == [(x, A, B)]


def test_no_number_left_is_no_available_number(threaded_provider: Callable[..., Any]) -> None:
    from simulator.numbers import PoolSpec

    tp = threaded_provider(ProviderConfig(seed=5, pool=PoolSpec(seed=5, per_city=1, cities=("Beijing",))))
    service = vms(tp)
    form = {"NumberPoolNo": POOL, "PhoneNoA": A, "PhoneNoB": B, "ExpireTime": expire()}
    result(service.select_number_and_bind_axb(form))
    reply = service.select_number_and_bind_axb({**form, "PhoneNoB": B2})  # A again: the one X cannot serve it
    assert error(reply)["Code"] == "NoAvailableNumber" and len(active(tp)) == 1


# ---- the gateway: keys, signatures, dates -------------------------------------------------------


def test_a_wrong_secret_is_signature_does_not_match(tp: Any) -> None:
    reply = vms(tp, sk="not-the-secret").select_number_and_bind_axb(
        {"NumberPoolNo": POOL, "PhoneNoA": A, "PhoneNoB": B, "ExpireTime": expire()})
    assert error(reply)["Code"] == "SignatureDoesNotMatch" and error(reply)["CodeN"] == 100010
    assert active(tp) == []


def test_an_unknown_key_is_invalid_access_key(tp: Any) -> None:
    reply = vms(tp, ak="AKLTnobody").number_pool_list({})
    assert error(reply)["Code"] == "InvalidAccessKey" and "not-the-secret" not in str(reply)


def test_a_stale_date_is_invalid_timestamp(threaded_provider: Callable[..., Any]) -> None:
    tp = threaded_provider(ProviderConfig(seed=5), clock=Clock(epoch=time.time() + 1800))
    reply = vms(tp).bind_axn({"NumberPoolNo": POOL, "PhoneNoA": A, "PhoneNoX": "13000000000", "ExpireTime": expire(9000)})
    assert error(reply)["Code"] == "InvalidTimestamp" and "900" in error(reply)["Message"]
    assert active(tp) == []


def test_configured_credentials_replace_the_defaults(threaded_provider: Callable[..., Any]) -> None:
    mine = VolcengineCredentials(access_key_id="AKLTmine", secret_access_key="s3cret", number_pool_no="NP42")
    tp = threaded_provider(ProviderConfig(seed=5, volcengine=(mine,)))
    assert error(vms(tp).number_pool_list({}))["Code"] == "InvalidAccessKey"
    [pool] = result(vms(tp, ak="AKLTmine", sk="s3cret").number_pool_list({}))["Records"]
    assert pool["NumberPoolNo"] == "NP42"


def test_the_journal_names_the_action_and_numbers_and_never_the_secret(tp: Any) -> None:
    service = vms(tp)
    bound = result(service.select_number_and_bind_axb({"NumberPoolNo": POOL, "PhoneNoA": A, "PhoneNoB": B,
                                                       "ExpireTime": expire()}))
    entries = requests.get(f"{tp.url}/_admin/journal", timeout=5).json()
    entries = entries.get("entries", entries) if isinstance(entries, dict) else entries
    [entry] = [e for e in entries if e["dialect"] == "volcengine"]
    assert (entry["operation"], entry["x"], entry["a"], entry["b"]) == ("SelectNumberAndBindAXB", bound["PhoneNoX"], A, B)
    assert "pstnsim-secret" not in str(entries)


def test_the_config_file_table_sets_the_keys_and_refuses_mistakes() -> None:
    from simulator.config_file import ConfigFileError, parse_provider_config

    row = {"access_key_id": "AKLTmine", "secret_access_key": "s3cret", "number_pool_no": "NP42"}
    config = parse_provider_config({"volcengine": {"credentials": [row]}})
    assert config.volcengine == (VolcengineCredentials("AKLTmine", "s3cret", "NP42"),)
    assert parse_provider_config({}).volcengine == (VolcengineCredentials(),)
    with pytest.raises(ConfigFileError, match=r"volcengine\.credentials\[0\]\.'secret_acces_key'"):
        parse_provider_config({"volcengine": {"credentials": [{"secret_acces_key": "x"}]}})
    with pytest.raises(ConfigFileError, match="appears twice"):
        parse_provider_config({"volcengine": {"credentials": [row, row]}})
    with pytest.raises(ConfigFileError, match="must be a non-empty string") as refused:
        parse_provider_config({"volcengine": {"credentials": [{**row, "secret_access_key": ""}]}})
    assert "s3cret" not in str(refused.value)
