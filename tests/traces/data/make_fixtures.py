"""Regenerates the HAR and trace fixtures in this folder from real pstnsim traffic:

    .venv/bin/python tests/traces/data/make_fixtures.py

Every exchange below really went to an in-process pstnsim provider over loopback and was captured in the
shape each tool writes (Chrome dev tools, Playwright, mitmproxy); the failed entries come from the
provider's own reset / timeout faults. The few entries that are not provider traffic (a page, a script,
an icon) are written by hand: they only have to be skipped. The traces are the provider's own `--trace`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import aiohttp

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from simulator.config import ProviderConfig  # noqa: E402
from simulator.dialects.aliyun import signing as aliyun_signing  # noqa: E402
from simulator.dialects.tencent import signing as tencent_signing  # noqa: E402
from simulator.server import Provider  # noqa: E402

HERE = Path(__file__).resolve().parent
A, B, B2 = "13900000001", "13800000002", "13800000003"
POOL_KEY = "FC100000000000001"


class HarCapture:
    """Sends requests with aiohttp and keeps each as a HAR entry in one tool's style."""

    def __init__(self, style: str) -> None:
        self.style = style  # chrome | playwright | mitmproxy
        self.entries: list[dict[str, Any]] = []

    async def send(self, session: aiohttp.ClientSession, method: str, url: str, *, headers: dict[str, str] | None = None,
                   body: bytes = b"", timeout: float = 5.0, base64_answer: bool = False) -> int | None:
        headers = dict(headers or {})
        started = time.time()
        t0 = time.monotonic()
        try:
            async with session.request(method, url, headers=headers, data=body or None,
                                       timeout=aiohttp.ClientTimeout(total=timeout)) as response:
                raw = await response.read()
                waited = time.monotonic() - t0
                self.entries.append(self._entry(started, waited, method, url, headers, body,
                                                (response.status, response.reason or "", dict(response.headers), raw),
                                                base64_answer=base64_answer))
                return response.status
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            waited = time.monotonic() - t0
            self.entries.append(self._entry(started, waited, method, url, headers, body, None, error=exc))
            return None

    def _entry(self, started: float, waited: float, method: str, url: str, headers: dict[str, str], body: bytes,
               answer: tuple[int, str, dict[str, str], bytes] | None, *, error: BaseException | None = None,
               base64_answer: bool = False) -> dict[str, Any]:
        parts = urlsplit(url)
        request_headers = [{"name": "Host", "value": parts.netloc}, *({"name": k, "value": v} for k, v in headers.items())]
        request: dict[str, Any] = {
            "method": method, "url": url, "httpVersion": "HTTP/1.1", "cookies": [], "headers": request_headers,
            "queryString": [{"name": k, "value": v} for k, v in parse_qsl(parts.query, keep_blank_values=True)],
            "headersSize": -1, "bodySize": len(body),
        }
        if body:
            mime = headers.get("Content-Type", headers.get("content-type", ""))
            request["postData"] = {"mimeType": mime, "text": body.decode()}
            if self.style == "mitmproxy" and "form" in mime:
                request["postData"]["params"] = [{"name": k, "value": v} for k, v in parse_qsl(body.decode())]
        ms = round(waited * 1000, 3)
        timings = {"blocked": -1, "dns": -1, "ssl": -1, "connect": -1, "send": 0.05, "wait": ms, "receive": 0.1}
        if answer is None:
            timings["receive"] = -1 if self.style != "mitmproxy" else 0
            response = self._failed(error)
        else:
            status, reason, response_headers, raw = answer
            content: dict[str, Any] = {"size": len(raw), "mimeType": response_headers.get("Content-Type", "")}
            if base64_answer:
                content.update(text=base64.b64encode(raw).decode(), encoding="base64")
            else:
                content["text"] = raw.decode()
            response = {"status": status, "statusText": reason, "httpVersion": "HTTP/1.1", "cookies": [],
                        "headers": [{"name": k, "value": v} for k, v in response_headers.items()],
                        "content": content, "redirectURL": "", "headersSize": -1, "bodySize": len(raw)}
        at = datetime.fromtimestamp(started, tz=timezone.utc)
        stamp = at.isoformat() if self.style == "mitmproxy" else at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        entry = {"startedDateTime": stamp, "time": ms, "request": request, "response": response, "cache": {},
                 "timings": timings}
        if self.style == "chrome":
            entry.update({"_initiator": {"type": "script"}, "_priority": "High", "_resourceType": "fetch",
                          "serverIPAddress": "127.0.0.1", "connection": "443"})
        return entry

    def _failed(self, error: BaseException | None) -> dict[str, Any]:
        timed_out = isinstance(error, asyncio.TimeoutError)
        base = {"statusText": "", "httpVersion": "", "headers": [], "cookies": [], "redirectURL": "",
                "headersSize": -1, "bodySize": -1}
        if self.style == "playwright":
            return {**base, "status": -1, "content": {"size": -1, "mimeType": "x-unknown"},
                    "_failureText": "net::ERR_TIMED_OUT" if timed_out else "net::ERR_CONNECTION_RESET"}
        if self.style == "mitmproxy":
            return {**base, "status": 0, "content": {}, "_transferSize": 0,
                    "_error": "Server connection timed out." if timed_out else "Connection reset by peer."}
        return {**base, "status": 0, "content": {"size": 0, "mimeType": "x-unknown"}, "_transferSize": 0,
                "_error": "net::ERR_TIMED_OUT" if timed_out else "net::ERR_CONNECTION_RESET"}

    def add_static(self, url: str, mime: str, text: str, *, encoding: str | None = None) -> None:
        """A request that is not provider traffic (a page, a script, an icon): only there to be skipped."""
        content: dict[str, Any] = {"size": len(text), "mimeType": mime, "text": text}
        if encoding:
            content["encoding"] = encoding
        stamp = self.entries[-1]["startedDateTime"] if self.entries else datetime.now(timezone.utc).isoformat()
        self.entries.append({
            "startedDateTime": stamp, "time": 3.2,
            "request": {"method": "GET", "url": url, "httpVersion": "HTTP/1.1", "cookies": [], "headers": [],
                        "queryString": [], "headersSize": -1, "bodySize": 0},
            "response": {"status": 200, "statusText": "OK", "httpVersion": "HTTP/1.1", "cookies": [],
                         "headers": [{"name": "Content-Type", "value": mime}], "content": content,
                         "redirectURL": "", "headersSize": -1, "bodySize": len(text)},
            "cache": {}, "timings": {"send": 0.1, "wait": 3, "receive": 0.1},
        })

    def write(self, path: Path, creator: dict[str, str]) -> None:
        document = {"log": {"version": "1.2", "creator": creator, "pages": [], "entries": self.entries}}
        path.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


