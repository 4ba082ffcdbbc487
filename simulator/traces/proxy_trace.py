"""What `pstnsim record` writes for one forwarded exchange: the client's request at the level of meaning and
on the wire, secrets removed, and what came back (or the failure the client saw), numbers pseudonymised.

Pure (no HTTP, no clock): the proxy hands over a `Forwarded` and gets back the trace line. Secrets are
removed in three passes: the journal's scrubbing (signatures, secrets, key ids as a short hint, only the
headers that matter); the caller's key ids echoed anywhere shown as their hint, as the journal shows them;
and every string the proxy was told is secret (the upstream's key id and secret, the local secrets)
replaced by `***` wherever it appears, in any encoding a query string or string to sign gives it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping
from urllib.parse import quote

from ..journal import (
    SCRUBBED, RawBody, RawHeaders, RawQuery, _mask_echoes, _replace_strings, scrub_body, scrub_headers, scrub_query,
)
from .format import Exchange, Failure, Header, TraceWriter
from .meaning import meaning_of, national
from .pseudonyms import Pseudonyms

RECORDER = "pstnsim record"
# Fields that carry an X (the provider's number, kept) in requests and answers of every dialect.
X_FIELDS = frozenset({"x", "shown_caller", "SecretNo", "PhoneNoX", "TelX", "Telephone", "VirtualNum",
                      "AssignVirtualNum"})
# Request parameters (after meaning's renames) holding more people's numbers than A and B.
EXTRA_PERSON_PARAMS = ("AccreditList",)
MIN_SECRET_CHARS = 4  # shorter "secrets" would garble every body they happen to occur in


@dataclass(frozen=True)
class Forwarded:
    """One exchange as the proxy saw it: the client's request, raw, and the answer or the failure."""

    seq: int
    at: float  # epoch seconds the request arrived
    method: str
    path: str
    query: str  # raw, percent-encoded, as the client sent it
    headers: Mapping[str, str]
    body: bytes
    status: int | None = None
    response_headers: Mapping[str, str] | None = None
    response_body: bytes | None = None
    failure: Failure | None = None
    latency: float = 0.0
    # Who answered when it was not the upstream ("proxy": a refused signature); None: the upstream.
    answered_by: str | None = None


class ProxyTrace:
    """The trace file of one recording: the header at once, then `record(forwarded)` for each exchange."""

    def __init__(self, path: Any, *, dialect: str, started_at: float, pseudonymise: bool,
                 hidden: Iterable[str] = (), meta: Mapping[str, Any] | None = None) -> None:
        self.dialect = dialect
        self.started_at = started_at
        self.pseudonyms: Pseudonyms | None = Pseudonyms() if pseudonymise else None
        self._hidden = _encoded_forms(hidden)
        self.count = 0
        self._writer = TraceWriter(path, Header(recorder=RECORDER, dialects=(dialect,), started_at=started_at,
                                                pseudonymised=pseudonymise, meta=dict(meta or {})))

    def record(self, forwarded: Forwarded) -> Exchange:
        line = to_trace_exchange(forwarded, self.dialect, self.started_at, self.pseudonyms, self._hidden)
        self._writer.write(line)
        self.count += 1
        return line

    def close(self) -> None:
        self._writer.close()


def to_trace_exchange(forwarded: Forwarded, dialect: str, started_at: float, pseudonyms: Pseudonyms | None,
                      hidden: Mapping[str, str]) -> Exchange:
    """The trace line of one exchange; `pseudonyms` (None: numbers kept) learns this exchange's numbers."""
    f = forwarded
    meaning = meaning_of(dialect, f.method, f.path, f.query, f.headers, f.body)
    request_ct = _header(f.headers, "content-type")
    request = {"method": f.method, "path": f.path, "query": scrub_query(f.query), "headers": scrub_headers(f.headers),
               "body": scrub_body(f.body, request_ct)}
    response = None
    if f.status is not None:
        response = {"status": f.status, "headers": scrub_headers(f.response_headers or {}),
                    "body": scrub_body(f.response_body or b"", _header(f.response_headers or {}, "content-type"))}
        if f.answered_by:
            response["answered_by"] = f.answered_by
    params = meaning.params
    key_ids = (RawHeaders(f.headers).key_ids() | RawQuery(f.query).key_ids()
               | RawBody(f.body, request_ct).key_ids())
    parts: dict[str, Any] = {"params": params, "request": request, "response": response,
                             "failure": None if f.failure is None else f.failure.to_dict()}
    parts = _mask_echoes(parts, key_ids)  # the caller's key id, echoed in an error, shown as its hint
    parts = mask_hidden(parts, hidden)
    if pseudonyms is not None:
        learn_numbers(pseudonyms, params, _parsed(f.response_body))
        parts = pseudonyms.replace(parts)
    failure = None if parts["failure"] is None else Failure(**parts["failure"])
    return Exchange(seq=f.seq, offset=max(0.0, f.at - started_at), dialect=dialect, action=meaning.action,
                    params=parts["params"], request=parts["request"], response=parts["response"], failure=failure,
                    latency=f.latency, fault=None, applied=None)


def learn_numbers(pseudonyms: Pseudonyms, params: Mapping[str, Any], answer: Any) -> None:
    """X numbers first (kept as they are), then the people's numbers of the request and the answer."""
    for x in _x_numbers(params) + _x_numbers(answer):
        pseudonyms.keep.add(x)
    pseudonyms.learn(dict(params))
    for name in EXTRA_PERSON_PARAMS:
        listed = params.get(name)
        for number in listed if isinstance(listed, list) else []:
            if isinstance(number, str) and national(number).isdigit():
                pseudonyms.stand_in(number)
    pseudonyms.learn(answer)


def mask_hidden(value: Any, hidden: Mapping[str, str]) -> Any:
    """Every string in `value` with each hidden form replaced by its mask."""
    if not hidden:
        return value
    pattern = re.compile("|".join(re.escape(form) for form in sorted(hidden, key=len, reverse=True)))
    return _replace_strings(value, lambda text: pattern.sub(lambda m: hidden[m.group(0)], text))


def _encoded_forms(secrets: Iterable[str]) -> dict[str, str]:
    """Each secret as sent, and percent-encoded once and twice (a query string, a string to sign)."""
    forms: dict[str, str] = {}
    for secret in secrets:
        if secret and len(secret) >= MIN_SECRET_CHARS:
            once = quote(secret, safe="~")
            for form in (secret, once, quote(once, safe="~"), quote(secret, safe="")):
                forms[form] = SCRUBBED
    return forms


def _x_numbers(value: Any) -> list[str]:
    found: list[str] = []
    if isinstance(value, dict):
        for name, item in value.items():
            if name in X_FIELDS and isinstance(item, str) and national(item).isdigit():
                found.append(national(item))
            else:
                found.extend(_x_numbers(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(_x_numbers(item))
    return found


def _parsed(body: bytes | None) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


def _header(headers: Mapping[str, str], name: str) -> str:
    return next((str(v) for k, v in headers.items() if k.lower() == name), "")


