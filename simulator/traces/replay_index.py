"""A trace made ready to serve: which recorded exchange answers each request, and what answering it does.

`ReplayIndex` maps a request's match key (meaning.match_key: dialect, action, normalised parameters) to
the exchanges recorded with that key, in recorded order (arrival: offset, then seq). Each is answered
once: a repeated request gets the next one (the timeout first, then the success), in O(1) per request
however long the trace is: no request ever scans it.

`plan_replay` reads the whole trace once and says what the ledger holds before the first request (the
bindings the trace shows but never makes, its X numbers) and the effect each exchange has when it is
answered (effects.py), including the rule for calls whose outcome the recorder could not know.

Pure: no HTTP, no ledger.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from .effects import (
    NOT_FOUND, OK, UNKNOWN, CreateBinding, DeleteBinding, Effect, Requested, ShownBinding, addressed_id,
    bindings_shown, effect_of, is_conflict, is_delete, numbers_shown, outcome, requested,
)
from .format import Exchange
from .meaning import match_key

# Aliyun actions whose `Expiration` is a wall-clock time ("now + 30 days"): it differs on every send by
# design, so a request that matches nothing exactly is matched without it.
CLOCK_EXPIRATION = {"aliyun": frozenset({"BindAxb", "BindAxn", "UpdateSubscription"})}


def exchange_key(exchange: Exchange) -> str:
    return match_key(exchange.dialect, exchange.action, exchange.params)


def loose_key(dialect: str, action: str, params: Mapping[str, Any]) -> str | None:
    """The key without a wall-clock expiration, for the actions that send one; None for the others."""
    if action not in CLOCK_EXPIRATION.get(dialect, ()) or "expiration" not in params:
        return None
    return match_key(dialect, action, {k: v for k, v in params.items() if k != "expiration"})


def recorded_order(exchanges: Sequence[Exchange]) -> list[Exchange]:
    """Arrival order: a writer may emit a long-held exchange after the retries that overtook it."""
    return sorted(exchanges, key=lambda e: (e.offset, e.seq))


class ReplayIndex:
    """Match key -> the positions (in `exchanges`, recorded order) with that key, and a cursor on the first
    not yet answered. `take` consumes one; `give_back` returns one a refused request took."""

    def __init__(self, exchanges: Sequence[Exchange]) -> None:
        self.exchanges = list(exchanges)
        self.keys = [exchange_key(e) for e in self.exchanges]
        self.loose_keys = [loose_key(e.dialect, e.action, e.params) for e in self.exchanges]
        self._queues: dict[str, list[int]] = {}  # exact keys and loose keys (a loose key is never an exact one)
        self._place: list[tuple[int, int]] = []  # position -> its index in its exact queue, in its loose queue
        for position, (key, loose) in enumerate(zip(self.keys, self.loose_keys)):
            exact_queue = self._queues.setdefault(key, [])
            exact_queue.append(position)
            loose_place = -1
            if loose is not None:
                loose_queue = self._queues.setdefault("~" + loose, [])
                loose_queue.append(position)
                loose_place = len(loose_queue) - 1
            self._place.append((len(exact_queue) - 1, loose_place))
        self.rewind()

    def rewind(self) -> None:
        """Every exchange unanswered again (a provider reset)."""
        self._taken = [False] * len(self.exchanges)
        self._cursor = dict.fromkeys(self._queues, 0)

    def peek(self, key: str, loose: str | None = None) -> int | None:
        """The position that would answer a request with this key: the next exact match, else the next match
        without a wall-clock expiration; None when the trace has none left."""
        found = self._next(key)
        if found is None and loose is not None:
            found = self._next("~" + loose)
        return found

    def take(self, key: str, loose: str | None = None) -> int | None:
        position = self.peek(key, loose)
        if position is not None:
            self._taken[position] = True
        return position

    def give_back(self, position: int) -> None:
        """Un-take a position (its request was refused before it was answered): the next request gets it."""
        self._taken[position] = False
        exact_place, loose_place = self._place[position]
        key = self.keys[position]
        self._cursor[key] = min(self._cursor[key], exact_place)
        loose = self.loose_keys[position]
        if loose is not None:
            self._cursor["~" + loose] = min(self._cursor["~" + loose], loose_place)

    def _next(self, queue_key: str) -> int | None:
        # A position sits in an exact and maybe a loose queue; whichever answered it, the other skips it here.
        queue = self._queues.get(queue_key)
        if queue is None:
            return None
        cursor = self._cursor[queue_key]
        while cursor < len(queue) and self._taken[queue[cursor]]:
            cursor += 1
        self._cursor[queue_key] = cursor
        return queue[cursor] if cursor < len(queue) else None

    def taken(self, position: int) -> bool:
        return self._taken[position]

    def never_asked(self) -> list[int]:
        """Seqs of the exchanges no request has matched yet, in recorded order."""
        return [e.seq for e, taken in zip(self.exchanges, self._taken) if not taken]

    def __len__(self) -> int:
        return len(self.exchanges)


# ---- what answering does ----------------------------------------------------------


@dataclass
class ReplayPlan:
    effects: list[Effect | None]  # by position in recorded order
    preload: list[CreateBinding]  # present from the start; expires_in counts from the replay's start
    numbers: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # X -> (dialect, pool key)
    inferred: list[int] = field(default_factory=list)  # positions whose effect the rule below inferred
    unknown_bindings: list[str] = field(default_factory=list)  # ids the trace names but never shows the numbers of


def plan_replay(exchanges: Sequence[Exchange], started_at: float) -> ReplayPlan:
    """Effects and preload for `exchanges` (recorded order).

    An exchange takes effect when its answer shows it did (a success), or when the recorder says it was
    applied (`applied: true`, e.g. a ghost success, read from `provider_response`). A call whose outcome
    the client could not know and the recorder did not say (`applied: null`, a proxy in front of a real
    provider; no answer, a 5xx, a cut body) takes effect only if the trace shows it later:
    - a create, if a later answer shows a binding with the numbers it asked for (X too, when it named one)
      that no successful create in the trace made: that binding (its id, X) is what it made; else, if it
      named its X and the same create sent again was refused as a conflict: it made a binding with those
      numbers, whose id nobody saw (the replay calls it `ghost-<seq>`);
    - a delete, if the next call that names the same binding is answered "does not exist".
    Bindings the trace shows that none of its exchanges made existed before the recording: they are
    preloaded, when the trace shows their mode and numbers.
    """
    outcomes = [outcome(e) for e in exchanges]
    effects = [effect_of(e, started_at, said) for e, said in zip(exchanges, outcomes)]
    facts: dict[str, dict[str, Any]] = {}
    first_seen: dict[str, int] = {}
    named: dict[str, list[int]] = {}
    for position, exchange in enumerate(exchanges):
        for shown in bindings_shown(exchange, outcomes[position]):
            _merge(facts.setdefault(shown.binding_id, {}), shown)
            first_seen.setdefault(shown.binding_id, position)
        binding_id = addressed_id(exchange)
        if binding_id is not None:
            named.setdefault(binding_id, []).append(position)
    made = {e.binding_id for e in effects if isinstance(e, CreateBinding)}
    plan = ReplayPlan(effects, [])
    _infer_creates(exchanges, outcomes, plan, facts, first_seen, made, started_at)
    _infer_deletes(exchanges, outcomes, plan, named)
    made |= {e.binding_id for e in plan.effects if isinstance(e, CreateBinding)}
    for binding_id, fact in facts.items():
        if binding_id in made:
            continue
        if _complete(fact):
            expires_at = fact.get("expires_at")
            expires_in = None if expires_at is None else expires_at - started_at
            plan.preload.append(CreateBinding(binding_id, fact["mode"], fact["x"], fact.get("a"), fact.get("b"),
                                              fact.get("pool_key"), expires_in))
        else:
            plan.unknown_bindings.append(binding_id)
    _collect_numbers(exchanges, plan)
    return plan


def _infer_creates(exchanges: Sequence[Exchange], outcomes: list[str], plan: ReplayPlan,
                   facts: dict[str, dict[str, Any]], first_seen: dict[str, int], made: set[str],
                   started_at: float) -> None:
    pending = [(position, asked) for position, exchange in enumerate(exchanges)
               if plan.effects[position] is None and exchange.applied is None and outcomes[position] == UNKNOWN
               and (asked := requested(exchange)) is not None]
    if not pending:
        return
    by_numbers: dict[tuple[str | None, str | None], list[str]] = {}
    for binding_id in sorted(facts, key=first_seen.__getitem__):
        if binding_id not in made:
            by_numbers.setdefault((facts[binding_id].get("a"), facts[binding_id].get("b")), []).append(binding_id)
    asks: dict[Requested, list[int]] = {}
    for position, exchange in enumerate(exchanges):
        if (asked := requested(exchange)) is not None:
            asks.setdefault(asked, []).append(position)
    claimed: set[str] = set()
    for position, asked in pending:
        exchange = exchanges[position]
        if _shown_later(exchange, position, asked, plan, facts, first_seen, by_numbers, claimed, started_at):
            continue
        same = asks[asked]
        retry = bisect.bisect_right(same, position)
        if asked.x and retry < len(same) and is_conflict(exchanges[same[retry]]):
            # The same create, sent again, was refused as a conflict: this one made the binding. Its id never
            # reached anyone; the replay names it after the line.
            plan.effects[position] = CreateBinding(f"ghost-{exchange.seq}", asked.mode, asked.x, asked.a, asked.b,
                                                   _pool_key(exchange))
            plan.inferred.append(position)


def _shown_later(exchange: Exchange, position: int, asked: Requested, plan: ReplayPlan,
                 facts: dict[str, dict[str, Any]], first_seen: dict[str, int],
                 by_numbers: dict[tuple[str | None, str | None], list[str]], claimed: set[str],
                 started_at: float) -> bool:
    """The first binding a later answer shows with the numbers `asked` for, that nothing else made: this
    create made it (its effect is set). False if there is none."""
    for binding_id in by_numbers.get((asked.a, asked.b), ()):
        fact = facts[binding_id]
        if (binding_id in claimed or first_seen[binding_id] <= position or not fact.get("x")
                or (asked.x is not None and fact["x"] != asked.x)
                or fact.get("mode") not in (None, asked.mode)):
            continue
        claimed.add(binding_id)
        answered_at = started_at + exchange.offset + exchange.latency
        expires_at = fact.get("expires_at")
        plan.effects[position] = CreateBinding(binding_id, asked.mode, fact["x"], asked.a, asked.b,
                                               fact.get("pool_key") or _pool_key(exchange),
                                               None if expires_at is None else expires_at - answered_at)
        plan.inferred.append(position)
        return True
    return False


def _infer_deletes(exchanges: Sequence[Exchange], outcomes: list[str], plan: ReplayPlan,
                   named: dict[str, list[int]]) -> None:
    for position, exchange in enumerate(exchanges):
        if (plan.effects[position] is not None or exchange.applied is not None or outcomes[position] != UNKNOWN
                or not is_delete(exchange)):
            continue
        binding_id = addressed_id(exchange)
        positions = named.get(binding_id or "", [])
        later = bisect.bisect_right(positions, position)
        if binding_id and later < len(positions) and outcomes[positions[later]] == NOT_FOUND:
            plan.effects[position] = DeleteBinding(binding_id)
            plan.inferred.append(position)


def _merge(fact: dict[str, Any], shown: ShownBinding) -> None:
    for name in ("mode", "x", "a", "b", "pool_key", "expires_at"):
        value = getattr(shown, name)
        if value is not None and fact.get(name) is None:
            fact[name] = value


def _complete(fact: Mapping[str, Any]) -> bool:
    """Mode, X and the numbers the mode needs: enough to restore the binding."""
    mode = fact.get("mode")
    if not fact.get("x") or mode not in ("XB", "AXB", "AXN"):
        return False
    return bool(fact.get("b")) if mode == "XB" else bool(fact.get("a")) and (mode == "AXN" or bool(fact.get("b")))


def _pool_key(exchange: Exchange) -> str | None:
    """The pool a call names (Aliyun PoolKey / CustomerPoolKey); other dialects use the provider's own."""
    value = exchange.params.get("pool_key") if exchange.dialect == "aliyun" else None
    return str(value) if value else None


