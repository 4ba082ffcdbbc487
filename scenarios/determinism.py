"""What keeps a seed's run the same run: Hypothesis's choices depend on the seed alone, never on the code around.

Hypothesis (since 6.131) mixes "local constants" into its draws: literals it
collects from every project module imported so far (binding_core, simulator,
scenarios...: integers beyond +-100, floats, short strings), used for about one
draw in twenty whose range admits them (a gray mask over 8 numbers, 0..255, say).
So an unrelated literal added anywhere in the project, or a module imported
part-way through a run, changed which steps a seed drew: "caught at seed 7"
held only until the next commit. `seed_only_draws()` turns that pool off while
the harness runs Hypothesis; the draws then follow the seed (and the global
constants of the pinned Hypothesis version) alone. Other inputs of a run are
seeded already (see docs/harness.md, "Determinism and replay").
"""

from __future__ import annotations

import contextlib
import threading
from typing import Iterator

from hypothesis.internal.conjecture import providers as _providers

_lock = threading.Lock()


@contextlib.contextmanager
def seed_only_draws() -> Iterator[None]:
    """Within the block, Hypothesis draws no constants from the project's source (see the module docstring)."""
    empty = _providers.Constants()
    with _lock:
        original = _providers._get_local_constants
        _providers._get_local_constants = lambda: empty
        _providers.CONSTANTS_CACHE.cache.clear()  # cached pools were built with the local constants
    try:
        yield
    finally:
        with _lock:
            _providers._get_local_constants = original
            _providers.CONSTANTS_CACHE.cache.clear()
