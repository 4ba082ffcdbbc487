"""The business operations behind a trace's provider calls, when the trace has no business lines (pure).

The rule (docs/traces.md states it for users):

- Only binding creates and deletes count; lookups, listings and calls never make a business operation.
  Creates: native `create_binding`; Aliyun `BindAxb`, `BindXB`, `BindAXBCall`; Tencent `GetVirtualNum`
  (AXB with `Src`, XB without); Volcengine `BindAXB`, `SelectNumberAndBindAXB` (AXB) and `BindAXN`,
  `SelectNumberAndBindAXN` (XB whose B is PhoneNoA). Deletes: native `delete_binding`; Aliyun
  `UnbindSubscription`, `UnBindXB`, `UnBindAXB`; Tencent `DelVirtualNum`; Volcengine `UnbindAXB`, `UnbindAXN`.
- A create and its retries are ONE business bind, at the first attempt's offset: a create with the same
  mode, A and B, and the same X when both name one, while no delete of the binding it made came in
  between. A create answered with a binding an earlier create already made (a retry that got the lost
  answer, an Aliyun BindXB create-or-get, a repeated GetVirtualNum) belongs to that earlier bind too.
- A delete is an unbind of the mode and X of the binding it names (known from a create's answer, a
  lookup's answer, or the delete's own X). Deletes of the same binding with no create of it in between are
  ONE unbind, at the first one's offset. It ends the bind that made the binding: the next create with the
  same numbers is a new bind.
- Tencent probes are neither: a `DelVirtualNum` answered with references left (`RefLeftNum` > 0) only
  gives one back, and a `GetVirtualNum` whose binding is released by the very next call for it, within
  PROBE_GAP seconds, is the client looking a binding up (NPP has no lookup action).
- A bind whose X never shows (no X sent, no answer that names one) and a delete of a binding the trace
  never describes cannot be driven: they are left out and said so in `notes`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterable

from simulator.traces.format import BusinessOperation, Exchange
from simulator.traces.meaning import national

CREATES: dict[str, frozenset[str]] = {
    "native": frozenset({"create_binding"}),
    "aliyun": frozenset({"BindAxb", "BindXB", "BindAXBCall"}),
    "tencent": frozenset({"GetVirtualNum"}),
    "volcengine": frozenset({"BindAXB", "SelectNumberAndBindAXB", "BindAXN", "SelectNumberAndBindAXN"}),
}
DELETES: dict[str, frozenset[str]] = {
    "native": frozenset({"delete_binding"}),
    "aliyun": frozenset({"UnbindSubscription", "UnBindXB", "UnBindAXB"}),
    "tencent": frozenset({"DelVirtualNum"}),
    "volcengine": frozenset({"UnbindAXB", "UnbindAXN"}),
}
ALIYUN_MODES = {"BindAxb": "AXB", "BindXB": "XB", "BindAXBCall": "AXB", "UnbindSubscription": "AXB",
                "UnBindXB": "XB", "UnBindAXB": "AXB"}
# vms: AXB as given; an AXN (every caller reaches A) is the business XB whose B is PhoneNoA.
VOLCENGINE_MODES = {"BindAXB": "AXB", "SelectNumberAndBindAXB": "AXB", "UnbindAXB": "AXB",
                    "BindAXN": "XB", "SelectNumberAndBindAXN": "XB", "UnbindAXN": "XB"}
MODES = ("XB", "AXB")
# Seconds between a GetVirtualNum's answer and the DelVirtualNum that gives its binding back, under which
# the pair is a lookup probe rather than a bind and an unbind.
PROBE_GAP = 0.5


@dataclass(frozen=True)
class Binding:
    """A provider binding as far as the trace shows it."""

    binding_id: str
    mode: str | None
    x: str | None
    a: str | None = None
    b: str | None = None


@dataclass
class Inferred:
    """The business operations, which exchanges each one led to, and what could not be inferred."""

    operations: list[BusinessOperation]
    exchanges_of: dict[int, list[int]]  # business seq -> exchange seqs
    notes: list[str] = field(default_factory=list)


@dataclass
class _Draft:
    op: str
    mode: str
    x: str | None
    a: str | None
    b: str | None
    offset: float
    exchanges: list[int] = field(default_factory=list)
    binding_ids: set[str] = field(default_factory=set)
    closed: bool = False
    dropped: bool = False


def kind_of(exchange: Exchange) -> str:
    """"create", "delete" or "other" on the exchange's own dialect."""
    if exchange.action in CREATES.get(exchange.dialect, ()):
        return "create"
    if exchange.action in DELETES.get(exchange.dialect, ()):
        return "delete"
    return "other"


