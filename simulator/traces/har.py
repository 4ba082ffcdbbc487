"""HAR 1.2 (browser dev tools, Playwright, mitmproxy, Charles) -> a pstnsim trace.

Each HAR entry that is provider traffic becomes one trace exchange, scrubbed exactly as the journal
scrubs (the entry is passed through the journal's own Raw* values and `recording.to_trace_exchange`),
with A and B numbers replaced by stand-ins unless asked not to. An entry the client saw fail (Chrome and
mitmproxy write status 0 with `_error`, Playwright status -1 with `_failureText`, some tools no response
at all) is a failure line, not a crash. Entries that are not provider requests are skipped and counted.

Pure logic over parsed JSON plus one file reader; anything that is not HAR raises HarError naming the
file and, where it applies, the entry.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from ..journal import Exchange as JournalEntry
from ..journal import RawBody, RawHeaders, RawQuery
from .format import DIALECTS, Exchange, Failure, Header, Trace
from .meaning import detect_dialect, meaning_of, national
from .pseudonyms import Pseudonyms
from .recording import to_trace_exchange  # the journal -> trace step the simulator's own --trace uses

RECORDER = "pstnsim trace import"
DIALECT_CHOICES = (*DIALECTS, "auto")
# An error text or a timing pattern that says the client gave up waiting, not that the connection broke.
_TIMEOUT_TEXT = re.compile(r"timed?[ _-]?out|deadline", re.IGNORECASE)
# Response fields that carry an X (the provider's number, never pseudonymised), in any dialect.
X_FIELDS = frozenset({"x", "PhoneNoX", "SecretNo", "TelX", "VirtualNum", "AssignVirtualNum"})
# The native API's operations: anything else under /v1/ is not provider traffic.
_NATIVE_PREFIX = "/v1/"


class HarError(Exception):
    """A file that is not HAR, or an entry that breaks HAR 1.2: names the file and the entry."""

    def __init__(self, path: str | Path, entry: int | None, message: str) -> None:
        self.path, self.entry, self.message = str(path), entry, message
        where = f"{path}: log.entries[{entry}]" if entry is not None else str(path)
        super().__init__(f"{where}: {message}")


@dataclass
class HarImport:
    """The trace made from a HAR, and what was left out of it."""

    trace: Trace
    entries: int  # entries in the HAR
    skipped: int  # entries that are not provider requests
    failures: int  # imported entries the client saw fail (status 0 / -1 / no response)


def read_har(path: str | Path) -> dict[str, Any]:
    """The parsed HAR document; HarError for a missing file, bad JSON or a document without log.entries."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise HarError(path, None, f"cannot open: {exc.strerror or exc}") from None
    try:
        document = json.loads(raw)
    except UnicodeDecodeError:
        raise HarError(path, None, "not HAR: the file is not UTF-8 text") from None
    except ValueError as exc:
        raise HarError(path, None, f"not HAR: not valid JSON ({exc})") from None
    except RecursionError:
        raise HarError(path, None, "not HAR: JSON nested too deeply") from None
    log = document.get("log") if isinstance(document, dict) else None
    if not isinstance(log, dict) or not isinstance(log.get("entries"), list):
        raise HarError(path, None, "not HAR: expected a JSON object with log.entries (a list), as HAR 1.2 has")
    return document


def import_har(document: dict[str, Any], *, dialect: str = "auto", keep_numbers: bool = False,
               path: str | Path = "<har>") -> HarImport:
    """The trace of a parsed HAR document. `dialect`: native, aliyun, tencent, or auto (per entry)."""
    if dialect not in DIALECT_CHOICES:
        raise ValueError(f"unknown dialect {dialect!r}; choose one of {', '.join(DIALECT_CHOICES)}")
    log = document["log"]
    entries = log["entries"]
    parsed: list[tuple[float, int, dict[str, Any]]] = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise HarError(path, index, f"expected an object, got {type(entry).__name__}")
        parsed.append((_started(entry, index, path), index, entry))
    parsed.sort(key=lambda item: (item[0], item[1]))
    exchanges: list[Exchange] = []
    skipped = failures = 0
    started_at: float | None = None
    for at, index, entry in parsed:
        wire = _wire_request(entry, index, path)
        entry_dialect = _dialect_of(wire, dialect)
        if entry_dialect is None:
            skipped += 1
            continue
        if started_at is None:
            started_at = at
        exchange = _exchange(entry, index, path, wire, entry_dialect, len(exchanges) + 1, at, started_at)
        failures += exchange.failure is not None
        exchanges.append(exchange)
    pseudonymised = not keep_numbers
    if pseudonymised:
        exchanges = pseudonymise(exchanges)
    header = Header(
        recorder=RECORDER,
        dialects=tuple(sorted({e.dialect for e in exchanges})) or ((dialect,) if dialect != "auto" else ()),
        started_at=started_at if started_at is not None else (parsed[0][0] if parsed else 0.0),
        pseudonymised=pseudonymised,
        meta={"source": "har", "creator": _creator(log), "skipped": skipped},
    )
    return HarImport(Trace(header, exchanges), entries=len(entries), skipped=skipped, failures=failures)


