"""Aliyun call reports: SecretStartReport, SecretReport and SecretRecording, each a JSON array of one record.

Pushed to the `report_url` of the account that owns the number's pool key
(console configuration at the real service). Pure: a ledger call event in,
PushMessage values out; simulator/push.py delivers them.
"""

from __future__ import annotations

from typing import Any

from ...config import AliyunCredentials
from ..base import PushMessage
from .wire import format_time

# (phone_no is the bound party A, peer_no the other end, call_type 0 A->peer / 1 peer->A)
_PARTIES = {
    "AXB_A_TO_B": ("caller", "callee", 0),
    "AXB_B_TO_A": ("callee", "caller", 1),
    "AXN_A_TO_N": ("caller", "callee", 0),
    "AXN_N_TO_A": ("callee", "caller", 1),
    "XB": ("caller", "callee", 0),
}
INTERCEPTED = 4  # call_type of a call the platform did not connect
NORMAL_CLEARING, UNSPECIFIED = 16, 31  # Q.850 release causes


def call_reports(call: dict[str, Any], pool_key: str | None, binding_extra: dict[str, Any], account: AliyunCredentials) -> list[PushMessage]:
    """The reports one finished call produces for `account` (nothing if it has no report URL)."""
    if not account.report_url or pool_key != account.pool_key:
        return []
    start = start_report(call, pool_key, binding_extra)
    messages = [
        PushMessage(url=account.report_url, body=[start], kind="SecretStartReport"),
        PushMessage(url=account.report_url, body=[cdr(call, start)], kind="SecretReport"),
    ]
    if call["outcome"] == "connected" and binding_extra.get("IsRecordingEnabled"):
        recording = {
            "pool_key": pool_key,
            "subs_id": call["binding_id"],
            "call_id": call["call_id"],
            "call_time": start["call_time"],
        }
        messages.append(PushMessage(url=account.report_url, body=[recording], kind="SecretRecording"))
    return messages


def start_report(call: dict[str, Any], pool_key: str, binding_extra: dict[str, Any]) -> dict[str, Any]:
    connected = call["outcome"] == "connected"
    phone, peer, call_type = _PARTIES.get(call["reason"], ("caller", "callee", INTERCEPTED))
    if not connected:
        call_type = INTERCEPTED
    return {
        "pool_key": pool_key,
        "sub_id": call["binding_id"],
        "call_id": call["call_id"],
        "phone_no": call[phone],
        "secret_no": call["x"],
        "peer_no": call[peer] or "",
        "called_display_no": call["shown_caller"] or call["x"],
        "call_type": call_type,
        "call_time": format_time(call["started_at"]),
        "out_id": binding_extra.get("OutId", ""),
        "control_msg": "" if connected else ("NO_SUBS_EXIST" if call["binding_id"] is None else call["reason"]),
    }


def cdr(call: dict[str, Any], start: dict[str, Any]) -> dict[str, Any]:
    """SecretReport: the start report plus times and release cause (answer time = release time if not connected)."""
    connected = call["outcome"] == "connected"
    began = call["started_at"]
    released = began + (call["duration"] if connected else 0.0)
    return {
        **start,
        "id": call["call_id"],
        "partner_key": "",
        "city": "",
        "call_out_time": format_time(began),
        "ring_time": format_time(began),
        "free_ring_time": format_time(began),
        "start_time": format_time(began if connected else released),
        "release_time": format_time(released),
        "release_dir": 1 if connected else 0,
        "release_cause": NORMAL_CLEARING if connected else UNSPECIFIED,
        "sms_number": 0,
        "record_url": "",
        "ring_record_url": "",
        "control_type": "CONTINUE" if connected else "REJECT",
        "unconnected_cause": "" if connected else call["reason"],
    }