def create_mode(exchange: Exchange) -> str | None:
    if exchange.dialect == "native":
        mode = str(exchange.params.get("mode", "")).upper()
        return mode if mode in MODES else None
    if exchange.dialect == "aliyun":
        return ALIYUN_MODES.get(exchange.action)
    if exchange.dialect == "tencent":
        return "AXB" if exchange.params.get("a") else "XB"
    if exchange.dialect == "volcengine":
        return VOLCENGINE_MODES.get(exchange.action)
    return None


def create_parties(exchange: Exchange) -> tuple[str | None, str | None, str | None]:
    """(A, B, X) a create asks for, in the business's terms (a vms AXN's PhoneNoA is the XB's B)."""
    p = exchange.params
    if exchange.dialect == "volcengine" and create_mode(exchange) == "XB":
        return None, p.get("a"), p.get("x")
    return p.get("a"), p.get("b"), p.get("x")


def answer_body(exchange: Exchange) -> dict[str, Any] | None:
    """The body of what the provider answered with success: the client's answer, else the one a lost reply
    hid (a ghost success's provider_response)."""
    for answer in (exchange.response, exchange.provider_response):
        if not isinstance(answer, dict):
            continue
        status = answer.get("status")
        body = answer.get("body")
        if isinstance(body, str):
            try:
                body = json.loads(body)
            except ValueError:
                continue
        if not isinstance(status, int) or not 200 <= status < 300 or not isinstance(body, dict):
            continue
        if isinstance(body.get("Response"), dict):  # Tencent's envelope
            body = body["Response"]
        meta = body.get("ResponseMetadata")
        if isinstance(meta, dict):  # Volcengine's envelope: an error is ResponseMetadata.Error
            if meta.get("Error"):
                continue
            return body
        if "Error" in body or str(body.get("ErrorCode", "0")) not in ("0", "00000"):
            continue
        if exchange.dialect == "aliyun" and str(body.get("Code", "OK")) not in ("OK", "0000"):
            continue
        return body
    return None


def answered_bindings(exchange: Exchange) -> list[Binding]:
    """The bindings a successful answer names (a create's result, a lookup's rows)."""
    body = answer_body(exchange)
    if body is None:
        return []
    p = exchange.params
    if exchange.dialect == "native":
        rows = body.get("bindings") if isinstance(body.get("bindings"), list) else [body]
        return [Binding(str(r["binding_id"]), r.get("mode"), national(r.get("x")), national(r.get("a")),
                        national(r.get("b")))
                for r in rows if isinstance(r, dict) and r.get("binding_id")]
    if exchange.dialect == "aliyun":
        dto = body.get("SecretBindDTO")
        if isinstance(dto, dict) and dto.get("SubsId"):
            return [Binding(str(dto["SubsId"]), "AXB", national(dto.get("SecretNo") or p.get("x")), p.get("a"), p.get("b"))]
        detail = body.get("SecretBindDetailDTO")
        if isinstance(detail, dict) and detail.get("SubsId"):
            return [Binding(str(detail["SubsId"]), "AXB", national(detail.get("PhoneNoX")),
                            national(detail.get("PhoneNoA")), national(detail.get("PhoneNoB")))]
        if body.get("AuthId"):
            return [Binding(str(body["AuthId"]), "XB", national(body.get("TelX") or p.get("x")), None, p.get("b"))]
        if body.get("BindId"):
            return [Binding(str(body["BindId"]), "AXB", p.get("x"), p.get("a"), p.get("b"))]
        if exchange.action == "QuerySubsId" and body.get("SubsId"):  # every subscription on X, comma-separated
            return [Binding(subs.strip(), "AXB", p.get("x")) for subs in str(body["SubsId"]).split(",") if subs.strip()]
        return []
    if exchange.dialect == "volcengine":
        return _vms_bindings(exchange, body.get("Result"))
    if exchange.dialect == "tencent" and exchange.action == "GetVirtualNum" and body.get("BindId"):
        return [Binding(str(body["BindId"]), create_mode(exchange), national(body.get("VirtualNum")) or p.get("x"),
                        p.get("a"), p.get("b"))]
    return []


