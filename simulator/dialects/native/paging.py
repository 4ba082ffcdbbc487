"""Paging of the native API's lists: `limit` rows after the cursor `after`, with `total` and `next`.

The cursor is the id (a number, for /v1/numbers) of the last row of the previous page, so a page never
repeats or skips a row that stays in the list. A row that left the list between two pages (a binding
expired or deleted) still places the cursor when its id is `<prefix>_<digits>` (the ledger hands ids out
in creation order); a cursor that names nothing else the list could hold gives an empty last page (any
string is a well-formed cursor, so it is not refused).
"""

from __future__ import annotations

import re
from typing import Callable, Mapping, Sequence, TypeVar

from ...errors import InvalidArgument, short_repr

T = TypeVar("T")
DEFAULT_LIMIT = 1000
MAX_LIMIT = 1000
_COUNTED_ID = re.compile(r"^([a-z]+)_(\d{1,18})$")


def page_params(params: Mapping[str, str]) -> tuple[int, str | None]:
    """`limit` (1..MAX_LIMIT, default DEFAULT_LIMIT) and `after` from a request's query, checked."""
    text = params.get("limit")
    limit = DEFAULT_LIMIT
    if text is not None:
        if not text.isascii() or not text.isdigit() or len(text) > 6 or not 1 <= int(text) <= MAX_LIMIT:
            raise InvalidArgument(f"limit must be a whole number from 1 to {MAX_LIMIT}, got {short_repr(text)}",
                                  field="limit")
        limit = int(text)
    after = params.get("after")
    if after is not None and not 1 <= len(after) <= 64:
        raise InvalidArgument("after must be the `next` of a previous page (1 to 64 characters)", field="after")
    return limit, after


def page(rows: Sequence[T], key: Callable[[T], str], after: str | None, limit: int) -> tuple[list[T], str | None]:
    """The rows after `after` (all of them from the start when None), at most `limit`, and the next cursor."""
    start = 0
    if after is not None:
        start = _start_after(rows, key, after)
    chosen = list(rows[start : start + limit])
    more = start + limit < len(rows)
    return chosen, (key(chosen[-1]) if more and chosen else None)


def _start_after(rows: Sequence[T], key: Callable[[T], str], after: str) -> int:
    for index, row in enumerate(rows):
        if key(row) == after:
            return index + 1
    counted = _COUNTED_ID.fullmatch(after)
    if counted is not None:
        prefix, number = counted.group(1), int(counted.group(2))
        for index, row in enumerate(rows):
            other = _COUNTED_ID.fullmatch(key(row))
            if other is not None and other.group(1) == prefix and int(other.group(2)) > number:
                return index
    return len(rows)
