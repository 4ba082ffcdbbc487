"""Provider clients by dialect; `make_client` picks one from `[provider] dialect` and wraps it in the breaker.

A vendor-dialect client (aliyun.py, tencent.py, volcengine.py) implements `base.ProviderClient`
and adds one line to `CLIENTS`.
"""

from __future__ import annotations

from typing import Callable

from ..clock import Clock
from ..config import ProviderSettings
from .aliyun import AliyunClient
from .base import ProviderClient
from .breaker import CircuitBreaker, GuardedClient
from .native import NativeClient
from .tencent import TencentClient
from .volcengine import VolcengineClient


def _native(settings: ProviderSettings, clock: Clock) -> ProviderClient:
    return NativeClient(settings.url, timeout=settings.timeout, connect_timeout=settings.connect_timeout)


def _aliyun(settings: ProviderSettings, clock: Clock) -> ProviderClient:
    return AliyunClient.from_settings(settings, clock)


def _tencent(settings: ProviderSettings, clock: Clock) -> ProviderClient:
    return TencentClient.from_settings(settings, clock)


def _volcengine(settings: ProviderSettings, clock: Clock) -> ProviderClient:
    return VolcengineClient.from_settings(settings, clock)


# dialect name -> factory taking the [provider] settings and the core's clock (vendor signatures carry timestamps)
CLIENTS: dict[str, Callable[[ProviderSettings, Clock], ProviderClient]] = {
    "native": _native,
    "tencent": _tencent,
    "aliyun": _aliyun,
    "volcengine": _volcengine,
}


def make_client(settings: ProviderSettings, clock: Clock) -> GuardedClient:
    try:
        factory = CLIENTS[settings.dialect]
    except KeyError:
        raise ValueError(
            f"[provider] dialect {settings.dialect!r} is not known; known: {', '.join(sorted(CLIENTS))}"
        ) from None
    breaker = CircuitBreaker(clock, threshold=settings.breaker_threshold, cooldown=settings.breaker_cooldown)
    return GuardedClient(factory(settings, clock), breaker)