async def add_fault(session: aiohttp.ClientSession, provider: Provider, rule: dict[str, Any]) -> None:
    async with session.post(f"{provider.admin_url}/faults", json=rule) as response:
        assert response.status in (200, 201), await response.text()


async def chrome_native(path: Path) -> None:
    """A dashboard's fetches to the native API; one create reset by the provider (status 0)."""
    capture = HarCapture("chrome")
    async with Provider(ProviderConfig(seed=7)) as provider, aiohttp.ClientSession() as session:
        capture.add_static(f"{provider.url}/dashboard/", "text/html", "<!doctype html><title>ops</title>")
        capture.add_static(f"{provider.url}/dashboard/app.js", "application/javascript", "console.log('ops')")
        json_headers = {"Content-Type": "application/json"}
        await add_fault(session, provider, {"match": {"operation": "create_binding", "b": B2},
                                            "action": {"kind": "reset"}, "when": {"first": 1}})
        await capture.send(session, "POST", f"{provider.url}/v1/bindings", headers=json_headers,
                           body=json.dumps({"mode": "XB", "b": B}).encode())
        x = json.loads(capture.entries[-1]["response"]["content"]["text"])["x"]
        await capture.send(session, "POST", f"{provider.url}/v1/bindings", headers=json_headers,
                           body=json.dumps({"mode": "AXB", "x": x, "a": A, "b": B}).encode())
        await capture.send(session, "GET", f"{provider.url}/v1/bindings?b={B}")
        await capture.send(session, "POST", f"{provider.url}/v1/calls", headers=json_headers,
                           body=json.dumps({"caller": A, "x": x}).encode())
        await capture.send(session, "POST", f"{provider.url}/v1/bindings", headers={**json_headers, "Idempotency-Key": "op-7"},
                           body=json.dumps({"mode": "XB", "b": B2}).encode())  # reset: status 0
        await capture.send(session, "POST", f"{provider.url}/v1/bindings", headers={**json_headers, "Idempotency-Key": "op-7"},
                           body=json.dumps({"mode": "XB", "b": B2}).encode())
        capture.add_static(f"{provider.url}/favicon.ico", "image/x-icon", base64.b64encode(b"\0\0\1\0").decode(),
                           encoding="base64")
    capture.write(path, {"name": "WebInspector", "version": "537.36"})


