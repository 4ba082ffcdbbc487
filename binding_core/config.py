"""The core's configuration: a TOML file, every key optional, unknown keys refused by name.

Only `[gray]` is re-read while running (see gray.py); every other key is read at start.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from simulator.connections import ConnectionLimits


class ConfigError(ValueError):
    """A configuration file that cannot be used; the message names the file and key."""


@dataclass(frozen=True)
class ProviderSettings:
    url: str = "http://127.0.0.1:8090"
    dialect: str = "native"
    timeout: float = 3.0  # seconds, total per call
    connect_timeout: float = 1.0
    breaker_threshold: int = 5  # consecutive failed calls that open the circuit
    breaker_cooldown: float = 10.0  # seconds before one probe call is let through
    # Seconds an unanswered call (timeout, 5xx, reset) may still take effect at the provider: at least the
    # provider's own request deadline (pstnsim's: 30 s) plus its query lag. A dead operation is settled, and
    # a finished bind swept for strays, only once this has passed since its last unanswered call.
    in_doubt_window: float = 60.0
    # dialect = "tencent": the NPP credentials (pstnsim's defaults)
    tencent_secret_id: str = "pstnsim-id"
    tencent_secret_key: str = "pstnsim-secret"
    tencent_biz_app_id: str = "pstnsim"
    # dialect = "aliyun": the dyplsapi AccessKey pair and pool key (pstnsim's defaults)
    aliyun_access_key_id: str = "pstnsim-ak"
    aliyun_access_key_secret: str = "pstnsim-secret"
    aliyun_pool_key: str = "FC100000000000001"
    # dialect = "volcengine": the vms AccessKey pair and number pool (pstnsim's defaults)
    volcengine_access_key_id: str = "pstnsim-ak"
    volcengine_secret_access_key: str = "pstnsim-secret"
    volcengine_number_pool_no: str = "NP000000000000000001"


@dataclass(frozen=True)
class RetrySettings:
    max_attempts: int = 8
    base_delay: float = 0.5  # seconds, exponential with full jitter
    max_delay: float = 30.0
    alert_threshold: int = 5


@dataclass(frozen=True)
class GraySettings:
    all: bool = False
    numbers: tuple[str, ...] = ()


@dataclass(frozen=True)
class AlertSettings:
    log: bool = True
    webhook_url: str | None = None
    webhook_timeout: float = 3.0


@dataclass(frozen=True)
class WorkerSettings:
    concurrency: int = 32  # operations in flight per process
    poll_interval: float = 1.0  # seconds between looks for work other processes queued
    lease: float | None = None  # seconds a claim lasts; default 2 x provider timeout + 5


@dataclass(frozen=True)
class HttpSettings:
    """The core's own HTTP server: connection hygiene and who may use /_admin/* (docs/core.md)."""

    header_timeout: float = 10.0  # seconds a request head may take to arrive (slow clients get 408)
    keepalive_timeout: float = 75.0  # seconds an idle kept-alive connection stays open
    max_connections: int | None = None  # None: 1000, or half the open-file limit if that is smaller
    admin_token: str | None = None  # /_admin/* then needs Authorization: Bearer <token>
    allowed_hosts: tuple[str, ...] = ()  # Host names /_admin/* answers to besides the address it serves on
    allow_public_admin: bool = False  # /_admin/* from peers that are not loopback

    def limits(self) -> ConnectionLimits:
        return ConnectionLimits(header_timeout=self.header_timeout, keepalive_timeout=self.keepalive_timeout,
                                max_connections=self.max_connections)


@dataclass(frozen=True)
class BrokerSettings:
    """A message broker carrying retries and watchdogs (docs/core.md, "Broker (RabbitMQ)"); none by default."""

    url: str | None = None  # amqp://user:password@host:5672/vhost
    namespace: str | None = None  # prefix of every exchange and queue; default pstnsim-<database id>
    delivery_limit: int = 5  # deliveries of one message before the broker dead-letters it
    # Seconds the relay holds outbox rows it took: a row whose publish was not confirmed (the broker lost, the
    # replica dead) goes out again after this. Longer than a confirm takes; shorter means quicker recovery.
    relay_lease: float = 10.0


