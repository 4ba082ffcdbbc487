"""Stand-in numbers for the people in a trace: every real A and B number is replaced, wherever it appears
(parameters, query strings, form and JSON bodies, answers), by a valid-looking mobile number, the same one
each time, so bindings still line up across the trace.

Stand-ins are handed out in order of first sight (`19900000001`, `19900000002`, ...): they carry nothing
of the real number, not even a hash that could be brute-forced over the 10^9 mobiles. X numbers are the
provider's, not a person's, and are kept.
"""

from __future__ import annotations

import re
from typing import Any, Iterable

from ..journal import _replace_strings
from .meaning import national

STAND_IN_PREFIX = "199"
# Wire and parameter names that carry a person's number (A or B), in any dialect.
PERSON_FIELDS = frozenset({
    "a", "b", "caller", "callee",
    "PhoneNoA", "PhoneNoB", "TelA", "TelB",  # aliyun
    "Src", "Dst", "CallerNum", "CalleeNum", "Caller", "Callee", "PhoneNo", "peer_no", "called", "caller_num",  # tencent, pushes
})
_NUMBER_FORMS = ("{n}", "+86{n}", "0086{n}", "86{n}")


class Pseudonyms:
    """Remembers real -> stand-in for one trace. `keep` lists numbers never replaced (the X numbers)."""

    def __init__(self, keep: Iterable[str] = ()) -> None:
        self.keep = {national(k) for k in keep}
        self._stand_ins: dict[str, str] = {}
        self._used: set[str] = set()  # stand-ins handed out
        self._reals: set[str] = set()  # real numbers seen: never handed out as a stand-in
        self._next = 1
        self._pattern: re.Pattern[str] | None = None

    def __len__(self) -> int:
        return len(self._stand_ins)

    def stand_in(self, real: str) -> str:
        """The stand-in for one real number (national or wire form); the same each time."""
        real = national(real)
        if real in self.keep:
            return real
        found = self._stand_ins.get(real)
        if found is None:
            self._reals.add(real)
            while True:
                found = f"{STAND_IN_PREFIX}{self._next:08d}"
                self._next += 1
                if found not in self.keep and found not in self._reals and found != real:
                    break
            self._stand_ins[real] = found
            self._used.add(found)
            self._pattern = None
        return found

    def learn(self, value: Any) -> None:
        """Find person numbers under PERSON_FIELDS anywhere in `value` (dicts, lists, query pairs).

        All the numbers `value` holds are known before any gets a stand-in, so no stand-in is one of them."""
        found: list[str] = []
        _collect(value, found)
        fresh = [n for n in dict.fromkeys(national(raw) for raw in found)
                 if n.isdigit() and len(n) >= 10 and n not in self._used]
        self._reals.update(fresh)
        for real in fresh:
            self.stand_in(real)

    def replace(self, value: Any) -> Any:
        """`value` with every known real number, in each of its wire forms, replaced in every string."""
        if not self._stand_ins:
            return value
        return _replace_strings(value, self._replace_text)

    def _replace_text(self, text: str) -> str:
        if self._pattern is None:
            forms = {}
            for real, fake in self._stand_ins.items():
                if real == fake:
                    continue
                for form in _NUMBER_FORMS:
                    forms[form.format(n=real)] = form.format(n=fake)
            self._forms = forms
            # Longest first, and never inside a longer run of digits.
            alternatives = "|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True))
            self._pattern = re.compile(rf"(?<![0-9])(?:{alternatives})(?![0-9])") if forms else re.compile(r"(?!)")
        return self._pattern.sub(lambda m: self._forms[m.group(0)], text)


def _collect(value: Any, found: list[str]) -> None:
    if isinstance(value, dict):
        for name, item in value.items():
            if name in PERSON_FIELDS and isinstance(item, str):
                found.append(item)
            elif name in PERSON_FIELDS and isinstance(item, list):
                found.extend(one for one in item if isinstance(one, str))
            else:
                _collect(item, found)
    elif isinstance(value, list):
        for item in value:
            _collect(item, found)
    elif isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str):
        if value[0] in PERSON_FIELDS and isinstance(value[1], str):
            found.append(value[1])
