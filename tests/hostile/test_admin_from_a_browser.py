"""Finding 3 of issue 11, the provider's side: its admin API trusted any loopback peer and checked neither
Host nor Origin nor Content-Type, so a web page open in the developer's browser could POST `text/plain` to
`/_admin/faults` or `/_admin/reset` (200), and DNS rebinding could read `/_admin/ledger` under a foreign
Host. Real sockets; each refusal changes nothing. (The core's side: tests/binding_core/test_admin_gate.py.)"""

from __future__ import annotations

import argparse
import json

import aiohttp
import pytest

from simulator.cli import add_arguments, config_from_args
from simulator.config import ProviderConfig
from simulator.config_file import ConfigFileError, parse_provider_config
from simulator.server import Provider

RULE = json.dumps({"match": {"operation": "create_binding"}, "action": {"kind": "status", "status": 503}})
JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize("method, path, headers, body, status, code", [
    # a cross-site form or fetch needs no preflight for text/plain or form encoding
    ("POST", "/_admin/faults", {"Content-Type": "text/plain"}, RULE, 415, "UNSUPPORTED_MEDIA_TYPE"),
    ("POST", "/_admin/faults", {"Content-Type": "application/x-www-form-urlencoded"}, RULE, 415,
     "UNSUPPORTED_MEDIA_TYPE"),
    ("POST", "/_admin/reset", {"Content-Type": "text/plain"}, '{"rules": "clear"}', 415, "UNSUPPORTED_MEDIA_TYPE"),
    # the same with the right type still carries the page's Origin
    ("POST", "/_admin/faults", {**JSON, "Origin": "http://evil.example"}, RULE, 403, "ORIGIN_REFUSED"),
    ("POST", "/_admin/reset", {"Origin": "http://evil.example"}, None, 403, "ORIGIN_REFUSED"),
    ("POST", "/_admin/reset", {"Origin": "null"}, None, 403, "ORIGIN_REFUSED"),
    ("POST", "/_admin/reset", {"Sec-Fetch-Site": "cross-site"}, None, 403, "ORIGIN_REFUSED"),
    # DNS rebinding: the page's own name resolves to 127.0.0.1
    ("GET", "/_admin/ledger", {"Host": "evil.example:8090"}, None, 403, "HOST_REFUSED"),
    ("GET", "/metrics", {"Host": "evil.example"}, None, 403, "HOST_REFUSED"),
    ("POST", "/_admin/faults", {**JSON, "Host": "evil.example"}, RULE, 403, "HOST_REFUSED"),
])
async def test_browser_requests_to_the_admin_api_are_refused_and_change_nothing(
        method, path, headers, body, status, code) -> None:
    async with Provider(ProviderConfig(seed=1)) as provider, aiohttp.ClientSession() as http:
        provider.ledger.create_binding("XB", b="13800000001")
        before = (len(provider.faults.rules), len(provider.ledger.bindings()))
        async with http.request(method, provider.url + path, headers=headers, data=body) as response:
            answer = await response.json(content_type=None)
        assert (response.status, answer["code"]) == (status, code), answer
        assert "Access-Control-Allow-Origin" not in response.headers
        assert (len(provider.faults.rules), len(provider.ledger.bindings())) == before


async def test_own_names_pass_and_a_token_is_required_once_set() -> None:
    async with Provider(ProviderConfig(seed=1, admin_token="s3cret", allowed_hosts=("sim.test",))) as provider, \
            aiohttp.ClientSession() as http:
        for path in ("/_admin/ledger", "/metrics"):
            async with http.get(provider.url + path) as response:
                assert response.status == 401 and response.headers["WWW-Authenticate"].startswith("Bearer")
        auth = {"Authorization": "Bearer s3cret"}
        for host in (f"127.0.0.1:{provider.port}", "localhost", "sim.test:8090"):
            async with http.get(provider.url + "/_admin/ledger", headers={**auth, "Host": host}) as response:
                assert response.status == 200, host
        async with http.post(provider.url + "/_admin/faults", headers={**auth, **JSON}, data=RULE) as response:
            assert response.status == 201
        async with http.post(provider.url + "/_admin/reset", headers=auth) as response:  # no body: no type needed
            assert response.status == 200
        async with http.get(provider.url + "/v1/numbers?limit=1") as response:  # the business API needs no token
            assert response.status == 200


def test_the_cli_and_config_file_take_the_http_keys(tmp_path) -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    config_file = tmp_path / "provider.toml"
    config_file.write_text('[http]\nadmin_token = "from-file"\nallowed_hosts = ["a.test"]\nheader_timeout = 3\n')
    config = config_from_args(parser.parse_args(["--config", str(config_file)]))
    assert (config.admin_token, config.allowed_hosts, config.header_timeout) == ("from-file", ("a.test",), 3.0)
    config = config_from_args(parser.parse_args(["--config", str(config_file), "--admin-token", "from-flag"]))
    assert config.admin_token == "from-flag"
    for bad, named in [({"max_connections": 0}, "http.max_connections"), ({"header_timeout": -1}, "http.header_timeout"),
                       ({"admin_token": ""}, "http.admin_token"), ({"keepalive": 5}, "http.'keepalive'")]:
        with pytest.raises(ConfigFileError, match=named):
            parse_provider_config({"http": bad})