async def playwright_native(path: Path) -> None:
    """An end-to-end test's traffic through Playwright; one create held by a timeout fault (status -1)."""
    capture = HarCapture("playwright")
    async with Provider(ProviderConfig(seed=7)) as provider, aiohttp.ClientSession() as session:
        json_headers = {"Content-Type": "application/json"}
        await add_fault(session, provider, {"match": {"operation": "create_binding"},
                                            "action": {"kind": "timeout", "seconds": 5}, "when": {"first": 1}})
        await capture.send(session, "POST", f"{provider.url}/v1/bindings", headers=json_headers,
                           body=json.dumps({"mode": "XB", "b": B}).encode(), timeout=0.3)  # -1: timed out
        await capture.send(session, "POST", f"{provider.url}/v1/bindings", headers=json_headers,
                           body=json.dumps({"mode": "XB", "b": B}).encode())
        await capture.send(session, "GET", f"{provider.url}/v1/bindings?b={B}")
        capture.add_static("http://127.0.0.1:3000/api/session", "application/json", '{"user": "qa"}')
    capture.write(path, {"name": "Playwright", "version": "1.47.2"})


async def mitmproxy_vendors(path: Path) -> None:
    """A service's Aliyun (ACS3 and RPC) and Tencent (TC3) calls through mitmproxy; one reset."""
    capture = HarCapture("mitmproxy")
    async with Provider(ProviderConfig(seed=11)) as provider, aiohttp.ClientSession() as session:
        host = f"127.0.0.1:{provider.port}"
        nonce = iter(range(1, 1000))

        def expiration() -> str:
            at = provider.ledger.clock.now() + 3600
            return datetime.fromtimestamp(at, tz=timezone(timedelta(hours=8))).strftime("%Y-%m-%d %H:%M:%S")

        async def acs3(action: str, query: dict[str, str], **kw: Any) -> dict[str, Any]:
            headers = aliyun_signing.sign_acs3(method="POST", host=host, action=action, version="2017-05-25",
                                               query=query, access_key_id="pstnsim-ak", secret="pstnsim-secret",
                                               nonce=f"nonce-{next(nonce)}", at=provider.ledger.clock.now())
            headers.pop("host")
            await capture.send(session, "POST", f"{provider.url}/?{urlencode(query)}", headers=headers, **kw)
            text = capture.entries[-1]["response"].get("content", {}).get("text")
            if capture.entries[-1]["response"].get("content", {}).get("encoding") == "base64":
                text = base64.b64decode(text).decode()
            return json.loads(text) if text else {}

        async def tc3(action: str, body: dict[str, Any]) -> dict[str, Any]:
            raw = json.dumps(body).encode()
            stamp = int(provider.ledger.clock.now())
            canonical = tencent_signing.tc3_canonical_request(
                "POST", "", {"content-type": "application/json", "host": host}, ("content-type", "host"), raw)
            headers = {"Content-Type": "application/json", "X-TC-Action": action, "X-TC-Version": "2019-08-23",
                       "X-TC-Timestamp": str(stamp),
                       "Authorization": tencent_signing.tc3_authorization("pstnsim-id", "pstnsim-secret", stamp, canonical)}
            await capture.send(session, "POST", f"{provider.url}/", headers=headers, body=raw)
            return json.loads(capture.entries[-1]["response"]["content"]["text"])

        bound = await acs3("BindAxb", {"PoolKey": POOL_KEY, "PhoneNoA": A, "PhoneNoB": B, "Expiration": expiration()})
        x, subs_id = bound["SecretBindDTO"]["SecretNo"], bound["SecretBindDTO"]["SubsId"]
        await acs3("QuerySubsId", {"PoolKey": POOL_KEY, "PhoneNoX": x}, base64_answer=True)
        await acs3("QuerySubscriptionDetail", {"PoolKey": POOL_KEY, "PhoneNoX": x, "SubsId": subs_id})
        rpc = aliyun_signing.sign_rpc(method="GET", action="QuerySubsId", version="2017-05-25",
                                      params={"PoolKey": POOL_KEY, "PhoneNoX": x}, access_key_id="pstnsim-ak",
                                      secret="pstnsim-secret", nonce=f"nonce-{next(nonce)}",
                                      at=provider.ledger.clock.now())
        await capture.send(session, "GET", f"{provider.url}/?{urlencode(rpc)}")
        await add_fault(session, provider, {"match": {"operation": "UnbindSubscription"},
                                            "action": {"kind": "reset"}, "when": {"first": 1}})
        await acs3("UnbindSubscription", {"PoolKey": POOL_KEY, "SecretNo": x, "SubsId": subs_id})  # reset: status 0
        await acs3("UnbindSubscription", {"PoolKey": POOL_KEY, "SecretNo": x, "SubsId": subs_id})
        got = await tc3("GetVirtualNum", {"BizAppId": "pstnsim", "Src": "0086" + A, "Dst": "0086" + B2})
        await tc3("DelVirtualNum", {"BizAppId": "pstnsim", "BindId": got["Response"]["BindId"]})
        capture.add_static("http://127.0.0.1:9100/metrics", "text/plain", "up 1\n")
    capture.write(path, {"name": "mitmproxy", "version": "10.4.2"})


