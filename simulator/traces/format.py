"""The trace file format, version 1: JSON Lines, a header line, then one line per provider exchange or
business operation, each at the level of meaning (dialect, action, normalised parameters) beside the
request and answer as they were on the wire, secrets removed.

Pure data and file I/O; no HTTP. Readers name the file and line of anything they refuse, so a truncated
or hand-edited trace fails with a message a person can act on.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, Iterable, Iterator

FORMAT = "pstnsim-trace"
VERSION = 1
DIALECTS = ("native", "aliyun", "tencent", "volcengine")
# What a client can see instead of an answer. "timeout": the client gave up after `after` seconds;
# "reset": the connection was reset; "empty_reply": closed without a byte; "truncated_body": a status and
# part of the body, then the connection closed; "malformed_body": a complete answer whose body does not parse.
FAILURE_KINDS = ("timeout", "reset", "empty_reply", "truncated_body", "malformed_body")
BUSINESS_OPS = ("bind", "unbind")
MODES = ("XB", "AXB")


class TraceError(Exception):
    """A trace that cannot be read: names the file and, where it applies, the line."""

    def __init__(self, path: str | Path, line: int | None, message: str) -> None:
        self.path, self.line, self.message = str(path), line, message
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class Header:
    recorder: str  # who wrote it: "pstnsim provider", "pstnsim record", "pstnsim trace import", "pstnsim chaos"
    dialects: tuple[str, ...]
    started_at: float  # epoch seconds of offset 0
    pseudonymised: bool  # A and B numbers replaced by stand-ins (the same one each time)
    version: int = VERSION
    # Free-form facts about the recording (upstream URL without credentials, seed, scenario); never a secret.
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "header", "format": FORMAT, "version": self.version, "recorder": self.recorder,
            "dialects": list(self.dialects), "started_at": _iso(self.started_at), "started_epoch": self.started_at,
            "pseudonymised": self.pseudonymised, "meta": self.meta,
        }


@dataclass(frozen=True)
class Failure:
    """What the client got instead of a complete answer."""

    kind: str  # one of FAILURE_KINDS
    after: float | None = None  # seconds from sending to the failure (a timeout: how long the client waited)
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "after": self.after, "detail": self.detail}


@dataclass(frozen=True)
class Exchange:
    """One request to the provider and what came back.

    `params` are the request's normalised business parameters (numbers in national form, common names
    x / a / b / binding_id / pool_key / expiration, envelope and signing fields left out): what replay
    matches on. `request` and `response` keep the wire form for people and for `trace check`.
    `applied` says whether the change reached the provider's state when the recorder knows it (pstnsim
    recording itself knows a ghost success was applied; a proxy in front of a real provider does not).
    """

    seq: int
    offset: float  # seconds from the header's started_at to the request's arrival
    dialect: str
    action: str
    params: dict[str, Any]
    request: dict[str, Any]  # method, path, query, headers (those that matter, secrets removed), body
    response: dict[str, Any] | None  # status, headers, body as the client saw them; None when it saw none
    failure: Failure | None
    latency: float  # seconds from the request's arrival to its answer (or failure)
    fault: str | None = None  # the fault pstnsim injected, when pstnsim served it
    applied: bool | None = None
    # What the provider's own handler answered when the client saw something else (a ghost success's
    # hidden 200, a truncated body's full one): lets a replay know the binding a lost answer made.
    provider_response: dict[str, Any] | None = None

    @property
    def status(self) -> int | None:
        return None if self.response is None else self.response.get("status")

    def to_dict(self) -> dict[str, Any]:
        out = {
            "type": "exchange", "seq": self.seq, "offset": round(self.offset, 6), "dialect": self.dialect,
            "action": self.action, "params": self.params, "request": self.request, "response": self.response,
            "failure": None if self.failure is None else self.failure.to_dict(), "latency": round(self.latency, 6),
            "fault": self.fault, "applied": self.applied,
        }
        if self.provider_response is not None:
            out["provider_response"] = self.provider_response
        return out


@dataclass(frozen=True)
class BusinessOperation:
    """An operation the service under test was asked to do (bind or unbind a mode of X), when known."""

    seq: int
    offset: float
    op: str  # bind | unbind
    mode: str  # XB | AXB
    x: str
    a: str | None = None
    b: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"type": "business", **asdict(self), "offset": round(self.offset, 6)}


@dataclass
class Trace:
    header: Header
    exchanges: list[Exchange] = field(default_factory=list)
    business: list[BusinessOperation] = field(default_factory=list)
    path: Path | None = None


# ---- reading -----------------------------------------------------------------


def read_trace(path: str | Path) -> Trace:
    """The whole trace; TraceError (file and line) for anything that is not a version-1 trace."""
    path = Path(path)
    try:
        stream = path.open(encoding="utf-8")
    except OSError as exc:
        raise TraceError(path, None, f"cannot open: {exc.strerror or exc}") from None
    with stream:
        return parse_lines(stream, path)


def parse_lines(lines: Iterable[str], path: str | Path = "<trace>") -> Trace:
    header: Header | None = None
    trace: Trace | None = None
    number = 0
    try:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            record = _json_line(line, path, number)
            if header is None:
                header = _header(record, path, number)
                trace = Trace(header, path=Path(path))
                continue
            assert trace is not None
            kind = record.get("type")
            if kind == "exchange":
                trace.exchanges.append(_exchange(record, path, number))
            elif kind == "business":
                trace.business.append(_business(record, path, number))
            elif kind == "header":
                raise TraceError(path, number, "a second header line (two traces concatenated?)")
            else:
                raise TraceError(path, number, f"unknown line type {kind!r} (expected exchange or business)")
    except UnicodeDecodeError as exc:
        raise TraceError(path, number + 1, f"not UTF-8 text: {exc.reason}") from None
    if header is None or trace is None:
        raise TraceError(path, None, "empty file: a trace starts with a header line")
    return trace


def _json_line(line: str, path: str | Path, number: int) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except ValueError as exc:
        hint = " (the file looks truncated)" if not line.endswith("\n") else ""
        raise TraceError(path, number, f"not valid JSON{hint}: {exc}") from None
    except RecursionError:
        raise TraceError(path, number, "JSON nested too deeply") from None
    if not isinstance(record, dict):
        raise TraceError(path, number, f"expected a JSON object, got {type(record).__name__}")
    return record


def _header(record: dict[str, Any], path: str | Path, number: int) -> Header:
    if record.get("format") != FORMAT or record.get("type") != "header":
        raise TraceError(path, number, f"not a pstnsim trace: the first line must be a header with "
                                       f"\"format\": \"{FORMAT}\" (got {_short(record)})")
    version = record.get("version")
    if version != VERSION:
        raise TraceError(path, number, f"unknown trace format version {version!r}: this pstnsim reads version {VERSION}")
    dialects = record.get("dialects", [])
    if not isinstance(dialects, list) or not all(isinstance(d, str) and d for d in dialects):
        raise TraceError(path, number, f"header: dialects must be a list of names ({', '.join(DIALECTS)}), "
                                       f"got {_short(dialects)}")
    started = record.get("started_epoch")
    if not isinstance(started, (int, float)):
        raise TraceError(path, number, "header: started_epoch (epoch seconds) is missing")
    meta = record.get("meta") or {}
    if not isinstance(meta, dict):
        raise TraceError(path, number, "header: meta must be an object")
    return Header(recorder=str(record.get("recorder", "")), dialects=tuple(dialects), started_at=float(started),
                  pseudonymised=bool(record.get("pseudonymised", False)), version=VERSION, meta=meta)


def _exchange(record: dict[str, Any], path: str | Path, number: int) -> Exchange:
    def need(name: str, kinds: type | tuple[type, ...]) -> Any:
        value = record.get(name)
        if not isinstance(value, kinds) or isinstance(value, bool) and bool not in _as_tuple(kinds):
            raise TraceError(path, number, f"exchange: {name!r} must be {_kind_names(kinds)}, got {_short(value)}")
        return value

    seq = need("seq", int)
    offset = float(need("offset", (int, float)))
    dialect = need("dialect", str)  # checked against DIALECTS by whoever serves it: a trace may hold others
    action = need("action", str)
    params = need("params", dict)
    request = need("request", dict)
    response = record.get("response")
    if response is not None:
        if not isinstance(response, dict) or not isinstance(response.get("status"), int):
            raise TraceError(path, number, "exchange: response must be an object with an integer status, or null")
    failure = _failure(record.get("failure"), path, number)
    if response is None and failure is None:
        raise TraceError(path, number, "exchange: neither a response nor a failure")
    latency = float(need("latency", (int, float)))
    applied = record.get("applied")
    if applied is not None and not isinstance(applied, bool):
        raise TraceError(path, number, f"exchange: applied must be true, false or null, got {_short(applied)}")
    provider_response = record.get("provider_response")
    if provider_response is not None and not isinstance(provider_response, dict):
        raise TraceError(path, number, "exchange: provider_response must be an object")
    fault = record.get("fault")
    return Exchange(seq, offset, dialect, action, params, request, response, failure, latency,
                    fault if isinstance(fault, str) else None, applied, provider_response)


def _failure(value: Any, path: str | Path, number: int) -> Failure | None:
    if value is None:
        return None
    if not isinstance(value, dict) or value.get("kind") not in FAILURE_KINDS:
        raise TraceError(path, number, f"exchange: failure.kind must be one of {', '.join(FAILURE_KINDS)}, "
                                       f"got {_short(value)}")
    after = value.get("after")
    if after is not None and not isinstance(after, (int, float)):
        raise TraceError(path, number, "exchange: failure.after must be seconds or null")
    return Failure(value["kind"], None if after is None else float(after), str(value.get("detail", "")))


def _business(record: dict[str, Any], path: str | Path, number: int) -> BusinessOperation:
    op, mode, x = record.get("op"), record.get("mode"), record.get("x")
    if op not in BUSINESS_OPS:
        raise TraceError(path, number, f"business: op must be bind or unbind, got {_short(op)}")
    if mode not in MODES:
        raise TraceError(path, number, f"business: mode must be XB or AXB, got {_short(mode)}")
    if not isinstance(x, str) or not x:
        raise TraceError(path, number, "business: x (the virtual number) is missing")
    offset = record.get("offset")
    if not isinstance(offset, (int, float)):
        raise TraceError(path, number, "business: offset (seconds) is missing")
    a, b = record.get("a"), record.get("b")
    if op == "bind" and not b:
        raise TraceError(path, number, "business: a bind needs b")
    if op == "bind" and mode == "AXB" and not a:
        raise TraceError(path, number, "business: an AXB bind needs a")
    seq = record.get("seq")
    return BusinessOperation(seq if isinstance(seq, int) else number, float(offset), op, mode, x,
                             a if isinstance(a, str) else None, b if isinstance(b, str) else None)


# ---- writing -------------------------------------------------------------------


class TraceWriter:
    """Writes the header at once, then each line as it comes, flushed: a killed recorder keeps its trace."""

    def __init__(self, path: str | Path, header: Header) -> None:
        self.path = Path(path)
        self._file: IO[str] | None = self.path.open("w", encoding="utf-8")
        self._write(header.to_dict())

    def write(self, line: Exchange | BusinessOperation) -> None:
        self._write(line.to_dict())

    def _write(self, record: dict[str, Any]) -> None:
        if self._file is None:
            return
        self._file.write(json.dumps(record, ensure_ascii=False, sort_keys=True, default=str) + "\n")
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> "TraceWriter":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def write_trace(path: str | Path, trace: Trace) -> Path:
    """Header, business lines and exchanges, in offset order."""
    lines: list[Exchange | BusinessOperation] = [*trace.business, *trace.exchanges]
    lines.sort(key=lambda line: (line.offset, 0 if isinstance(line, BusinessOperation) else 1, line.seq))
    with TraceWriter(path, trace.header) as writer:
        for line in lines:
            writer.write(line)
    return Path(path)


def iter_lines(trace: Trace) -> Iterator[Exchange | BusinessOperation]:
    yield from sorted([*trace.business, *trace.exchanges], key=lambda line: (line.offset, line.seq))


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _as_tuple(kinds: type | tuple[type, ...]) -> tuple[type, ...]:
    return kinds if isinstance(kinds, tuple) else (kinds,)


def _kind_names(kinds: type | tuple[type, ...]) -> str:
    names = {int: "an integer", float: "a number", str: "a string", dict: "an object", list: "a list"}
    return " or ".join(names.get(k, k.__name__) for k in _as_tuple(kinds))