def import_har_file(path: str | Path, *, dialect: str = "auto", keep_numbers: bool = False) -> HarImport:
    return import_har(read_har(path), dialect=dialect, keep_numbers=keep_numbers, path=path)


def pseudonymise(exchanges: list[Exchange]) -> list[Exchange]:
    """Every A and B number, wherever it appears, replaced by its stand-in; X numbers kept."""
    pseudonyms = Pseudonyms(keep=_x_numbers(exchanges))
    for exchange in exchanges:
        for value in (exchange.params, exchange.request, exchange.response):
            _learn(pseudonyms, value)
    return [
        dataclasses.replace(
            exchange,
            params=pseudonyms.replace(exchange.params),
            request=pseudonyms.replace(exchange.request),
            response=pseudonyms.replace(exchange.response),
        )
        for exchange in exchanges
    ]


# ---- one entry -----------------------------------------------------------------


@dataclass(frozen=True)
class _Wire:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    content_type: str


def _wire_request(entry: dict[str, Any], index: int, path: str | Path) -> _Wire:
    request = _object(entry, "request", index, path)
    method = _string(request, "method", "request", index, path).upper()
    url = _string(request, "url", "request", index, path)
    parts = urlsplit(url)
    query = parts.query
    if not query and isinstance(request.get("queryString"), list):  # a tool that keeps the query apart
        query = urlencode(_pairs(request["queryString"], "request.queryString", index, path))
    headers = dict(_pairs(request.get("headers", []), "request.headers", index, path))
    body, content_type = b"", _header(headers, "content-type")
    post = request.get("postData")
    if post is not None:
        if not isinstance(post, dict):
            raise HarError(path, index, "request.postData must be an object")
        content_type = content_type or str(post.get("mimeType") or "")
        text = post.get("text")
        if isinstance(text, str):
            body = text.encode("utf-8")
        elif isinstance(post.get("params"), list):  # a form kept only as name/value pairs
            body = urlencode(_pairs(post["params"], "request.postData.params", index, path)).encode()
        elif text is not None:
            raise HarError(path, index, f"request.postData.text must be a string, got {type(text).__name__}")
        if content_type and not _header(headers, "content-type"):
            headers["Content-Type"] = content_type
    return _Wire(method, parts.path or "/", query, headers, body, content_type)


def _dialect_of(wire: _Wire, wanted: str) -> str | None:
    """The entry's dialect, or None when it is not a request to a provider of that dialect."""
    detected = detect_dialect(wire.method, wire.path, wire.headers, wire.query)
    if detected is None and wire.body and "json" not in wire.content_type:  # RPC / legacy sent as a POST form
        detected = detect_dialect(wire.method, wire.path, wire.headers, wire.body.decode("utf-8", "replace"))
    if wanted == "auto":
        candidate = detected
    elif detected in (None, wanted):
        candidate = wanted
    else:
        return None
    if candidate is None:
        return None
    meaning = meaning_of(candidate, wire.method, wire.path, wire.query, wire.headers, wire.body)
    if candidate == "native":
        known = wire.path.startswith(_NATIVE_PREFIX) and not meaning.action.startswith(f"{wire.method} ")
    else:
        known = bool(meaning.action)
    return candidate if known else None


def _exchange(entry: dict[str, Any], index: int, path: str | Path, wire: _Wire, dialect: str, seq: int,
              at: float, started_at: float) -> Exchange:
    response = entry.get("response")
    if response is not None and not isinstance(response, dict):
        raise HarError(path, index, f"response must be an object, got {type(response).__name__}")
    status = (response or {}).get("status")
    if response is not None and (not isinstance(status, int) or isinstance(status, bool)):
        raise HarError(path, index, f"response.status must be an integer, got {json.dumps(status)}")
    latency = _latency(entry, index, path)
    failed = response is None or status is None or status <= 0
    resp_headers: dict[str, str] = {}
    resp_body = b""
    if not failed:
        assert response is not None
        resp_headers = dict(_pairs(response.get("headers", []), "response.headers", index, path))
        resp_body, mime = _content(response, index, path)
        if mime and not _header(resp_headers, "content-type"):
            resp_headers["Content-Type"] = mime
    meaning = meaning_of(dialect, wire.method, wire.path, wire.query, wire.headers, wire.body)
    journal_entry = JournalEntry(
        seq=seq, at=at, dialect=dialect, operation=meaning.action,
        x=None, a=None, b=None, method=wire.method, path=wire.path,
        query=RawQuery(wire.query), request_headers=RawHeaders(wire.headers),
        request_body=RawBody(wire.body, wire.content_type),
        status=None if failed else status,
        response_headers=RawHeaders(resp_headers),
        response_body=RawBody(resp_body, _header(resp_headers, "content-type")),
        fault=None, fault_rules=[], latency=latency,
    )
    exchange = to_trace_exchange(journal_entry, started_at, seq=seq)
    failure = _failure(entry, response, latency) if failed else None
    return dataclasses.replace(exchange, failure=failure, applied=None, fault=None)


