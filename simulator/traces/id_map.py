"""Which id or X number of one run is which of another's: learned from two answers to the same call.

Two runs of the same calls get different binding ids, call ids and (unless the pool and seed match) X
numbers. `trace check` substitutes the simulator's ids in the recorded requests that follow, and
`trace diff` reads A's answers in B's ids, so `bnd_1` and `SUB-42` compare equal when they are the same
binding, and an X shown in any field (`shown_caller`) follows it.
"""

from __future__ import annotations

import re
from typing import Any

from .meaning import national

# Fields whose values the provider makes up: ids, and the X it assigns (national, +86, 0086 and 86 forms).
IDENTITY_FIELDS = frozenset({"binding_id", "SubsId", "BindId", "AuthId", "call_id", "CallId"})
NUMBER_FIELDS = frozenset({"x", "SecretNo", "PhoneNoX", "TelX", "VirtualNum"})
NUMBER_FORMS = ("{n}", "0086{n}", "86{n}")  # as runs of digits: `+86...` is the run `86...`


class IdMap:
    """One run's ids and X numbers -> the other's; the first pairing seen wins."""

    def __init__(self) -> None:
        self.ids: dict[str, str] = {}
        self.numbers: dict[str, str] = {}
        # Ids with characters a token never holds (`SUB:42`): few, replaced as plain text.
        self.odd_ids: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self.ids) + len(self.numbers) + len(self.odd_ids)

    def learn(self, first: Any, second: Any) -> None:
        """Walk two answers to the same call side by side and pair the ids and X numbers they name."""
        if isinstance(first, dict) and isinstance(second, dict):
            for key, value in first.items():
                if key in second:
                    self._pair(key, value, second[key])
        elif isinstance(first, list) and isinstance(second, list):
            for left, right in zip(first, second):
                self.learn(left, right)

    def _pair(self, key: str, first: Any, second: Any) -> None:
        if isinstance(first, str) and isinstance(second, str):
            if first and second and first != second:
                if key in IDENTITY_FIELDS:
                    self._add(self.ids if _TOKEN.fullmatch(first) else self.odd_ids, {first: second})
                elif key in NUMBER_FIELDS:
                    old, new = national(first), national(second)
                    self._add(self.numbers, {f.format(n=old): f.format(n=new) for f in NUMBER_FORMS})
            return
        self.learn(first, second)

    def _add(self, table: dict[str, str], pairs: dict[str, str]) -> None:
        for old, new in pairs.items():
            table.setdefault(old, new)

    def apply(self, value: Any) -> Any:
        """`value` with every learned id (a whole token) and number (a whole run of digits) swapped.

        A lookup per token, not one pattern of every id: a trace of 100,000 bindings stays linear."""
        if not self.ids and not self.numbers and not self.odd_ids:
            return value
        if isinstance(value, str):
            return self._swap(value)
        if isinstance(value, dict):
            return {k: self.apply(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.apply(v) for v in value]
        return value

    def _swap(self, text: str) -> str:
        if self.ids:
            text = _TOKEN.sub(lambda m: self.ids.get(m.group(0), m.group(0)), text)
        for old, new in self.odd_ids.items():
            text = text.replace(old, new)
        if self.numbers:
            text = _DIGITS.sub(lambda m: self.numbers.get(m.group(0), m.group(0)), text)
        return text


_TOKEN = re.compile(r"[A-Za-z0-9_\-]+")
_DIGITS = re.compile(r"[0-9]+")  # a whole run: a number never matches inside a longer one