@dataclass(frozen=True)
class CoreConfig:
    provider: ProviderSettings = field(default_factory=ProviderSettings)
    retry: RetrySettings = field(default_factory=RetrySettings)
    # None: no [gray] section, every number takes the new asynchronous path.
    gray: GraySettings | None = None
    alerts: AlertSettings = field(default_factory=AlertSettings)
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    broker: BrokerSettings = field(default_factory=BrokerSettings)
    seed: int = 0
    # Where the [gray] section is re-read from while running (the --config file).
    source: Path | None = None

    @property
    def lease(self) -> float:
        return self.worker.lease if self.worker.lease is not None else 2 * self.provider.timeout + 5.0

    def replace(self, **changes: Any) -> "CoreConfig":
        return dataclasses.replace(self, **changes)


_SECTIONS: dict[str, type] = {
    "provider": ProviderSettings,
    "retry": RetrySettings,
    "gray": GraySettings,
    "alerts": AlertSettings,
    "worker": WorkerSettings,
    "http": HttpSettings,
    "broker": BrokerSettings,
}


def load_config(path: str | Path) -> CoreConfig:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    return parse_config(data, origin=str(path)).replace(source=path)


def parse_config(data: dict[str, Any], origin: str = "config") -> CoreConfig:
    unknown = sorted(set(data) - set(_SECTIONS) - {"seed"})
    if unknown:
        raise ConfigError(f"{origin}: unknown key(s) {', '.join(unknown)}; known: seed, {', '.join(_SECTIONS)}")
    values: dict[str, Any] = {}
    if "seed" in data:
        values["seed"] = _typed(data["seed"], int, f"{origin}: seed")
    for name, cls in _SECTIONS.items():
        if name in data:
            values[name] = parse_section(cls, data[name], f"{origin}: [{name}]")
    config = CoreConfig(**values)
    _validate(config, origin)
    return config


def parse_section(cls: type, table: Any, where: str) -> Any:
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(table) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(fields)}")
    values: dict[str, Any] = {}
    for key, value in table.items():
        kind = _FIELD_TYPES[(cls.__name__, key)]
        values[key] = _typed(value, kind, f"{where} {key}")
    return cls(**values)


# The TOML type each key takes (float keys accept integers).
_FIELD_TYPES: dict[tuple[str, str], Any] = {
    ("ProviderSettings", "url"): str,
    ("ProviderSettings", "dialect"): str,
    ("ProviderSettings", "timeout"): float,
    ("ProviderSettings", "connect_timeout"): float,
    ("ProviderSettings", "breaker_threshold"): int,
    ("ProviderSettings", "breaker_cooldown"): float,
    ("ProviderSettings", "in_doubt_window"): float,
    ("ProviderSettings", "tencent_secret_id"): str,
    ("ProviderSettings", "tencent_secret_key"): str,
    ("ProviderSettings", "tencent_biz_app_id"): str,
    ("ProviderSettings", "aliyun_access_key_id"): str,
    ("ProviderSettings", "aliyun_access_key_secret"): str,
    ("ProviderSettings", "aliyun_pool_key"): str,
    ("ProviderSettings", "volcengine_access_key_id"): str,
    ("ProviderSettings", "volcengine_secret_access_key"): str,
    ("ProviderSettings", "volcengine_number_pool_no"): str,
    ("RetrySettings", "max_attempts"): int,
    ("RetrySettings", "base_delay"): float,
    ("RetrySettings", "max_delay"): float,
    ("RetrySettings", "alert_threshold"): int,
    ("GraySettings", "all"): bool,
    ("GraySettings", "numbers"): tuple,
    ("AlertSettings", "log"): bool,
    ("AlertSettings", "webhook_url"): str,
    ("AlertSettings", "webhook_timeout"): float,
    ("WorkerSettings", "concurrency"): int,
    ("WorkerSettings", "poll_interval"): float,
    ("WorkerSettings", "lease"): float,
    ("HttpSettings", "header_timeout"): float,
    ("HttpSettings", "keepalive_timeout"): float,
    ("HttpSettings", "max_connections"): int,
    ("HttpSettings", "admin_token"): str,
    ("HttpSettings", "allowed_hosts"): tuple,
    ("HttpSettings", "allow_public_admin"): bool,
    ("BrokerSettings", "url"): str,
    ("BrokerSettings", "namespace"): str,
    ("BrokerSettings", "delivery_limit"): int,
    ("BrokerSettings", "relay_lease"): float,
}


