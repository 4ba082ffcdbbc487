"""Phone-number validation at the core's edge: the same national forms the provider accepts."""

from __future__ import annotations

import re

from simulator.errors import short_repr

# What the API accepts (documented in the OpenAPI as this pattern); stored in national form.
WIRE_NUMBER_PATTERN = r"^(\+86|0086)?(1[3-9][0-9]{9}|0[0-9]{9,11})$"
_WIRE_NUMBER = re.compile(WIRE_NUMBER_PATTERN)


class InvalidNumber(ValueError):
    def __init__(self, field: str, value: object) -> None:
        super().__init__(
            f"{field} {short_repr(value)} is not a mainland mobile (1[3-9] + 9 digits) or landline (0 + area code) number"
        )
        self.field = field


def normalize(value: object, field: str) -> str:
    """The national form of `value`, or InvalidNumber naming the field."""
    if not isinstance(value, str):
        raise InvalidNumber(field, value)
    match = _WIRE_NUMBER.fullmatch(value)
    if not match:
        raise InvalidNumber(field, value)
    return match.group(2)