def _failure(entry: dict[str, Any], response: dict[str, Any] | None, latency: float) -> Failure:
    """timeout when the error text or the timings say the client gave up waiting, else reset."""
    texts = [str(source.get(name)) for source in (entry, response or {})
             for name in ("_error", "_failureText", "comment") if source.get(name)]
    detail = "; ".join(texts)
    timings = entry.get("timings") if isinstance(entry.get("timings"), dict) else {}
    waited = _ms(timings.get("wait"))
    received = _ms(timings.get("receive"))
    if any(_TIMEOUT_TEXT.search(text) for text in texts):
        kind = "timeout"
    elif not texts and waited is not None and waited > 0 and (received is None or received <= 0):
        kind = "timeout"  # sent, waited, nothing came back
        detail = f"waited {waited:g} ms, received nothing"
    else:
        kind = "reset"
    status = (response or {}).get("status") if response is not None else None
    prefix = "no response" if response is None else f"status {status}"
    return Failure(kind, after=latency if latency > 0 else None, detail=f"{prefix}: {detail}" if detail else prefix)


def _latency(entry: dict[str, Any], index: int, path: str | Path) -> float:
    time = entry.get("time")
    if time is None:
        return 0.0
    if not isinstance(time, (int, float)) or isinstance(time, bool):
        raise HarError(path, index, f"time must be milliseconds (a number), got {json.dumps(time)}")
    return max(0.0, float(time)) / 1000.0


def _content(response: dict[str, Any], index: int, path: str | Path) -> tuple[bytes, str]:
    content = response.get("content")
    if content is None:
        return b"", ""
    if not isinstance(content, dict):
        raise HarError(path, index, "response.content must be an object")
    mime = str(content.get("mimeType") or "")
    text = content.get("text")
    if text is None:
        return b"", mime
    if not isinstance(text, str):
        raise HarError(path, index, f"response.content.text must be a string, got {type(text).__name__}")
    if content.get("encoding") == "base64":
        try:
            return base64.b64decode(text, validate=True), mime
        except (binascii.Error, ValueError):
            raise HarError(path, index, "response.content.text says base64 but is not valid base64") from None
    return text.encode("utf-8"), mime


# ---- small readers --------------------------------------------------------------


def _started(entry: dict[str, Any], index: int, path: str | Path) -> float:
    raw = entry.get("startedDateTime")
    if not isinstance(raw, str):
        raise HarError(path, index, "startedDateTime (an ISO 8601 time) is missing")
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise HarError(path, index, f"startedDateTime {raw!r} is not an ISO 8601 time") from None


def _object(entry: dict[str, Any], name: str, index: int, path: str | Path) -> dict[str, Any]:
    value = entry.get(name)
    if not isinstance(value, dict):
        raise HarError(path, index, f"{name} must be an object, got {json.dumps(value)[:40]}")
    return value


def _string(source: dict[str, Any], name: str, parent: str, index: int, path: str | Path) -> str:
    value = source.get(name)
    if not isinstance(value, str) or not value:
        raise HarError(path, index, f"{parent}.{name} must be a non-empty string, got {json.dumps(value)[:40]}")
    return value


def _pairs(value: Any, where: str, index: int, path: str | Path) -> list[tuple[str, str]]:
    """HAR's `[{"name": ..., "value": ...}]` lists as pairs."""
    if not isinstance(value, list):
        raise HarError(path, index, f"{where} must be a list of name/value objects")
    pairs = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise HarError(path, index, f"{where}: each item needs a string name, got {json.dumps(item)[:40]}")
        pairs.append((item["name"], str(item.get("value", ""))))
    return pairs


def _header(headers: dict[str, str], name: str) -> str:
    return next((v for k, v in headers.items() if k.lower() == name), "")


def _ms(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0 else None


def _creator(log: dict[str, Any]) -> str:
    creator = log.get("creator")
    if isinstance(creator, dict):
        return " ".join(str(creator[k]) for k in ("name", "version") if creator.get(k)).strip()
    return ""


def _x_numbers(exchanges: list[Exchange]) -> set[str]:
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for name, item in value.items():
                if name in X_FIELDS and isinstance(item, str) and item:
                    found.add(national(item))
                else:
                    walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for exchange in exchanges:
        walk(exchange.params)
        walk(exchange.response)
        query = exchange.request.get("query")
        if isinstance(query, str):
            walk(dict(parse_qsl(query)))
    return found


def _learn(pseudonyms: Pseudonyms, value: Any) -> None:
    """Learn person numbers from parsed values and from query strings and form bodies inside them."""
    if isinstance(value, dict):
        for name, item in value.items():
            if name in ("query", "body") and isinstance(item, str) and "=" in item:
                for pair in parse_qsl(item, keep_blank_values=True):
                    pseudonyms.learn(pair)
        pseudonyms.learn(value)
