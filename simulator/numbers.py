"""Phone numbers: validation, normalisation, and the seeded pool of virtual numbers.

The ledger stores every number in national form: an 11-digit mainland mobile
(`1[3-9]` + 9 digits) or a landline with its area code (`0` + 9 to 11 digits).
Dialects strip their own prefixes (`+86`, `0086`) through `normalize`.
"""

from __future__ import annotations

import json
import random
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .errors import InvalidArgument, InvalidNumber, short_repr

NATIONAL_NUMBER = re.compile(r"^(1[3-9]\d{9}|0\d{9,11})$")
# What the native API accepts on the wire (documented in its OpenAPI as the same pattern).
WIRE_NUMBER_PATTERN = r"^(\+86|0086)?(1[3-9][0-9]{9}|0[0-9]{9,11})$"
_WIRE_NUMBER = re.compile(WIRE_NUMBER_PATTERN)

DEFAULT_POOL_KEY = "FC100000000000001"
DEFAULT_CITIES = ("Beijing", "Shanghai", "Hangzhou", "Shenzhen")


def normalize(value: object, field_name: str = "number") -> str:
    """Return the national form of a phone number, or raise InvalidNumber naming the field."""
    if not isinstance(value, str):
        raise InvalidNumber(f"{field_name} must be a string of digits, got {type(value).__name__}", field=field_name)
    match = _WIRE_NUMBER.fullmatch(value)  # fullmatch: `$` alone lets a trailing newline through
    if not match:
        raise InvalidNumber(
            f"{field_name} {short_repr(value)} is not a mainland mobile (1[3-9] + 9 digits) or landline (0 + area code) number",
            field=field_name,
        )
    return match.group(2)


def is_national(value: str) -> bool:
    return bool(NATIONAL_NUMBER.fullmatch(value))


@dataclass(slots=True)
class Number:
    """A virtual number X: which pool key owns it (None: still in the provider's stock), its city, lock."""

    x: str
    city: str
    pool_key: str | None = DEFAULT_POOL_KEY
    locked: bool = False
    vendor: int = 1  # Aliyun's carrier code: 1 China Mobile, 2 Unicom, 3 Telecom
    purchased_at: float | None = None

    def to_dict(self) -> dict:
        return {
            "x": self.x,
            "city": self.city,
            "pool_key": self.pool_key,
            "locked": self.locked,
            "vendor": self.vendor,
        }


@dataclass(frozen=True)
class PoolSpec:
    """How the initial pool is made: generated from the seed, or loaded from a file."""

    seed: int = 0
    # Empty: Faker's mainland mobile numbers; e.g. ("170", "171") for virtual-operator numbers.
    prefixes: tuple[str, ...] = ()
    cities: tuple[str, ...] = DEFAULT_CITIES
    per_city: int = 10
    stock_per_city: int = 20  # numbers in stock, not yet bought by any pool key
    pool_key: str = DEFAULT_POOL_KEY
    numbers: tuple[Number, ...] = field(default=())  # loaded from a file; overrides generation

    def build(self) -> list[Number]:
        if self.numbers:
            return [Number(**n.to_dict()) for n in self.numbers]
        return generate_pool(self)


def generate_pool(spec: PoolSpec) -> list[Number]:
    """Seeded: the same spec always yields the same numbers in the same order."""
    from faker import Faker  # imported here: Faker's import is slow and only pools need it

    fake = Faker("zh_CN")
    fake.seed_instance(spec.seed)
    rng = random.Random(f"pool:{spec.seed}")
    seen: set[str] = set()
    numbers: list[Number] = []

    def fresh() -> str:
        while True:
            if spec.prefixes:
                prefix = rng.choice(spec.prefixes)
                x = fake.numerify(prefix + "#" * (11 - len(prefix)))
            else:
                x = fake.phone_number()
            if is_national(x) and x not in seen:
                seen.add(x)
                return x

    for city in spec.cities:
        for _ in range(spec.per_city):
            numbers.append(Number(x=fresh(), city=city, pool_key=spec.pool_key, vendor=rng.randint(1, 3)))
        for _ in range(spec.stock_per_city):
            numbers.append(Number(x=fresh(), city=city, pool_key=None, vendor=rng.randint(1, 3)))
    return numbers


def load_pool_file(path: str | Path) -> tuple[Number, ...]:
    """A JSON list or a TOML file with `[[numbers]]` tables: `x`, `city`, optional `pool_key`, `locked`."""
    path = Path(path)
    text = path.read_text()
    if path.suffix == ".toml":
        rows = tomllib.loads(text).get("numbers", [])
    else:
        data = json.loads(text)
        rows = data.get("numbers", []) if isinstance(data, dict) else data
    numbers = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or "x" not in row:
            raise InvalidArgument(f"{path}: entry {i} needs at least an 'x'")
        numbers.append(
            Number(
                x=normalize(str(row["x"]), f"numbers[{i}].x"),
                city=str(row.get("city", "Unknown")),
                pool_key=row.get("pool_key", DEFAULT_POOL_KEY),
                locked=bool(row.get("locked", False)),
                vendor=int(row.get("vendor", 1)),
            )
        )
    if len({n.x for n in numbers}) != len(numbers):
        raise InvalidArgument(f"{path}: duplicate numbers")
    return tuple(numbers)
