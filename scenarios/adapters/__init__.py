"""Adapters: how the harness reaches a binding service (docs/harness.md, "Adapters").

`CoreApiAdapter` speaks the bundled core's API; a team subclasses
`ServiceAdapter` to map its own and passes it with `--adapter FILE.py`.
"""

from .base import (
    ACCEPTED, DONE, REFUSED, UNKNOWN, AdapterError, ModeStatus, NumberStatus, Reply, ServiceAdapter, offers,
)
from .core_api import CoreApiAdapter
from .loading import AdapterLoadError, load_adapter

__all__ = [
    "ACCEPTED", "DONE", "REFUSED", "UNKNOWN", "AdapterError", "AdapterLoadError", "CoreApiAdapter", "ModeStatus",
    "NumberStatus", "Reply", "ServiceAdapter", "load_adapter", "offers",
]
