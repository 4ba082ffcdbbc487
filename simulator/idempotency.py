"""Idempotency keys: the first result per key, replayed to every retry that carries the same key.

Wire-neutral (any dialect can hold one). A key is bound to the request's
fingerprint: the same key with a different request is refused. A result is
kept only when the caller says it is worth keeping (the operation ran), so a
request refused for bad input can be corrected and resent under its key.
Concurrent requests with one key run the operation once: later ones wait for
the first and get its result. Entries age out on the injected clock.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Generic, TypeVar

from .clock import Clock
from .errors import InvalidArgument

T = TypeVar("T")

DEFAULT_TTL = 24 * 3600.0
DEFAULT_MAX_ENTRIES = 10_000


class IdempotencyKeyReused(InvalidArgument):
    code = "IDEMPOTENCY_KEY_REUSED"
    status = 422


@dataclass
class _Entry(Generic[T]):
    fingerprint: str
    settled: asyncio.Future[None]
    result: T | None = None
    done: bool = False
    stored_at: float = 0.0


@dataclass
class IdempotencyStore(Generic[T]):
    clock: Clock
    ttl: float = DEFAULT_TTL
    max_entries: int = DEFAULT_MAX_ENTRIES
    _entries: dict[str, _Entry[T]] = field(default_factory=dict, init=False)

    def reset(self) -> None:
        """Forget every key (the provider's reset: back to the seeded initial state)."""
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    async def once(
        self, key: str, fingerprint: str, compute: Callable[[], Awaitable[T]], keep: Callable[[T], bool]
    ) -> tuple[T, bool]:
        """Run `compute` unless `key` already holds a result; return (result, replayed)."""
        while True:
            self._evict()
            entry = self._entries.get(key)
            if entry is not None and entry.done and entry.stored_at <= self.clock.now() - self.ttl:
                del self._entries[key]  # aged out, though not the oldest
                entry = None
            if entry is None:
                break
            if entry.fingerprint != fingerprint:
                raise IdempotencyKeyReused(
                    f"Idempotency-Key {key!r} was already used for a different request", field="Idempotency-Key"
                )
            if entry.done:
                return entry.result, True  # type: ignore[return-value]
            await asyncio.shield(entry.settled)  # the first request with this key is still running
        entry = _Entry(fingerprint, asyncio.get_running_loop().create_future())
        self._entries[key] = entry
        self._evict()
        kept = False
        try:
            result = await compute()
            if keep(result):
                entry.result, entry.done, entry.stored_at, kept = result, True, self.clock.now(), True
            return result, False
        finally:
            if not kept and self._entries.get(key) is entry:
                del self._entries[key]
            entry.settled.set_result(None)

    def _evict(self) -> None:
        """Drop, oldest first, results past the TTL or beyond `max_entries`; stop at the first one to keep.

        Keys are inserted in arrival order, so this is amortised O(1) per request.
        """
        horizon = self.clock.now() - self.ttl
        while self._entries:
            key, entry = next(iter(self._entries.items()))
            if not entry.done or (entry.stored_at > horizon and len(self._entries) <= self.max_entries):
                return
            del self._entries[key]


def fingerprint(*parts: bytes | str) -> str:
    """A stable digest of a request's parts (never Python's salted `hash()`)."""
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()
