"""Call records in Tencent's shapes: the pulled CDR (Get400Cdr) and the pushed status, hang-up and recording events.

A push goes to the URL the binding was made with (`StatusUrl`, `HangupUrl`,
`RecordUrl`); bindings made through other dialects carry none, so Tencent pushes
nothing for them. Times are unix seconds as strings; numbers carry `0086`.
"""

from __future__ import annotations

from typing import Any

from ...ledger import Binding, CallRecord
from ..base import PushMessage
from .wire import wire_number

# StatusFlag bits: the caller's (src) events; the callee's (dst) are the same shifted by 8.
INVITE, RINGING, ANSWERED, REFUSED, HANGUP, FAILED = 1, 2, 4, 8, 16, 32
ALL_STATUS_FLAGS = 0x3F3F  # 16191
STATUS_NAMES = {INVITE: "invite", RINGING: "ringing", ANSWERED: "answered", REFUSED: "refused", HANGUP: "disaccept", FAILED: "failed"}
SIP_CODES = {INVITE: "0", RINGING: "180", ANSWERED: "200", REFUSED: "603", HANGUP: "0", FAILED: "403"}
JSON_HEADERS = (("Content-Type", "application/json"),)
RECORDING_BASE = "https://pstnsim.invalid/npp/record/"

# Get400Cdr's CallEndStatus and the hang-up push's callEndStatusDetail, by the ledger's routing reason.
_END_STATUS = {"connected": "1", "rejected": "3"}
_END_DETAIL = {"NO_BINDING": "12", "NOT_A_PARTY": "17", "CALLER_IS_CALLEE": "4", "UNKNOWN_NUMBER": "6"}


def tencent_data(binding: Binding | None) -> dict[str, Any]:
    """What GetVirtualNum stored with the binding (empty for bindings made elsewhere)."""
    return binding.extra.get("tencent", {}) if binding is not None else {}


def _seconds(at: float) -> str:
    return str(int(at))


def _record_url(call: CallRecord, binding: Binding | None) -> str:
    recorded = tencent_data(binding).get("record") == "1" and call.outcome == "connected"
    return f"{RECORDING_BASE}{call.call_id}.mp3" if recorded else ""


def cdr(call: CallRecord, binding: Binding | None) -> dict[str, str]:
    """One VirturalNumCdr (the SDK's spelling) as Get400Cdr returns it."""
    connected = call.outcome == "connected"
    start, end = call.started_at, call.started_at + call.duration
    return {
        "CallId": call.call_id,
        "BindId": call.binding_id or "",
        "Src": wire_number(call.caller),
        "Dst": wire_number(call.callee),
        "DstVirtualNum": wire_number(call.x),
        "CallCenterAcceptTime": _seconds(start),
        "StartDstCallTime": _seconds(start) if connected else "",
        "StartDstRingTime": _seconds(start) if connected else "",
        "DstAcceptTime": _seconds(start) if connected else "",
        "EndCallTime": _seconds(end),
        "CallEndStatus": _END_STATUS[call.outcome],
        "SrcDuration": str(int(call.duration)),
        "DstDuration": str(int(call.duration)),
        "RecordUrl": _record_url(call, binding),
    }


def _common(call: CallRecord, binding: Binding) -> dict[str, str]:
    data = tencent_data(binding)
    return {
        "appId": data.get("biz_app_id", ""),
        "callId": call.call_id,
        "requestId": data.get("request_id", ""),
        "bindId": binding.binding_id,
        "src": wire_number(call.caller),
        "dst": wire_number(call.callee),
        "dstVirtualNum": wire_number(call.x),
    }


def _status_sequence(call: CallRecord) -> list[tuple[int, str]]:
    """(flag bit, userFlag) in order: the legs' progress as the status push reports it."""
    if call.outcome != "connected":
        return [(INVITE, "src"), (FAILED, "src")]
    return [
        (INVITE, "src"),
        (INVITE, "dst"),
        (RINGING, "dst"),
        (RINGING, "src"),
        (ANSWERED, "dst"),
        (ANSWERED, "src"),
        (HANGUP, "src"),
        (HANGUP, "dst"),
    ]


def status_pushes(call: CallRecord, binding: Binding) -> list[PushMessage]:
    data = tencent_data(binding)
    url, flags = data.get("status_url"), int(data.get("status_flag") or 0)
    if not url:
        return []
    messages = []
    for bit, user in _status_sequence(call):
        flag = bit if user == "src" else bit << 8
        if not flags & flag:
            continue
        body = {
            **_common(call, binding),
            "userFlag": user,
            "timeStamp": _seconds(call.started_at if bit != HANGUP else call.started_at + call.duration),
            "callType": "0",
            "callStatus": STATUS_NAMES[bit],
            "errorCode": SIP_CODES[bit],
        }
        messages.append(PushMessage(url=url, body=body, kind="tencent.status", headers=JSON_HEADERS))
    return messages


def hangup_push(call: CallRecord, binding: Binding) -> list[PushMessage]:
    url = tencent_data(binding).get("hangup_url")
    if not url:
        return []
    record = cdr(call, binding)
    body = {
        **_common(call, binding),
        **{key[0].lower() + key[1:]: value for key, value in record.items() if key not in ("CallId", "BindId", "Src", "Dst", "DstVirtualNum", "RecordUrl")},
        "callEndStatusDetail": "1" if call.outcome == "connected" else _END_DETAIL.get(call.reason, "16"),
        "recordUrl": record["RecordUrl"],
    }
    return [PushMessage(url=url, body=body, kind="tencent.hangup", headers=JSON_HEADERS)]


def record_push(call: CallRecord, binding: Binding) -> list[PushMessage]:
    url, recording = tencent_data(binding).get("record_url"), _record_url(call, binding)
    if not url or not recording:
        return []
    body = {**_common(call, binding), "recordUrl": recording}
    return [PushMessage(url=url, body=body, kind="tencent.record", headers=JSON_HEADERS)]


def call_pushes(call: CallRecord, binding: Binding | None) -> list[PushMessage]:
    """Everything Tencent pushes for one call, in delivery order: status events, the CDR, the recording."""
    if not tencent_data(binding):
        return []
    assert binding is not None
    return status_pushes(call, binding) + hangup_push(call, binding) + record_push(call, binding)
