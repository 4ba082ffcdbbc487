"""What the core needs from a provider, whatever its wire dialect: create, find and delete bindings.

Every call returns a typed outcome instead of raising, because the worker's
decision depends on which kind it is:
- `Ok`: the provider answered and the change (or query) happened;
- `Refused`: a definite failure (4xx with a code): nothing changed;
- `Unknown`: timeout, 5xx, transport error or a garbled answer: the provider
  may or may not have applied the change;
- `NotSent`: the request never left (circuit open): nothing changed;
- `AuthFailed`: the provider refused our credentials or signature: nothing
  changed, and nothing will until an operator fixes the configuration (so the
  worker alerts at once and keeps retrying, and /health says degraded).
A dialect implementation (native.py; aliyun.py, tencent.py) only maps its wire
format onto these.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar, Union

T = TypeVar("T")


@dataclass(frozen=True)
class ProviderBinding:
    binding_id: str
    mode: str
    x: str
    a: str | None
    b: str | None
    status: str = "active"


@dataclass(frozen=True)
class Ok(Generic[T]):
    value: T


@dataclass(frozen=True)
class Refused:
    code: str
    message: str
    status: int

    def describe(self) -> str:
        return f"refused {self.status} {self.code}: {self.message}"


@dataclass(frozen=True)
class Unknown:
    reason: str
    timed_out: bool = False
    # Whether the lost call could still change something at the provider, later (a create or delete
    # may be held and applied after we gave up); False for a pure query. It puts the operation in doubt.
    may_apply: bool = True

    def describe(self) -> str:
        return f"unknown outcome: {self.reason}"


def read_only(outcome: "Outcome[T]") -> "Outcome[T]":
    """The outcome of a call that changes nothing at the provider: losing it leaves nothing in doubt."""
    return dataclasses.replace(outcome, may_apply=False) if isinstance(outcome, Unknown) else outcome


@dataclass(frozen=True)
class NotSent:
    reason: str

    def describe(self) -> str:
        return f"not sent: {self.reason}"


@dataclass(frozen=True)
class AuthFailed:
    """A 401/403 or a vendor's signature / key / app-id refusal: an operator's problem, never a business answer."""

    code: str
    message: str
    status: int

    def describe(self) -> str:
        return f"authentication refused {self.status} {self.code}: {self.message}"


Outcome = Union[Ok[T], Refused, Unknown, NotSent, AuthFailed]

# Codes that mean "the binding is already gone" when deleting.
NOT_FOUND_CODES = frozenset({"BINDING_NOT_FOUND"})
# Codes a create may get because of a binding that an earlier attempt of ours made (not yet visible to queries).
CONFLICT_CODES = frozenset({"BIND_CONFLICT"})


class ProviderClient(Protocol):
    """The interface the core calls; `idempotency_key` is derived from the operation id on every attempt."""

    async def create_binding(
        self, mode: str, x: str, b: str, a: str | None = None, *, idempotency_key: str
    ) -> "Outcome[ProviderBinding]": ...

    async def find_bindings(
        self, mode: str, x: str, b: str | None = None, a: str | None = None
    ) -> "Outcome[list[ProviderBinding]]": ...

    async def get_binding(self, binding_id: str) -> "Outcome[ProviderBinding | None]":
        """The binding if it is active; Ok(None) when the provider says it does not exist (or not any more)."""
        ...

    async def delete_binding(self, binding_id: str, *, idempotency_key: str) -> "Outcome[None]": ...

    async def close(self) -> None: ...
