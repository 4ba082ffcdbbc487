"""A cluster run's own facts (`pstnsim chaos cluster`): replicas, backends, the nemesis's actions and when they
happened, requests per replica. They ride in the scenario's telemetry under "cluster"; each writer shows them."""

from __future__ import annotations

from html import escape
from typing import Any


def cluster_facts(telemetry: dict[str, Any] | None) -> dict[str, Any] | None:
    facts = (telemetry or {}).get("cluster")
    return facts if isinstance(facts, dict) else None


def nemesis_line(record: dict[str, Any]) -> str:
    """One action as a sentence: "at 4.04 s kill replica 0 (down_for 1.5): done"."""
    at = record.get("at")
    when = f"at {at:.2f} s" if isinstance(at, (int, float)) else "not started"
    target = f" replica {record['replica']}" if record.get("replica") is not None else ""
    details = record.get("details") or {}
    told = ", ".join(f"{k} {_short(v)}" for k, v in details.items()) if isinstance(details, dict) else str(details)
    return f"{when} {record.get('action')}{target}" + (f" ({told})" if told else "") + f": {record.get('outcome')}"


def _short(value: Any) -> str:
    """A detail in a few words: a list of messages by their operations ("2: op_1, op_2")."""
    if isinstance(value, list):
        named = [str(v.get("op") or v.get("message_id")) if isinstance(v, dict) else str(v) for v in value]
        return f"{len(value)}: {', '.join(named[:5])}" + (" ..." if len(named) > 5 else "")
    return str(value)


def junit_properties(facts: dict[str, Any]) -> list[tuple[str, str]]:
    backend = facts.get("backend") or {}
    props = [("replicas", str(facts.get("replicas"))), ("database", str(backend.get("database"))),
             ("broker", str(backend.get("broker") or "none")),
             ("nemesis_actions", str(len(facts.get("nemesis_log") or [])))]
    props += [(f"nemesis_{i + 1}", nemesis_line(r)) for i, r in enumerate(facts.get("nemesis_log") or [])]
    if facts.get("replay_file"):
        props.append(("cluster_replay_file", str(facts["replay_file"])))
    return props


def cluster_html(facts: dict[str, Any]) -> str:
    backend = facts.get("backend") or {}
    rows = "".join(f"<li>{escape(nemesis_line(r))}</li>" for r in facts.get("nemesis_log") or [])
    served = ", ".join(f"{k}: {v}" for k, v in (facts.get("requests_per_replica") or {}).items())
    settle = facts.get("settle") or {}
    parts = [
        "<div class=explain><h3>Cluster</h3><p>",
        f"{escape(str(facts.get('replicas')))} replica(s) on {escape(str(backend.get('database')))}",
        f" ({escape(str(backend.get('database_name')))})" if backend.get("database_name") else "",
        f", broker {escape(str(backend.get('broker')))} namespace {escape(str(backend.get('broker_namespace')))}"
        if backend.get("broker") else ", no broker",
        f" · lease {facts.get('lease')} s" if facts.get("lease") is not None else "",
        f" · {facts.get('duration')} s of traffic",
        f" · requests per replica: {escape(served)}" if served else "",
        f" · {facts.get('failovers', 0)} request(s) moved to another replica" if facts.get("failovers") else "",
        f" · settled in {settle.get('took')} s (limit {settle.get('limit')} s)" if settle.get("quiet")
        else (f" · not quiet after {settle.get('limit')} s" if settle else ""),
        "</p>",
        f"<p>Nemesis actions:</p><ol>{rows}</ol>" if rows else "<p>No nemesis action.</p>",
        f"<p class=muted>replay: <code>{escape(str(facts.get('replay_command')))}</code></p>"
        if facts.get("replay_command") else "",
        "".join(f"<p class=muted>{escape(str(n))}</p>" for n in facts.get("notes") or []),
        "</div>",
    ]
    return "".join(parts)
