"""Alerts as deliveries: what the harness's recording sink took, against the alerts the service raised (pure).

The service's alert rows can show one alert per operation while its sinks are
told again on every failure past the threshold; only a sink the harness owns
sees that (scenarios/alert_sink.py).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from .observation import Observation
from .registry import NotApplicable, Violation, check


def _key(row: dict[str, Any]) -> str:
    """An alert's identity: its operation (one alert per operation), else its own id."""
    op = row.get("operation_id")
    return f"op:{op}" if op not in (None, "", "None") else f"alert:{row.get('alert_id', row.get('seq'))}"


def _restart_between(crashes: list[float], earlier: float, later: float) -> bool:
    return any(earlier <= c <= later for c in crashes)


@check("alerts_delivered_once")
def alerts_delivered_once(obs: Observation) -> str | None:
    """Every alert reaches the harness's recording sink exactly once (a second time only after a core restart)."""
    deliveries = obs.alert_deliveries
    if deliveries is None:
        why = obs.unavailable.get("alert_deliveries")
        raise NotApplicable(f"alert deliveries not observed: {why}" if why else "alert deliveries not observed")
    malformed = [d for d in deliveries if "malformed" in d]
    by_alert: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for delivery in deliveries:
        if "malformed" not in delivery:
            by_alert[_key(delivery)].append(delivery)
    raised = {_key(a): a for a in obs.alerts} if obs.alerts is not None else None
    if not deliveries and not obs.alert_sink_wired:
        if raised:
            raise NotApplicable(f"the recording sink took nothing while the service raised {len(raised)} alert(s): "
                                "its alert webhook does not point at the sink")
        if raised is None:
            raise NotApplicable("the recording sink took nothing and the service's alerts are not observable: "
                                "nothing to tell a silent service from one not pointed at the sink")
    crashes = sorted(obs.crash_times)
    repeated = []
    for key, got in by_alert.items():
        times = sorted(d["at"] for d in got)
        unexplained = [later for earlier, later in zip(times, times[1:])
                       if not _restart_between(crashes, earlier, later)]
        if unexplained:
            repeated.append({"alert": key, "deliveries": len(got), "at": [round(t, 3) for t in times],
                             "without_a_restart_before": [round(t, 3) for t in unexplained],
                             "body": got[0].get("body")})
    lost, stray = [], []
    if raised is not None:
        lost = [row for key, row in raised.items() if key not in by_alert]
        stray = [{"alert": key, "deliveries": len(got), "body": got[0].get("body")}
                 for key, got in by_alert.items() if key not in raised]
    if repeated or lost or stray or malformed:
        raise Violation(
            "alert not delivered exactly once",
            f"{len(repeated)} alert(s) delivered again with no core restart in between, {len(lost)} raised but never "
            f"delivered, {len(stray)} delivered but never raised, {len(malformed)} delivery(ies) not a JSON object",
            {"repeated": repeated[:20], "lost": lost[:20], "stray": stray[:20], "malformed": malformed[:5],
             "crash_times": [round(c, 3) for c in crashes]},
        )
    if raised is None:
        return ("checked only that no alert was delivered twice: "
                + (obs.unavailable.get("alerts") or "the service's alerts are not observable"))
    return None