def _vms_bindings(exchange: Exchange, result: Any) -> list[Binding]:
    """A bind's Result, QuerySubscription's Subscription, QuerySubscriptionForList's Records, as business
    bindings: both parties -> AXB; A alone -> the XB an AXN is (B = PhoneNoA)."""
    if not isinstance(result, dict):
        return []
    rows = result.get("Records") if isinstance(result.get("Records"), list) else [result]
    found = []
    for row in rows:
        if not isinstance(row, dict) or not row.get("SubId"):
            continue
        a, b, x = national(row.get("PhoneNoA") or None), national(row.get("PhoneNoB") or None), national(
            row.get("PhoneNoX") or exchange.params.get("x") or None)
        mode = create_mode(exchange) if kind_of(exchange) == "create" else ("AXB" if a and b else "XB")
        if mode == "XB":
            a, b = None, a
        found.append(Binding(str(row["SubId"]), mode, x, a, b))
    return found


def references_left(exchange: Exchange) -> int | None:
    """Tencent DelVirtualNum's RefLeftNum (None where the answer has none)."""
    body = answer_body(exchange)
    if body is None or "RefLeftNum" not in body:
        return None
    try:
        return int(body["RefLeftNum"])
    except (TypeError, ValueError):
        return None


def infer_business(exchanges: Iterable[Exchange]) -> Inferred:
    """The business binds and unbinds behind `exchanges` (see the module's rule)."""
    ordered = sorted(exchanges, key=lambda e: (e.offset, e.seq))
    drafts: list[_Draft] = []
    known: dict[str, Binding] = {}
    bind_of: dict[str, _Draft] = {}  # binding id -> the bind that made it
    unbind_of: dict[str, _Draft] = {}  # binding id -> its open unbind (until a create names it again)
    last_create: dict[str, Exchange] = {}  # binding id -> the GetVirtualNum that last answered it
    last_touch: dict[str, int] = {}  # binding id -> seq of the last exchange naming it
    notes: list[str] = []
    for ex in ordered:
        kind = kind_of(ex)
        answered = answered_bindings(ex)
        if kind == "other":
            for found in answered:
                known.setdefault(found.binding_id, found)
                last_touch[found.binding_id] = ex.seq
            continue
        if kind == "create":
            _create(ex, answered, drafts, known, bind_of, unbind_of, last_create, notes)
            for found in answered:
                last_touch[found.binding_id] = ex.seq
            continue
        _delete(ex, drafts, known, bind_of, unbind_of, last_create, last_touch, notes)
    operations, exchanges_of = [], {}
    for draft in drafts:
        if draft.dropped:
            continue
        if draft.x is None:
            notes.append(f"a {draft.mode} bind at offset {draft.offset:g}s (exchange seq {draft.exchanges[0]}) never "
                         "shows its X (none sent, no answer names one): left out")
            continue
        seq = len(operations) + 1
        operations.append(BusinessOperation(seq, draft.offset, draft.op, draft.mode, draft.x,
                                            draft.a if draft.op == "bind" and draft.mode == "AXB" else None,
                                            draft.b if draft.op == "bind" else None))
        exchanges_of[seq] = list(draft.exchanges)
    return Inferred(operations, exchanges_of, notes)


