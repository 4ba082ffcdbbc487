"""A small privacy-number service whose API looks nothing like pstnsim's bundled core: the `--sut` example.

Standard library only (http.server, urllib), synchronous: each request holds its
number's lock while it calls the provider, then answers. It masks calls with
two kinds of *mask* on a virtual number: "staff" (anyone who dials the number
reaches the staff member: the provider's XB) and "pair" (a customer and a staff
member reach each other: AXB).

    PUT    /masks/{virtual}         {"kind": "staff", "staff": B} or {"kind": "pair", "customer": A, "staff": B}
                                    200 {"mask": {...}}; 409 {"error"} taken or busy; 422 refused by the
                                    provider; 502 the provider's answer was lost (it may or may not exist)
    DELETE /masks/{virtual}/{kind}  200 {"removed": {...}}; 404 no such mask; 502 lost
    GET    /masks/{virtual}         {"virtual", "masks": [{"kind", "customer", "staff", "state": "live"|"changing",
                                     "provider_ref", "rev"}]}   (no mask of a kind: nothing of that kind)
    GET    /journal                 {"events": [{"virtual", "kind", "was", "now", "rev", "at"}]}, oldest first;
                                    states "none", "changing", "live"
    POST   /testing/wipe            forget every mask and event (a test hook); GET /testing/wipes counts them
    GET    /ping                    200 pong

A lost create is retried with the same Idempotency-Key (the provider applies it
once); if every try is lost, the service looks the binding up before it answers.

    python examples/sut/mask_service.py --provider-url http://127.0.0.1:8090 --port 8081
"""

from __future__ import annotations

import argparse
import json
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TRIES = 3
PROVIDER_TIMEOUT = 2.0
MODES = {"staff": "XB", "pair": "AXB"}
MASK_PATH = re.compile(r"^/masks/(\d{5,20})$")
KIND_PATH = re.compile(r"^/masks/(\d{5,20})/(staff|pair)$")


@dataclass
class Mask:
    kind: str
    staff: str
    customer: str | None
    state: str  # "changing" | "live"
    provider_ref: str | None
    rev: int


class Masks:
    """Every mask and state change, in memory; one lock per virtual number serialises its writes."""

    def __init__(self, provider_url: str) -> None:
        self.provider_url = provider_url.rstrip("/")
        self.masks: dict[tuple[str, str], Mask] = {}
        self.revs: dict[tuple[str, str], int] = {}
        self.events: list[dict[str, Any]] = []
        self.guard = threading.Lock()
        self.locks: dict[str, threading.Lock] = {}
        self.wipes = 0

    def lock(self, virtual: str) -> threading.Lock:
        with self.guard:
            return self.locks.setdefault(virtual, threading.Lock())

    def wipe(self) -> None:
        with self.guard:
            self.wipes += 1
            self.masks.clear()
            self.revs.clear()
            self.events.clear()

    def _move(self, virtual: str, kind: str, now: str, mask: Mask | None) -> None:
        """Record a state change and keep the mask (or drop it when it is gone)."""
        key = (virtual, kind)
        with self.guard:
            was = self.masks[key].state if key in self.masks else "none"
            rev = self.revs.get(key, 0) + 1
            self.revs[key] = rev
            if mask is None:
                self.masks.pop(key, None)
            else:
                mask.state, mask.rev = now, rev
                self.masks[key] = mask
            self.events.append({"virtual": virtual, "kind": kind, "was": was, "now": now, "rev": rev,
                                "at": time.time()})

    # ---- the two writes -----------------------------------------------------------

    def put(self, virtual: str, kind: str, staff: str, customer: str | None) -> tuple[int, dict[str, Any]]:
        with self.lock(virtual):
            if (virtual, kind) in self.masks:
                return 409, {"error": f"{virtual} already has a {kind} mask"}
            mask = Mask(kind, staff, customer, "changing", None, 0)
            self._move(virtual, kind, "changing", mask)
            body = {"mode": MODES[kind], "x": virtual, "b": staff, **({"a": customer} if customer else {})}
            key = str(uuid.uuid4())
            for _ in range(TRIES):
                status, answer = self._call("POST", "/v1/bindings", body, {"Idempotency-Key": key})
                if status in (200, 201):
                    mask.provider_ref = answer.get("binding_id")
                    self._move(virtual, kind, "live", mask)
                    return 200, {"mask": asdict(mask)}
                if status is not None and 400 <= status < 500:
                    self._move(virtual, kind, "none", None)
                    return (409 if status == 409 else 422), {"error": f"the provider refused: {answer}"}
            found = self._lookup(virtual, MODES[kind], staff, customer)
            if found:  # the create took effect though every answer was lost
                mask.provider_ref = found
                self._move(virtual, kind, "live", mask)
                return 200, {"mask": asdict(mask)}
            self._move(virtual, kind, "none", None)
            return 502, {"error": "the provider did not answer; nothing was bound"}

    def remove(self, virtual: str, kind: str) -> tuple[int, dict[str, Any]]:
        with self.lock(virtual):
            mask = self.masks.get((virtual, kind))
            if mask is None:
                return 404, {"error": f"{virtual} has no {kind} mask"}
            self._move(virtual, kind, "changing", mask)
            for _ in range(TRIES):
                status, _answer = self._call("DELETE", f"/v1/bindings/{mask.provider_ref}", None, {})
                if status in (200, 204, 404):  # gone, or already gone
                    self._move(virtual, kind, "none", None)
                    return 200, {"removed": asdict(mask)}
            if self._lookup(virtual, MODES[kind], mask.staff, mask.customer):
                self._move(virtual, kind, "live", mask)
                return 502, {"error": "the provider did not answer; the mask stays"}
            self._move(virtual, kind, "none", None)
            return 200, {"removed": asdict(mask)}

    # ---- the provider -----------------------------------------------------------------

    def _lookup(self, virtual: str, mode: str, staff: str, customer: str | None) -> str | None:
        """The provider's id of an active binding with these numbers on this number, asked until it answers."""
        query = urllib.parse.urlencode({"x": virtual})
        for _ in range(5 * TRIES):
            status, answer = self._call("GET", f"/v1/bindings?{query}", None, {})
            if status == 200:
                for binding in answer.get("bindings", []):
                    if (binding.get("mode"), binding.get("b"), binding.get("a")) == (mode, staff, customer) \
                            and binding.get("status", "active") == "active":
                        return binding.get("binding_id")
                return None
            time.sleep(0.1)
        return None

    def _call(self, method: str, path: str, body: Any, headers: dict[str, str]) -> tuple[int | None, dict[str, Any]]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.provider_url + path, data=data, method=method,
                                         headers={**headers, **({"Content-Type": "application/json"} if data else {})})
        try:
            with urllib.request.urlopen(request, timeout=PROVIDER_TIMEOUT) as response:
                return response.status, _json(response.read())
        except urllib.error.HTTPError as error:
            return error.code, _json(error.read())
        except (OSError, ValueError):  # timeout, reset, refused, a garbled answer: unknown
            return None, {}