def _collect_numbers(exchanges: Sequence[Exchange], plan: ReplayPlan) -> None:
    for exchange in exchanges:
        for x in numbers_shown(exchange):
            plan.numbers.setdefault(x, (exchange.dialect, _pool_key(exchange)))
    for position, effect in enumerate(plan.effects):
        if isinstance(effect, CreateBinding) and effect.x:
            exchange = exchanges[position]
            plan.numbers.setdefault(effect.x, (exchange.dialect, effect.pool_key or _pool_key(exchange)))
    for created in plan.preload:
        plan.numbers.setdefault(created.x or "", ("", created.pool_key))
    plan.numbers.pop("", None)


# ---- how the journal names a replayed exchange ----------------------------------------


def replay_label(exchange: Exchange, applied: bool) -> str:
    """`replay:seq=N`, then what the client saw in the words of the fault engine (so a trace of the replay
    says whether it was applied, and the journal filters by kind), e.g. `replay:seq=4+ghost_success:503`,
    `replay:seq=5+timeout`, `replay:seq=6+status:503`."""
    parts = [f"replay:seq={exchange.seq}"]
    if exchange.fault:
        parts.append(exchange.fault)
    elif exchange.failure is not None:
        parts.append(exchange.failure.kind)
    elif not applied and exchange.status is not None and (exchange.status >= 500 or exchange.status == 429):
        parts.append(f"status:{exchange.status}")
    label = "+".join(parts)
    if applied and outcome(exchange) != OK and "ghost_success" not in label:
        label += "+ghost_success"
    return label
