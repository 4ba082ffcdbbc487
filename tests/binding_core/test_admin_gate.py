"""Finding 3 of issue 11, the core's side: what a web page open in the developer's browser could do to the
core on 127.0.0.1. `/_admin/gray` had no gate at all, and the bind endpoints took JSON sent as text/plain
(which a page may POST cross-site without asking first). Real sockets; each refusal changes nothing."""

from __future__ import annotations

import pytest

from binding_core.config import HttpSettings

from .conftest import core_config

pytestmark = pytest.mark.looptime

B = "13800000001"
GRAY = b'{"all": false, "numbers": ["13800000009"]}'


async def _gray(w) -> dict:
    return w.core.parts.gray.current.to_dict()


@pytest.mark.parametrize("headers, status, code", [
    ({"Content-Type": "text/plain"}, 415, "UNSUPPORTED_MEDIA_TYPE"),  # a cross-site form or fetch, no preflight
    ({"Content-Type": "application/x-www-form-urlencoded"}, 415, "UNSUPPORTED_MEDIA_TYPE"),
    ({}, 415, "UNSUPPORTED_MEDIA_TYPE"),  # aiohttp sends no Content-Type for raw bytes
    ({"Content-Type": "application/json", "Host": "evil.example:8080"}, 403, "HOST_REFUSED"),  # DNS rebinding
    ({"Content-Type": "application/json", "Origin": "http://evil.example"}, 403, "ORIGIN_REFUSED"),
    ({"Content-Type": "application/json", "Origin": "null"}, 403, "ORIGIN_REFUSED"),
    ({"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"}, 403, "ORIGIN_REFUSED"),
])
async def test_admin_writes_from_a_browser_page_are_refused(world, headers, status, code) -> None:
    w = await world()
    before = await _gray(w)
    got, body = await w.call("PUT", "/_admin/gray", data=GRAY, headers=headers)
    assert (got, body["code"]) == (status, code), body
    assert await _gray(w) == before


async def test_reads_under_a_foreign_host_are_refused_and_own_names_work(world) -> None:
    w = await world()
    got, body = await w.call("GET", "/_admin/gray", headers={"Host": "attacker.example"})
    assert (got, body["code"]) == (403, "HOST_REFUSED")
    port = w.core.port
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost"):
        got, _ = await w.call("GET", "/_admin/gray", headers={"Host": host, "Origin": f"http://{host}"})
        assert got == 200, host
    got, _ = await w.call("PUT", "/_admin/gray", data=GRAY, headers={"Content-Type": "application/json"})
    assert got == 200


async def test_allowed_hosts_and_the_admin_token(world) -> None:
    config = core_config(http=HttpSettings(admin_token="s3cret", allowed_hosts=("core.test",)))
    w = await world(config=config)
    got, body = await w.call("GET", "/_admin/gray")
    assert (got, body["code"]) == (401, "ADMIN_UNAUTHORIZED")
    got, body = await w.call("GET", "/_admin/gray", headers={"Authorization": "Bearer wrong"})
    assert got == 401
    auth = {"Authorization": "Bearer s3cret"}
    got, _ = await w.call("GET", "/_admin/gray", headers={**auth, "Host": "core.test:8080"})
    assert got == 200
    got, _ = await w.call("DELETE", "/_admin/gray", headers=auth)  # a bodiless write needs no Content-Type
    assert got == 200
    got, _ = await w.call("GET", "/health")  # the business API needs no token
    assert got == 200


@pytest.mark.parametrize("headers", [{"Content-Type": "text/plain"}, {}])
async def test_bind_endpoints_take_json_only_as_json(world, headers) -> None:
    w = await world()
    [x] = w.numbers(1)
    got, body = await w.call("POST", f"/v1/numbers/{x}/xb", data=b'{"b": "13800000001"}', headers=headers)
    assert (got, body["code"]) == (415, "UNSUPPORTED_MEDIA_TYPE")
    assert (await w.view(x))["xb"]["status"] == "NOT_BIND"
    assert w.core.store.count_operations() == 0


def test_the_http_section_is_checked_by_name() -> None:
    from binding_core.config import ConfigError, parse_config

    config = parse_config({"http": {"admin_token": "t", "allowed_hosts": ["core.test"], "header_timeout": 2,
                                    "max_connections": 64, "allow_public_admin": True}})
    assert (config.http.admin_token, config.http.allowed_hosts, config.http.limits().cap()) == ("t", ("core.test",), 64)
    for bad, named in [({"max_connections": 0}, "max_connections"), ({"header_timeout": 0}, "header_timeout"),
                       ({"admin_token": ""}, "admin_token"), ({"keepalive": 1}, "keepalive")]:
        with pytest.raises(ConfigError, match=named):
            parse_config({"http": bad})
