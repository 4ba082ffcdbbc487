"""The admin gate's rules as a pure function (simulator/admin_gate.py): the cases a loopback test cannot
reach (a peer that is not loopback, IPv6 names), and the order the refusals come in."""

from __future__ import annotations

from multidict import CIMultiDict

from simulator.admin_gate import AdminGate


def refusal(gate: AdminGate, method: str = "GET", peer: str = "127.0.0.1", local: str = "127.0.0.1",
            has_body: bool = False, **headers: str):
    found = gate.refusal(method, CIMultiDict({k.replace("_", "-"): v for k, v in headers.items()}), peer, local,
                         has_body)
    return None if found is None else (found.status, found.code)


def test_a_peer_that_is_not_loopback_is_refused_unless_allowed() -> None:
    assert refusal(AdminGate(), peer="10.1.2.3", local="10.1.2.1") == (403, "ADMIN_FORBIDDEN")
    assert refusal(AdminGate(allow_public=True), peer="10.1.2.3", local="10.1.2.1", Host="10.1.2.1:8090") is None
    assert refusal(AdminGate(allow_public=True), peer="10.1.2.3", local="10.1.2.1", Host="localhost") == \
        (403, "HOST_REFUSED")  # localhost names the address only when the server answered on loopback


def test_ipv6_and_ports_in_host_and_origin() -> None:
    gate = AdminGate()
    assert refusal(gate, peer="::1", local="::1", Host="[::1]:8090", Origin="http://[::1]:8090") is None
    assert refusal(gate, Host="127.0.0.1:1", Origin="https://localhost") is None
    assert refusal(gate, Host="127.0.0.1.evil.example") == (403, "HOST_REFUSED")
    assert refusal(gate, Origin="chrome-extension://abc") == (403, "ORIGIN_REFUSED")


def test_the_refusals_come_in_order_and_the_token_is_compared_whole() -> None:
    gate = AdminGate(token="s3cret")
    assert refusal(gate, "POST", has_body=True, Host="evil.example", Content_Type="text/plain") == (403, "HOST_REFUSED")
    assert refusal(gate, "POST", has_body=True, Content_Type="text/plain") == (401, "ADMIN_UNAUTHORIZED")
    assert refusal(gate, Authorization="Bearer s3cre") == (401, "ADMIN_UNAUTHORIZED")
    assert refusal(gate, Authorization="Basic s3cret") == (401, "ADMIN_UNAUTHORIZED")
    assert refusal(gate, "POST", has_body=True, Authorization="Bearer s3cret", Content_Type="text/plain") == \
        (415, "UNSUPPORTED_MEDIA_TYPE")
    assert refusal(gate, "POST", has_body=True, Authorization="bearer s3cret",
                   Content_Type="application/json; charset=utf-8") is None
    assert refusal(gate, "POST", Authorization="Bearer s3cret", Content_Type="application/octet-stream") is None