def _create(ex: Exchange, answered: list[Binding], drafts: list[_Draft], known: dict[str, Binding],
            bind_of: dict[str, _Draft], unbind_of: dict[str, _Draft], last_create: dict[str, Exchange],
            notes: list[str]) -> None:
    mode = create_mode(ex)
    if mode is None:
        notes.append(f"exchange seq {ex.seq}: {ex.action} creates no XB or AXB binding: not a business bind")
        return
    p = ex.params
    a, b, x = create_parties(ex)
    if ex.dialect == "aliyun" and ex.action == "BindAXBCall":  # B and X are the work number's (AuthId)
        work = known.get(str(p.get("binding_id")))
        b, x = (work.b, work.x) if work else (None, None)
    made = answered[0] if answered else None
    if made is not None:
        x = x or made.x
        if ex.dialect == "tencent":
            last_create[made.binding_id] = ex
        owner = bind_of.get(made.binding_id)
        if owner is not None:  # an earlier create made it: a retry, or a create-or-get looking it up
            target = unbind_of.get(made.binding_id) or owner  # while it is being unbound: that unbind's lookup
            target.exchanges.append(ex.seq)
            target.x = target.x or x
            return
    draft = next((d for d in reversed(drafts) if d.op == "bind" and not d.closed and d.mode == mode and d.a == a
                  and d.b == b and (d.x is None or x is None or d.x == x)), None)
    if draft is None:
        draft = _Draft("bind", mode, x, a, b, ex.offset)
        drafts.append(draft)
    draft.exchanges.append(ex.seq)
    draft.x = draft.x or x
    if made is not None:
        known[made.binding_id] = Binding(made.binding_id, mode, made.x or x, a, b)
        draft.binding_ids.add(made.binding_id)
        bind_of[made.binding_id] = draft
        unbind_of.pop(made.binding_id, None)


def _delete(ex: Exchange, drafts: list[_Draft], known: dict[str, Binding], bind_of: dict[str, _Draft],
            unbind_of: dict[str, _Draft], last_create: dict[str, Exchange], last_touch: dict[str, int],
            notes: list[str]) -> None:
    binding_id = str(ex.params.get("binding_id") or "")
    probe = last_create.get(binding_id)
    if ex.dialect == "tencent" and probe is not None and last_touch.get(binding_id) == probe.seq \
            and ex.offset - (probe.offset + probe.latency) <= PROBE_GAP:
        owner = bind_of.get(binding_id)
        last_create.pop(binding_id, None)
        if owner is not None and owner.exchanges == [probe.seq]:
            owner.dropped = True  # the probe made the binding it looked for: neither a bind nor an unbind
        elif owner is not None:
            owner.exchanges.append(ex.seq)
        last_touch[binding_id] = ex.seq
        return
    last_touch[binding_id] = ex.seq
    if ex.dialect == "tencent" and (references_left(ex) or 0) > 0:
        owner = unbind_of.get(binding_id) or bind_of.get(binding_id)
        if owner is not None:
            owner.exchanges.append(ex.seq)
        return
    open_unbind = unbind_of.get(binding_id)
    if open_unbind is not None:
        open_unbind.exchanges.append(ex.seq)
        return
    binding = known.get(binding_id)
    mode = binding.mode if binding and binding.mode in MODES else (
        ALIYUN_MODES.get(ex.action) or (VOLCENGINE_MODES.get(ex.action) if ex.dialect == "volcengine" else None))
    x = (binding.x if binding else None) or ex.params.get("x")
    if mode not in MODES or not x:
        notes.append(f"exchange seq {ex.seq}: {ex.action} of binding {binding_id or '?'}, which the trace never "
                     "describes (no create or lookup answer names it): not driven")
        return
    draft = _Draft("unbind", str(mode), str(x), None, None, ex.offset, [ex.seq])
    drafts.append(draft)
    unbind_of[binding_id] = draft
    owner = bind_of.get(binding_id)
    if owner is not None:
        owner.closed = True
