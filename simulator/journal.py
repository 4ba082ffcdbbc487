"""The journal: every exchange a dialect served, in a bounded ring buffer, with secrets scrubbed.

Recording is plain data; the journal middleware fills entries in, the admin
API pages through them, and the trace writer (`simulator.traces`) listens.
"""

from __future__ import annotations

import json
import re
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Mapping
from urllib.parse import parse_qsl, quote, urlencode

# Headers worth keeping in a trace; everything else is noise for replay.
KEPT_HEADERS = (
    "content-type",
    "idempotency-key",
    "x-acs-action",
    "x-acs-version",
    "x-acs-date",
    "x-acs-signature-nonce",
    "x-tc-action",
    "x-tc-version",
    "x-tc-timestamp",
    "x-tc-region",
    "authorization",
    "retry-after",
    "x-acs-retry-after",
)
# Field names (headers, query, form or JSON keys) whose values never reach the journal.
SECRET_NAME = re.compile(r"(authorization|signature|secret|password|token|credential)", re.IGNORECASE)
# Aliyun business fields named Secret* that hold no secret (X itself, the objects that carry a binding or a
# number): scrubbing them would lose the SubsId a replay answers with and the X of every unbind.
NOT_SECRET_NAMES = frozenset({"secretno", "secretbinddto", "secretbinddetaildto", "secretbuyinfodto",
                              "secretnoinfodto", "secretremaindto", "secretstatus"})
# Names whose values say which credential signed (AccessKeyId, x-acs-accesskey-id, SecretId): masked too,
# keeping a short hint (KEY_ID_HINT_CHARS leading characters) so a trace still tells two keys apart.
KEY_ID_NAME = re.compile(r"(access[-_]?key[-_]?id|secret[-_]?id)", re.IGNORECASE)
# The key id inside an Authorization header (ACS3 `Credential=<id>,`, TC3 `Credential=<id>/<date>/...`).
AUTHORIZATION_KEY_ID = re.compile(r"Credential=([^/,\s]+)")
SCRUBBED = "***"
KEY_ID_HINT_CHARS = 3
# Ids shorter than this keep no hint; shorter than MIN_ECHO_CHARS they are not searched for in replies
# (replacing a two-letter id everywhere would garble the body without hiding anything).
MIN_HINT_ID_CHARS = 8
MIN_ECHO_CHARS = 4
MAX_BODY_CHARS = 8192


@dataclass
class Exchange:
    seq: int
    at: float  # provider clock (epoch seconds)
    dialect: str
    operation: str
    x: str | None
    a: str | None
    b: str | None
    method: str
    path: str
    query: Any  # str, or RawQuery until read
    request_headers: Any  # dict[str, str], or RawHeaders until read
    request_body: Any
    status: int | None  # None: no response (reset, empty reply, hang)
    response_headers: Any
    response_body: Any
    fault: str | None
    fault_rules: list[str]
    latency: float  # loop seconds from arrival to the end of the exchange
    direction: str = "inbound"
    # What the handler answered when the client saw something else (ghost success, cut or mangled body):
    # {"status", "headers", "body"}, scrubbed like the rest when read.
    provider_response: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        key_ids: set[str] = set()
        for name, value in out.items():
            if isinstance(value, Unscrubbed):
                if name.startswith("request_") or name == "query":
                    key_ids |= value.key_ids()
                out[name] = value.scrubbed()
        if self.provider_response is not None:
            out["provider_response"] = {k: v.scrubbed() if isinstance(v, Unscrubbed) else v
                                        for k, v in self.provider_response.items()}
        if key_ids:  # a reply may echo the key id ("access key 'x' is not found"): mask it there too
            out = _mask_echoes(out, key_ids)
        return out


class Unscrubbed:
    """A value kept as received and scrubbed only when the entry is read: the hot path stays cheap,
    and nothing leaves the journal (admin API, trace) without scrubbing."""

    __slots__ = ()

    def scrubbed(self) -> Any:
        raise NotImplementedError

    def key_ids(self) -> set[str]:
        """The credential ids (AccessKeyId, SecretId) this value carries, to mask wherever they are echoed."""
        return set()

    def __deepcopy__(self, memo: dict) -> "Unscrubbed":
        return self  # immutable


class RawBody(Unscrubbed):
    __slots__ = ("raw", "content_type")

    def __init__(self, raw: bytes, content_type: str) -> None:
        self.raw = raw
        self.content_type = content_type

    def scrubbed(self) -> Any:
        return scrub_body(self.raw, self.content_type)

    def key_ids(self) -> set[str]:
        if "x-www-form-urlencoded" in self.content_type:
            return _query_key_ids(self.raw[:MAX_BODY_CHARS].decode("utf-8", errors="replace"))
        if "json" in self.content_type:
            try:
                return _json_key_ids(json.loads(self.raw))
            except (ValueError, RecursionError):
                return set()
        return set()


class RawHeaders(Unscrubbed):
    __slots__ = ("headers",)

    def __init__(self, headers: Mapping[str, str]) -> None:
        self.headers = headers  # aiohttp's read-only header view

    def scrubbed(self) -> dict[str, str]:
        return scrub_headers(self.headers)

    def key_ids(self) -> set[str]:
        found = set()
        for name, value in self.headers.items():
            if KEY_ID_NAME.search(name):
                found.add(value)
            elif name.lower() == "authorization":
                found.update(AUTHORIZATION_KEY_ID.findall(value))
        return found


class RawQuery(Unscrubbed):
    __slots__ = ("query",)

    def __init__(self, query: str) -> None:
        self.query = query

    def scrubbed(self) -> str:
        return scrub_query(self.query)

    def key_ids(self) -> set[str]:
        return _query_key_ids(self.query)


