"""The native REST dialect through a real aiohttp client over loopback: bindings, routing, conflicts, PATCH."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from simulator.numbers import PoolSpec
from simulator.server import Provider

A, B, C, D = "13900000001", "13800000002", "13700000003", "13600000004"


class Api:
    """A thin client for one provider: `await api.post(path, json)` -> (status, body)."""

    def __init__(self, provider: Provider, session: aiohttp.ClientSession) -> None:
        self.provider, self.session = provider, session

    async def request(self, method: str, path: str, **kw: Any) -> tuple[int, Any]:
        async with self.session.request(method, self.provider.url + path, **kw) as response:
            return response.status, await response.json()

    async def post(self, path: str, body: Any, **kw: Any) -> tuple[int, Any]:
        return await self.request("POST", path, json=body, **kw)

    async def get(self, path: str, **kw: Any) -> tuple[int, Any]:
        return await self.request("GET", path, **kw)

    async def bind(self, **body: Any) -> dict[str, Any]:
        status, created = await self.post("/v1/bindings", body)
        assert status == 201, created
        return created

    async def dial(self, caller: str, x: str) -> dict[str, Any]:
        status, record = await self.post("/v1/calls", {"caller": caller, "x": x})
        assert status == 201, record
        return record


@pytest.fixture
async def api(pstnsim_provider: Provider):
    async with aiohttp.ClientSession() as session:
        yield Api(pstnsim_provider, session)


# ---- routing rules --------------------------------------------------------


async def test_xb_connects_anyone_to_b_showing_x(api: Api) -> None:
    xb = await api.bind(mode="XB", b=B)
    call = await api.dial(C, xb["x"])
    assert (call["outcome"], call["callee"], call["shown_caller"], call["reason"]) == ("connected", B, xb["x"], "XB")
    assert call["binding_id"] == xb["binding_id"]
    own = await api.dial(B, xb["x"])
    assert (own["outcome"], own["callee"], own["reason"]) == ("rejected", None, "CALLER_IS_CALLEE")


async def test_axb_connects_a_and_b_both_ways_and_rejects_a_third_party(api: Api) -> None:
    axb = await api.bind(mode="AXB", a=A, b=B)
    a_to_b, b_to_a, third = await api.dial(A, axb["x"]), await api.dial(B, axb["x"]), await api.dial(C, axb["x"])
    assert (a_to_b["outcome"], a_to_b["callee"], a_to_b["shown_caller"]) == ("connected", B, axb["x"])
    assert (b_to_a["outcome"], b_to_a["callee"], b_to_a["shown_caller"]) == ("connected", A, axb["x"])
    assert (third["outcome"], third["callee"], third["reason"]) == ("rejected", None, "NOT_A_PARTY")


async def test_xb_and_axb_on_one_x_the_seed_hard_case(api: Api) -> None:
    xb = await api.bind(mode="XB", b=B)
    axb = await api.bind(mode="AXB", x=xb["x"], a=A, b=B)
    assert axb["x"] == xb["x"]
    routes = {caller: await api.dial(caller, xb["x"]) for caller in (A, B, C)}
    assert (routes[A]["callee"], routes[A]["reason"]) == (B, "AXB_A_TO_B")
    assert (routes[B]["callee"], routes[B]["reason"]) == (A, "AXB_B_TO_A")
    assert (routes[C]["callee"], routes[C]["reason"]) == (B, "XB")
    assert all(r["shown_caller"] == xb["x"] for r in routes.values())


async def test_a_dial_of_an_unbound_pool_number_is_rejected(api: Api) -> None:
    _, numbers = await api.get("/v1/numbers")
    call = await api.dial(A, numbers["numbers"][0]["x"])
    assert (call["outcome"], call["reason"]) == ("rejected", "NO_BINDING")


async def test_axn_routes_anyone_to_a_and_a_to_its_default_callee(api: Api) -> None:
    axn = await api.bind(mode="AXN", a=A, b=B)
    assert (await api.dial(C, axn["x"]))["callee"] == A
    assert (await api.dial(A, axn["x"]))["callee"] == B


# ---- conflicts and allocation ---------------------------------------------


async def test_a_second_xb_on_one_x_is_a_conflict(api: Api) -> None:
    xb = await api.bind(mode="XB", b=B)
    status, error = await api.post("/v1/bindings", {"mode": "XB", "x": xb["x"], "b": C})
    assert status == 409 and error["code"] == "BIND_CONFLICT" and xb["x"] in error["message"]


async def test_overlapping_axb_on_one_x_is_a_conflict_but_a_disjoint_one_is_allowed(api: Api) -> None:
    first = await api.bind(mode="AXB", a=A, b=B)
    status, error = await api.post("/v1/bindings", {"mode": "AXB", "x": first["x"], "a": C, "b": B})
    assert status == 409 and error["code"] == "BIND_CONFLICT" and B in error["message"]
    disjoint = await api.bind(mode="AXB", x=first["x"], a=C, b=D)
    assert (await api.dial(C, first["x"]))["callee"] == D
    assert (await api.dial(A, first["x"]))["callee"] == B
    assert disjoint["binding_id"] != first["binding_id"]


async def test_allocation_prefers_the_requested_city(api: Api) -> None:
    _, shanghai = await api.get("/v1/numbers", params={"city": "Shanghai"})
    in_shanghai = {n["x"] for n in shanghai["numbers"]}
    assert in_shanghai and all(n["city"] == "Shanghai" for n in shanghai["numbers"])
    for staff in (B, C, D):
        assert (await api.bind(mode="XB", b=staff, city="Shanghai"))["x"] in in_shanghai


async def test_an_exhausted_pool_answers_no_available_number(pstnsim_provider_factory) -> None:
    provider = await pstnsim_provider_factory(pool=PoolSpec(cities=("Beijing",), per_city=2, stock_per_city=0))
    async with aiohttp.ClientSession() as session:
        api = Api(provider, session)
        taken = {(await api.bind(mode="XB", b=staff))["x"] for staff in (B, C)}
        assert len(taken) == 2
        status, error = await api.post("/v1/bindings", {"mode": "XB", "b": D})
        assert status == 409 and error["code"] == "NO_AVAILABLE_NUMBER"
        # AXB bindings can still share a number with an XB when their numbers are disjoint.
        assert (await api.bind(mode="AXB", a=A, b=D))["x"] in taken


async def test_an_x_outside_the_pool_is_number_not_found(api: Api) -> None:
    status, error = await api.post("/v1/bindings", {"mode": "XB", "x": "13012345678", "b": B})
    assert status == 404 and error["code"] == "NUMBER_NOT_FOUND" and "13012345678" in error["message"]


async def test_numbers_show_which_are_bound(api: Api) -> None:
    xb = await api.bind(mode="XB", b=B)
    _, listed = await api.get("/v1/numbers")
    status_of = {n["x"]: n["status"] for n in listed["numbers"]}
    assert status_of[xb["x"]] == "bound"
    assert sorted(set(status_of.values())) == ["bound", "free"]


# ---- create, get, list, delete -------------------------------------------


async def test_create_answers_the_binding_and_accepts_plus86_numbers(api: Api) -> None:
    created = await api.bind(mode="AXB", a="+86" + A, b="0086" + B, expires_in=600)
    assert created["binding_id"].startswith("bnd_")
    assert (created["mode"], created["a"], created["b"], created["status"]) == ("AXB", A, B, "active")
    assert created["created_at"].endswith("Z") and created["expires_at"] > created["created_at"]
    status, fetched = await api.get(f"/v1/bindings/{created['binding_id']}")
    assert status == 200 and fetched == created


async def test_list_filters_by_x_a_b_and_mode(api: Api) -> None:
    xb = await api.bind(mode="XB", b=B)
    axb = await api.bind(mode="AXB", x=xb["x"], a=A, b=B)
    other = await api.bind(mode="AXB", a=C, b=D)
    ids = lambda listed: [b["binding_id"] for b in listed["bindings"]]  # noqa: E731
    assert ids((await api.get("/v1/bindings"))[1]) == [xb["binding_id"], axb["binding_id"], other["binding_id"]]
    assert ids((await api.get("/v1/bindings", params={"x": xb["x"]}))[1]) == [xb["binding_id"], axb["binding_id"]]
    assert ids((await api.get("/v1/bindings", params={"mode": "AXB", "b": B}))[1]) == [axb["binding_id"]]
    assert ids((await api.get("/v1/bindings", params={"a": C}))[1]) == [other["binding_id"]]
    assert ids((await api.get("/v1/bindings", params={"status": "expired"}))[1]) == []


async def test_delete_releases_the_binding_once(api: Api) -> None:
    xb = await api.bind(mode="XB", b=B)
    path = f"/v1/bindings/{xb['binding_id']}"
    status, released = await api.request("DELETE", path)
    assert status == 200 and released["status"] == "released" and released["ended_at"] is not None
    assert (await api.dial(C, xb["x"]))["outcome"] == "rejected"
    for method in ("DELETE", "GET", "PATCH"):
        kw = {"json": {"b": C}} if method == "PATCH" else {}
        status, error = await api.request(method, path, **kw)
        assert (status, error["code"]) == (404, "BINDING_NOT_FOUND"), method
    assert (await api.get("/v1/bindings"))[1]["bindings"] == []


async def test_calls_are_recorded_and_queryable(api: Api) -> None:
    xb = await api.bind(mode="XB", b=B)
    first, second = await api.dial(C, xb["x"]), await api.dial(D, xb["x"])
    status, fetched = await api.get(f"/v1/calls/{first['call_id']}")
    assert status == 200 and fetched == first
    assert (await api.get("/v1/calls", params={"caller": D}))[1]["calls"] == [second]
    assert (await api.get("/v1/calls", params={"x": xb["x"]}))[1]["calls"] == [first, second]
    status, error = await api.get("/v1/calls/call_99999999")
    assert (status, error["code"]) == (404, "CALL_NOT_FOUND")


# ---- PATCH ----------------------------------------------------------------


async def test_patch_changes_b_of_an_xb_and_calls_follow(api: Api) -> None:
    xb = await api.bind(mode="XB", b=B)
    status, updated = await api.request("PATCH", f"/v1/bindings/{xb['binding_id']}", json={"b": D})
    assert status == 200 and updated["b"] == D and updated["binding_id"] == xb["binding_id"]
    assert (await api.get(f"/v1/bindings/{xb['binding_id']}"))[1]["b"] == D
    assert (await api.dial(C, xb["x"]))["callee"] == D


async def test_patch_changes_a_of_an_axb(api: Api) -> None:
    axb = await api.bind(mode="AXB", a=A, b=B)
    status, updated = await api.request("PATCH", f"/v1/bindings/{axb['binding_id']}", json={"a": C})
    assert status == 200 and (updated["a"], updated["b"]) == (C, B)
    assert (await api.dial(C, axb["x"]))["callee"] == B
    assert (await api.dial(A, axb["x"]))["outcome"] == "rejected"


async def test_patch_extends_the_expiry_from_now(api: Api) -> None:
    axb = await api.bind(mode="AXB", a=A, b=B, expires_in=60)
    status, updated = await api.request("PATCH", f"/v1/bindings/{axb['binding_id']}", json={"expires_in": 3600})
    assert status == 200 and updated["expires_at"] > axb["expires_at"]
    assert updated["expires_at"][:13] == "2026-01-01T01"  # the provider clock starts at 2026-01-01T00:00Z


@pytest.mark.parametrize(
    ("body", "code"),
    [({"a": A}, "UPDATE_CONFLICT"), ({"b": None}, "INVALID_ARGUMENT")],
    ids=["a-on-an-xb", "null-b"],
)
async def test_patch_refusals_leave_the_binding_as_it_was(api: Api, body: dict, code: str) -> None:
    xb = await api.bind(mode="XB", b=B)
    status, error = await api.request("PATCH", f"/v1/bindings/{xb['binding_id']}", json=body)
    assert error["code"] == code and status in (400, 409)
    assert (await api.get(f"/v1/bindings/{xb['binding_id']}"))[1] == xb


async def test_patch_that_would_make_routing_ambiguous_is_a_conflict(api: Api) -> None:
    first = await api.bind(mode="AXB", a=A, b=B)
    second = await api.bind(mode="AXB", x=first["x"], a=C, b=D)
    status, error = await api.request("PATCH", f"/v1/bindings/{second['binding_id']}", json={"b": B})
    assert (status, error["code"]) == (409, "BIND_CONFLICT")
    status, error = await api.request("PATCH", f"/v1/bindings/{second['binding_id']}", json={"b": C})
    assert (status, error["code"], error["field"]) == (409, "UPDATE_CONFLICT", "b")
    assert (await api.get(f"/v1/bindings/{second['binding_id']}"))[1] == second


# ---- what the fault engine sees (describe) ---------------------------------


async def test_fault_rules_match_native_operations_and_numbers(api: Api) -> None:
    """describe() names the operation and X (from the body, the query, or the binding an id names)."""
    xb = await api.bind(mode="XB", b=B)
    other = await api.bind(mode="XB", b=C)
    rule = {"match": {"dialect": "native", "operation": "get_binding", "x": xb["x"]},
            "action": {"kind": "status", "status": 503}}
    status, _ = await api.post("/_admin/faults", rule)
    assert status in (200, 201)
    assert (await api.get(f"/v1/bindings/{xb['binding_id']}"))[0] == 503
    assert (await api.get(f"/v1/bindings/{other['binding_id']}"))[0] == 200
    assert (await api.get("/v1/bindings", params={"x": xb["x"]}))[0] == 200  # a list is another operation
    await api.request("DELETE", "/_admin/faults")
    rule = {"match": {"operation": "place_call", "a": D}, "action": {"kind": "status", "status": 502}}
    await api.post("/_admin/faults", rule)
    assert (await api.post("/v1/calls", {"caller": "+86" + D, "x": xb["x"]}))[0] == 502
    assert (await api.post("/v1/calls", {"caller": A, "x": xb["x"]}))[0] == 201


async def test_the_journal_names_native_operations(api: Api) -> None:
    xb = await api.bind(mode="XB", b=B)
    await api.request("DELETE", f"/v1/bindings/{xb['binding_id']}")
    await api.request("PUT", "/v1/bindings")
    _, journal = await api.get("/_admin/journal")
    entries = journal.get("entries", journal) if isinstance(journal, dict) else journal
    seen = [(e["operation"], e.get("x")) for e in entries]
    assert ("create_binding", xb["x"]) in seen and ("delete_binding", xb["x"]) in seen
    assert ("invalid", None) in seen
