"""Small phrases the report builds its sentences from: times, fault rules, fault labels, operations.

Pure functions over the plain data of summary.json and the telemetry (scenarios/example_log.py).
"""

from __future__ import annotations

from typing import Any, Sequence

from simulator.traces.recording import fault_parts


def seconds(value: float) -> str:
    """A duration: `0.27 s`, `12.5 s`, `245 s`."""
    value = float(value)
    if abs(value) < 10:
        return f"{value:.2f} s"
    if abs(value) < 1000:
        return f"{value:.1f} s"
    return f"{value:.0f} s"


def at(t: float | None) -> str:
    """A moment of the example, in the timeline's frame: `t=0.52 s`."""
    return "t=?" if t is None else "t=" + seconds(t)


def number_at(numbers: Sequence[str], index: Any) -> str:
    """An index the machine drew (into its numbers or parties) as the number it stood for, when known."""
    if isinstance(index, int) and 0 <= index < len(numbers):
        return str(numbers[index])
    return f"#{index}" if isinstance(index, int) else str(index)


def binding_words(mode: str | None, x: str | None, a: str | None = None, b: str | None = None) -> str:
    """`AXB on X=… A=… B=…`"""
    parts = ([mode] if mode else []) + [f"on X={x}"]
    if a:
        parts.append(f"A={a}")
    if b:
        parts.append(f"B={b}")
    return " ".join(parts)


def _operations(match: dict[str, Any]) -> str:
    operation = match.get("operation")
    if not operation:
        return "every request"
    names = operation if isinstance(operation, list) else [operation]
    listed = ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else names[0]
    return f"{listed} requests"


def _when(when: dict[str, Any] | None) -> str:
    when = when or {}
    parts = []
    if "probability" in when:
        parts.append(f"with probability {float(when['probability']):.0%}")
    if "first" in when:
        parts.append(f"the first {when['first']} time(s)")
    if "every" in when:
        parts.append(f"every {when['every']}th time")
    if "nth" in when:
        parts.append(f"only the {when['nth']}th time")
    if "window" in when:
        window = when["window"] or {}
        parts.append(f"between {window.get('start', 0)} s and {window.get('end', '∞')} s of the provider's clock")
    return ", ".join(parts) or "every time, until removed"


def _action(action: dict[str, Any]) -> str:
    kind = action.get("kind")
    if kind == "latency":
        distribution = action.get("distribution", "fixed")
        if distribution == "uniform":
            return f"are held {action.get('min', 0)}-{action.get('max', 0)} s (uniform)"
        if distribution == "lognormal":
            return (f"are held about {action.get('median')} s with a heavy tail "
                    f"(log-normal, sigma {action.get('sigma')})")
        return f"are held {action.get('seconds')} s"
    if kind == "status":
        retry = f" with Retry-After {action['retry_after']} s" if action.get("retry_after") is not None else ""
        return f"answer HTTP {action.get('status')}{retry} without being applied"
    if kind == "timeout":
        return "get no answer (the caller times out), not applied"
    if kind in ("reset", "empty_reply", "truncated_body", "malformed_body", "wrong_shape_body"):
        return {"reset": "have their connection reset", "empty_reply": "get an empty reply",
                "truncated_body": "get a truncated body", "malformed_body": "get a malformed body",
                "wrong_shape_body": "get a body of the wrong shape (JSON in an array)"}[kind]
    if kind == "ghost_success":
        then = action.get("then", "status")
        told = {"status": f"HTTP {action.get('status', 503)}", "reset": "a reset connection",
                "timeout": "nothing (it times out)"}.get(then, str(then))
        return f"are applied, but the caller gets {told} (a ghost success)"
    if kind == "delayed_visibility":
        return f"are applied, but lookups see the change only {action.get('seconds')} s later"
    if kind == "drop":
        return "pushes are dropped"
    if kind == "duplicate":
        return "pushes are sent twice"
    if kind == "delay":
        return f"pushes are delayed {action.get('seconds')} s"
    if kind == "reorder":
        return "pushes are reordered"
    return f"get {kind}"


def fault_rule_words(rule: dict[str, Any], numbers: Sequence[str] = ()) -> str:
    """`create_binding requests on X=… answer HTTP 429 with Retry-After 0.5 s …, every time, until removed`."""
    match = dict(rule.get("match") or {})
    action = dict(rule.get("action") or {})
    subject = _operations(match)
    if "x" in match:
        subject += f" on X={number_at(numbers, match['x'])}"
    if action.get("kind") in ("drop", "duplicate", "delay", "reorder"):
        return f"{_action(action)}, {_when(rule.get('when'))}"
    return f"{subject} {_action(action)}, {_when(rule.get('when'))}"


def fault_label_words(label: str | None, took: float = 0.0) -> str:
    """What a journal fault label did to one call, e.g. `latency+status:429` after 0.27 s ->
    `held 0.27 s, then answered HTTP 429 (injected, not applied)`."""
    if not label:
        return ""
    if label == "UNRECORDED":
        return "not in the recording"
    if label.startswith("replay:"):
        head, _, rest = label.partition("+")
        seq = head.split("=", 1)[-1]
        saw = fault_label_words(rest, took) if rest else ""
        return f"replayed as recorded (#{seq})" + (f": {saw}" if saw else "")
    parts = fault_parts(label)
    out = []
    i = 0
    while i < len(parts):
        part = parts[i]
        value = parts[i + 1] if i + 1 < len(parts) and not parts[i + 1].isalpha() else None
        if part == "latency":
            out.append(f"held {seconds(took)} (injected latency)")
        elif part == "status":
            out.append(f"answered HTTP {value} (injected, not applied)")
            i += 1
        elif part == "timeout":
            out.append("never answered (injected timeout, not applied)")
        elif part == "deadline":
            out.append("held past the provider's deadline: HTTP 504, not applied")
        elif part in ("reset", "empty_reply"):
            out.append("connection cut (injected " + part.replace("_", " ") + ", not applied)")
        elif part in ("truncated_body", "malformed_body", "wrong_shape_body"):
            out.append(f"applied, but the answer was garbled (injected {part.replace('_', ' ')})")
        elif part == "ghost_success":
            then = parts[i + 1] if i + 1 < len(parts) else "status"
            told = {"reset": "a reset connection", "timeout": "no answer"}.get(then, f"HTTP {then}")
            out.append(f"APPLIED, but the core was told {told} (ghost success)")
            i += 1
        elif part == "delayed_visibility":
            out.append("applied, invisible to lookups for a while (injected delayed visibility)")
        else:
            out.append(part)
        i += 1
    return "; ".join(out)


def operation_words(op: dict[str, Any]) -> str:
    """A harness operation as asked: `bind AXB on X=… A=… B=…`, `unbind XB on X=…`."""
    if op.get("kind") == "bind":
        return "bind " + binding_words(op.get("mode"), op.get("x"), op.get("a"), op.get("b"))
    return f"{op.get('kind')} {binding_words(op.get('mode'), op.get('x'))}"


def register_words(value: Sequence[str] | None) -> str:
    """A value the harness read: `BIND B=…`, `BIND A=… B=…`, `NOT_BIND`."""
    if not value:
        return "?"
    status, *numbers = value
    if status != "BIND":
        return str(status)
    if len(numbers) == 2:
        return f"BIND A={numbers[0]} B={numbers[1]}"
    return f"BIND B={numbers[0] if numbers else '?'}"


OUTCOME_WORDS = {"ok": "took effect", "fail": "had no effect", "info": "effect unknown to the client"}