class Journal:
    """A ring buffer of exchanges; listeners (the trace writer) see each entry as it is recorded."""

    def __init__(self, capacity: int = 10_000) -> None:
        self._entries: deque[Exchange] = deque(maxlen=capacity)
        self._next_seq = 1
        self._listeners: list[Callable[[Exchange], None]] = []

    def subscribe(self, listener: Callable[[Exchange], None]) -> None:
        self._listeners.append(listener)

    def next_seq(self) -> int:
        seq = self._next_seq
        self._next_seq += 1
        return seq

    def record(self, entry: Exchange) -> None:
        self._entries.append(entry)
        for listener in self._listeners:
            listener(entry)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def entries(self) -> list[Exchange]:
        return list(self._entries)

    def query(
        self,
        *,
        dialect: str | None = None,
        operation: str | None = None,
        x: str | None = None,
        fault: str | None = None,
        after: int = 0,
        limit: int = 100,
    ) -> tuple[list[Exchange], int | None]:
        """Entries with seq > `after` that pass the filters, oldest first, and the cursor of the next page.

        `fault`: "any" (some fault), "none" (no fault), or a kind such as "reset" / "status:503".
        """
        page: list[Exchange] = []
        for entry in self._entries:
            if entry.seq <= after:
                continue
            if dialect is not None and entry.dialect != dialect:
                continue
            if operation is not None and entry.operation != operation:
                continue
            if x is not None and entry.x != x:
                continue
            if fault is not None and not _fault_matches(entry.fault, fault):
                continue
            if len(page) == limit:
                return page, page[-1].seq
            page.append(entry)
        return page, None


def _fault_matches(applied: str | None, wanted: str) -> bool:
    if wanted == "any":
        return applied is not None
    if wanted == "none":
        return applied is None
    if applied is None:
        return False
    return any(part == wanted or part.split(":")[0] == wanted for part in applied.split("+"))


# ---- scrubbing -------------------------------------------------------------


def key_id_hint(key_id: str) -> str:
    """`pstnsim-ak` -> `pst***`: enough to tell keys apart in a trace, not enough to use one."""
    if len(key_id) < MIN_HINT_ID_CHARS:
        return SCRUBBED
    return key_id[:KEY_ID_HINT_CHARS] + SCRUBBED


def scrub_value(name: str, value: Any) -> Any:
    """The value a field named `name` may show in the journal."""
    if KEY_ID_NAME.search(name):
        return key_id_hint(value) if isinstance(value, str) else SCRUBBED
    if SECRET_NAME.search(name) and name.lower() not in NOT_SECRET_NAMES:
        return SCRUBBED
    return value


def scrub_headers(headers: Mapping[str, str]) -> dict[str, str]:
    kept = {}
    for name, value in headers.items():
        lower = name.lower()
        if lower in KEPT_HEADERS:
            kept[lower] = scrub_value(lower, value)
    return kept


def scrub_query(query: str) -> str:
    if not query:
        return ""
    pairs = parse_qsl(query, keep_blank_values=True)
    return urlencode([(k, scrub_value(k, v)) for k, v in pairs], safe="*")  # `***` stays readable


def scrub_body(raw: bytes, content_type: str) -> Any:
    """JSON bodies as data, forms as scrubbed text, anything else as (cut) text; secrets replaced."""
    if not raw:
        return None
    text = raw[:MAX_BODY_CHARS].decode("utf-8", errors="replace")
    if "json" in content_type:
        try:
            return _scrub_json(json.loads(raw))
        except (ValueError, RecursionError):  # RecursionError: absurdly nested JSON, e.g. 30,000 `[`
            return text
    if "x-www-form-urlencoded" in content_type:
        return scrub_query(text)
    return text


def _scrub_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _scrub_json_field(str(k), v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub_json(v) for v in value]
    return value


def _scrub_json_field(name: str, value: Any) -> Any:
    if KEY_ID_NAME.search(name) or (SECRET_NAME.search(name) and name.lower() not in NOT_SECRET_NAMES):
        return scrub_value(name, value)
    return _scrub_json(value)


def _query_key_ids(query: str) -> set[str]:
    return {v for k, v in parse_qsl(query, keep_blank_values=True) if v and KEY_ID_NAME.search(k)}


def _json_key_ids(value: Any) -> set[str]:
    if isinstance(value, dict):
        found = set()
        for k, v in value.items():
            if isinstance(v, str) and v and KEY_ID_NAME.search(str(k)):
                found.add(v)
            else:
                found |= _json_key_ids(v)
        return found
    if isinstance(value, list):
        return set().union(*map(_json_key_ids, value)) if value else set()
    return set()


def _mask_echoes(value: Any, key_ids: set[str]) -> Any:
    """Every string in `value` with the key ids (as sent, and percent-encoded as a string to sign
    carries them) replaced by their hints."""
    forms: dict[str, str] = {}
    for key_id in key_ids:
        if len(key_id) >= MIN_ECHO_CHARS:
            once = quote(key_id, safe="~")
            for form in (key_id, once, quote(once, safe="~")):
                forms[form] = key_id_hint(key_id)
    if not forms:
        return value
    pattern = re.compile("|".join(re.escape(form) for form in sorted(forms, key=len, reverse=True)))
    return _replace_strings(value, lambda text: pattern.sub(lambda m: forms[m.group(0)], text))


def _replace_strings(value: Any, replace: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return replace(value)
    if isinstance(value, dict):
        return {k: _replace_strings(v, replace) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_strings(v, replace) for v in value]
    return value
