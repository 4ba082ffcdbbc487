"""vms callbacks (消息回执) for number-privacy calls: call status events and the call record (话单).

Shapes follow Volcengine's published callback fields: every message is one JSON
object POSTed to the callback URL configured for the number pool's key, with
`?timestamp=<unix s>&authCode=<hex>` added to the URL, where
authCode = SHA256(timestamp + SHA256(body).hex + auth_token).hex.
- call status (messageType 1): one message per event, eventType 1 call started,
  2 callee ringing, 3 call established, 4 call ended (a call that never
  connected has 1 and 4); eventTime in unix seconds (a string);
- call record (messageType 2): one message after the call ends, times in unix
  milliseconds, callResult 1 connected / 13 no binding, secretCallType 11 A->B,
  10 B->A, subServiceType 201 AXB / 202 AXN.
Pure: a ledger call in, PushMessage values out; simulator/push.py delivers them.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import urlencode

from ...config import VolcengineCredentials
from ...ledger import Binding, CallRecord
from ..base import PushMessage

SERVICE_PRIVACY = 200
SUB_SERVICE = {"AXB": 201, "XB": 202}  # the ledger's XB is vms's AXN
STATUS, RECORD = 1, 2  # messageType
STARTED, RINGING, ESTABLISHED, ENDED = 1, 2, 3, 4  # eventType
CONNECTED, NO_BINDING = 1, 13  # callResult
# callResult of a call the platform did not connect, by the ledger's reason (13 无绑定关系 unless stated).
_NOT_CONNECTED = {"CALLER_IS_CALLEE": 12, "UNKNOWN_NUMBER": 16}
A_TO_B, B_TO_A = 11, 10  # secretCallType
RELEASED_BY_CALLER = 1  # releaseType (assumed: the public table's values are not given)
JSON_HEADERS = (("Content-Type", "application/json"),)


def auth_code(timestamp: str, body: bytes, auth_token: str) -> str:
    """The callback's signature, as a receiver recomputes it from the URL's timestamp and the raw body."""
    inner = hashlib.sha256(body).hexdigest()
    return hashlib.sha256(f"{timestamp}{inner}{auth_token}".encode()).hexdigest()


def body_bytes(body: dict[str, Any]) -> bytes:
    """The exact bytes the pusher sends for `body` (simulator/push.py serialises the same way)."""
    return json.dumps(body, ensure_ascii=False).encode()


def signed_url(url: str, body: dict[str, Any], auth_token: str, at: float) -> str:
    timestamp = str(int(at))
    query = urlencode({"timestamp": timestamp, "authCode": auth_code(timestamp, body_bytes(body), auth_token)})
    return f"{url}{'&' if '?' in url else '?'}{query}"


def _parties(call: CallRecord, binding: Binding | None) -> dict[str, str]:
    """phoneNoX/A/B as vms shows the binding (an AXN's A is the ledger's b)."""
    data = (binding.extra.get("volcengine") or {}) if binding is not None else {}
    if binding is None:
        a, b = "", ""
    elif binding.mode == "AXB":
        a, b = binding.a or "", binding.b or ""
    else:
        a, b = binding.b or "", data.get("phone_no_b") or ""
    return {"phoneNoX": call.x, "phoneNoA": a, "phoneNoB": b}


def _common(call: CallRecord, binding: Binding | None, account: VolcengineCredentials) -> dict[str, Any]:
    data = (binding.extra.get("volcengine") or {}) if binding is not None else {}
    return {
        "accountId": account.access_key_id,
        "callId": call.call_id,
        "serviceType": SERVICE_PRIVACY,
        "caller": call.caller,
        "callee": call.callee or "",
        **_parties(call, binding),
        "userData": data.get("user_data") or "",
        "subscriptionId": call.binding_id or "",
    }


def status_bodies(call: CallRecord, binding: Binding | None, account: VolcengineCredentials) -> list[dict[str, Any]]:
    connected = call.outcome == "connected"
    events = [STARTED, RINGING, ESTABLISHED, ENDED] if connected else [STARTED, ENDED]
    end = call.started_at + call.duration
    return [
        {**_common(call, binding, account), "eventTime": str(int(end if event == ENDED else call.started_at)),
         "allEventType": events, "eventType": event, "messageType": STATUS}
        for event in events
    ]


def record_body(call: CallRecord, binding: Binding | None, account: VolcengineCredentials) -> dict[str, Any]:
    connected = call.outcome == "connected"
    data = (binding.extra.get("volcengine") or {}) if binding is not None else {}
    begin_ms = int(call.started_at * 1000)
    end_ms = int((call.started_at + call.duration) * 1000)
    parties = _parties(call, binding)
    if binding is not None and binding.mode == "AXB" and call.caller == parties["phoneNoB"]:
        direction = B_TO_A
    elif binding is not None and binding.mode != "AXB" and call.caller != parties["phoneNoA"]:
        direction = B_TO_A  # anyone dialling an AXN's X reaches A
    else:
        direction = A_TO_B
    return {
        **_common(call, binding, account),
        "subServiceType": SUB_SERVICE.get(binding.mode if binding else "", SUB_SERVICE["AXB"]),
        "numberPoolNo": data.get("number_pool_no") or account.number_pool_no,
        "beginCallTime": begin_ms,
        "ringTime": begin_ms if connected else 0,
        "startTime": begin_ms if connected else 0,
        "endTime": end_ms,
        "releaseType": RELEASED_BY_CALLER,
        "callDuration": int(call.duration) if connected else 0,
        "callResult": CONNECTED if connected else _NOT_CONNECTED.get(call.reason, NO_BINDING),
        "audioRecordFlag": int(data.get("audio_record_flag", 0)) if connected else 0,
        "cdrCreateTime": end_ms,
        "outId": data.get("out_id") or "",
        "secretCallType": direction,
        "messageType": RECORD,
    }


def _owners(binding: Binding | None, accounts: list[VolcengineCredentials]) -> list[VolcengineCredentials]:
    """Who hears of a call: the key whose pool made the binding; for a call with no vms binding, none."""
    if binding is None or "volcengine" not in binding.extra:
        return []
    pool = binding.extra["volcengine"].get("number_pool_no")
    return [acc for acc in accounts if acc.callback_url and acc.number_pool_no == pool]


def call_pushes(call: CallRecord, binding: Binding | None, accounts: list[VolcengineCredentials],
                at: float) -> list[PushMessage]:
    """Everything vms pushes for one call, in delivery order: the status events, then the call record."""
    messages = []
    for account in _owners(binding, accounts):
        assert account.callback_url is not None
        for body in status_bodies(call, binding, account):
            url = signed_url(account.callback_url, body, account.auth_token, at)
            messages.append(PushMessage(url=url, body=body, kind="volcengine.status", headers=JSON_HEADERS))
        body = record_body(call, binding, account)
        url = signed_url(account.callback_url, body, account.auth_token, at)
        messages.append(PushMessage(url=url, body=body, kind="volcengine.record", headers=JSON_HEADERS))
    return messages
