"""Waiting on the broker library for at most a while, then walking away.

`asyncio.wait_for` cancels what timed out and then waits for it to end; a call on a dead aiormq connection may not
end even when cancelled (aiormq 6.9 awaits a frame's write without a timeout), so wait_for itself can hang. These
helpers cancel and leave it."""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable


async def finished_within(work: Awaitable[Any], seconds: float) -> bool:
    """Run `work` for at most `seconds`: True when it ended in time (raising its error if it failed), False when
    it was cancelled and left."""
    task = asyncio.ensure_future(work)
    try:
        done, _ = await asyncio.wait({task}, timeout=seconds)
    finally:
        if not task.done():
            task.cancel()
            task.add_done_callback(drop_outcome)
    if not done:
        return False
    task.result()
    return True


def drop_outcome(task: asyncio.Future[Any]) -> None:
    """Retrieve an abandoned call's outcome, so asyncio does not log it as an exception nobody retrieved."""
    if not task.cancelled():
        task.exception()