async def traces() -> None:
    """The provider's own traces: native (with a ghost success), aliyun, tencent."""
    async with Provider(ProviderConfig(seed=7, trace_file=HERE / "native.jsonl")) as provider, \
            aiohttp.ClientSession() as session:
        await add_fault(session, provider, {"match": {"operation": "create_binding", "b": B2},
                                            "action": {"kind": "ghost_success", "status": 503}, "when": {"first": 1}})
        async with session.post(f"{provider.url}/v1/bindings", json={"mode": "XB", "b": B}) as r:
            x = (await r.json())["x"]
        await session.post(f"{provider.url}/v1/bindings", json={"mode": "AXB", "x": x, "a": A, "b": B})
        for _ in range(2):  # the ghost success (503, applied), then the retry that makes a duplicate
            await session.post(f"{provider.url}/v1/bindings", json={"mode": "XB", "b": B2})
        async with session.get(f"{provider.url}/v1/bindings", params={"b": B}) as r:
            first = (await r.json())["bindings"][0]["binding_id"]
        await session.post(f"{provider.url}/v1/calls", json={"caller": A, "x": x})
        await session.delete(f"{provider.url}/v1/bindings/{first}")
        await session.get(f"{provider.url}/v1/bindings/{first}")


def main() -> None:
    asyncio.run(chrome_native(HERE / "chrome.har"))
    asyncio.run(playwright_native(HERE / "playwright.har"))
    asyncio.run(mitmproxy_vendors(HERE / "mitmproxy.har"))
    asyncio.run(traces())
    print(f"wrote chrome.har, playwright.har, mitmproxy.har, native.jsonl in {HERE}")


if __name__ == "__main__":
    main()