def _typed(value: Any, kind: Any, where: str) -> Any:
    if kind is bool:
        if isinstance(value, bool):
            return value
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif kind is str:
        if isinstance(value, str):
            return value
    elif kind is tuple:
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
        raise ConfigError(f"{where} must be a list of strings")
    raise ConfigError(f"{where} must be {kind.__name__}, got {type(value).__name__} {value!r}")


def url_problem(url: str) -> str | None:
    """Why `url` cannot be the provider's base URL (None: it can): an http(s) URL with a host."""
    try:
        parts = urlsplit(url)
        parts.port  # raises ValueError for a port that is not a number or out of range
    except ValueError as exc:
        return f"{url!r} is not a URL ({exc})"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{url!r} is not an http(s) URL such as http://127.0.0.1:8090"
    return None


NAMESPACE_PATTERN = re.compile(r"[A-Za-z0-9_.:-]{1,200}")


def namespace_problem(namespace: str) -> str | None:
    """Why `namespace` cannot prefix the broker's exchange and queue names (None: it can)."""
    if NAMESPACE_PATTERN.fullmatch(namespace) is None:
        return f"{namespace!r} is not a namespace: 1-200 characters from A-Z a-z 0-9 _ . : -"
    return None


def broker_problems(broker: BrokerSettings) -> list[str]:
    """What is wrong with the [broker] settings (the URL's scheme, the namespace, the limit); [] when usable."""
    from .broker.connection import broker_url_problem

    problems = []
    if broker.url is not None:
        url_error = broker_url_problem(broker.url)
        if url_error is not None:
            problems.append(f"url: {url_error}")
    if broker.namespace is not None:
        ns_error = namespace_problem(broker.namespace)
        if ns_error is not None:
            problems.append(f"namespace: {ns_error}")
    if broker.delivery_limit < 1:
        problems.append("delivery_limit must be >= 1")
    if broker.relay_lease <= 0:
        problems.append("relay_lease must be > 0")
    return problems


def _validate(config: CoreConfig, origin: str) -> None:
    url_error = url_problem(config.provider.url)
    checks = [
        (url_error is None, f"[provider] url: {url_error}"),
        (config.provider.timeout > 0, "[provider] timeout must be > 0"),
        (config.provider.connect_timeout > 0, "[provider] connect_timeout must be > 0"),
        (config.provider.breaker_threshold >= 1, "[provider] breaker_threshold must be >= 1"),
        (config.provider.breaker_cooldown >= 0, "[provider] breaker_cooldown must be >= 0"),
        (config.provider.in_doubt_window >= 0, "[provider] in_doubt_window must be >= 0"),
        (config.retry.max_attempts >= 1, "[retry] max_attempts must be >= 1"),
        (config.retry.base_delay >= 0, "[retry] base_delay must be >= 0"),
        (config.retry.max_delay >= config.retry.base_delay, "[retry] max_delay must be >= base_delay"),
        (config.retry.alert_threshold >= 1, "[retry] alert_threshold must be >= 1"),
        (config.worker.concurrency >= 1, "[worker] concurrency must be >= 1"),
        (config.worker.poll_interval > 0, "[worker] poll_interval must be > 0"),
        (config.worker.lease is None or config.worker.lease > 0, "[worker] lease must be > 0"),
        (config.http.admin_token != "", "[http] admin_token must not be empty (leave it out for none)"),
        *((False, f"[http] {problem}") for problem in config.http.limits().problems()),
        *((False, f"[broker] {problem}") for problem in broker_problems(config.broker)),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(f"{origin}: {message}")