def _json(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


class Handler(BaseHTTPRequestHandler):
    masks: Masks  # set on the class by serve()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet: the harness reads the API
        pass

    def _answer(self, status: int, body: Any) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        return _json(self.rfile.read(length)) if length else {}

    def do_GET(self) -> None:  # noqa: N802
        path = urllib.parse.urlparse(self.path).path
        if path == "/ping":
            return self._answer(200, "pong")
        if path == "/testing/wipes":
            return self._answer(200, {"wipes": self.masks.wipes})
        if path == "/journal":
            with self.masks.guard:
                return self._answer(200, {"events": list(self.masks.events)})
        found = MASK_PATH.match(path)
        if found:
            virtual = found.group(1)
            with self.masks.guard:
                masks = [asdict(m) for (v, _), m in self.masks.masks.items() if v == virtual]
            return self._answer(200, {"virtual": virtual, "masks": masks})
        self._answer(404, {"error": "no such path"})

    def do_PUT(self) -> None:  # noqa: N802
        found = MASK_PATH.match(self.path)
        body = self._body()
        kind, staff, customer = body.get("kind"), body.get("staff"), body.get("customer")
        if not found or kind not in MODES or not staff or (kind == "pair") != bool(customer):
            return self._answer(400, {"error": "PUT /masks/{virtual} takes kind staff (staff) or pair (customer, staff)"})
        self._answer(*self.masks.put(found.group(1), kind, staff, customer))

    def do_DELETE(self) -> None:  # noqa: N802
        found = KIND_PATH.match(self.path)
        if not found:
            return self._answer(404, {"error": "no such path"})
        self._answer(*self.masks.remove(found.group(1), found.group(2)))

    def do_POST(self) -> None:  # noqa: N802
        if self.path == "/testing/wipe":
            self.masks.wipe()
            return self._answer(200, {"wiped": True})
        self._answer(404, {"error": "no such path"})


def serve(provider_url: str, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    handler = type("MaskHandler", (Handler,), {"masks": Masks(provider_url)})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--provider-url", required=True, help="the provider (pstnsim provider), native API")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081, help="0: any free port")
    args = parser.parse_args()
    server = serve(args.provider_url, args.host, args.port)
    print(f"mask service listening on http://{args.host}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
