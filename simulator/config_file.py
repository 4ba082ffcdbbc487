"""`pstnsim provider --config FILE`: a strict TOML file turned into a ProviderConfig.

Strict because a misspelt key (`acces_key_id`) silently ignored would leave the
default credentials in force and every signed request refused for no visible
reason: an unknown key, a wrong type or an impossible value is a ConfigFileError
naming the key. Every key is optional; what the file leaves out keeps
ProviderConfig's default. Parsing (`parse_provider_config`) is pure;
`load_provider_config` only adds the file read.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from pathlib import Path
from typing import Any, Mapping

from .config import AliyunCredentials, ProviderConfig, TencentCredentials, VolcengineCredentials
from .numbers import PoolSpec

TOP_KEYS = ("seed", "host", "port", "webhook_url", "request_deadline", "pool", "aliyun", "tencent", "volcengine", "http")
HTTP_KEYS = ("header_timeout", "keepalive_timeout", "max_connections", "admin_token", "allowed_hosts",
             "allow_public_admin")
POOL_KEYS = ("per_city", "stock_per_city", "cities", "prefixes", "pool_key")
ALIYUN_KEYS = ("access_key_id", "access_key_secret", "pool_key", "report_url")
TENCENT_KEYS = ("secret_id", "secret_key", "biz_app_id")
VOLCENGINE_KEYS = ("access_key_id", "secret_access_key", "number_pool_no", "callback_url", "auth_token")
MAX_PER_CITY = 100_000  # a bigger pool is a typo, and generating it would take minutes
# A prefix some 11-digit national number can start with (numbers.NATIONAL_NUMBER): `1`, `1[3-9]...` or `0...`.
_PREFIX = re.compile(r"^(1|1[3-9]\d{0,8}|0\d{0,9})$")


class ConfigFileError(ValueError):
    """A config file that cannot be used; the message names the file (when known) and the key."""


def load_provider_config(path: str | Path) -> ProviderConfig:
    """Read and parse `path`; OSError when it cannot be read, ConfigFileError when it is not usable."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
        return parse_provider_config(data)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigFileError(f"{path}: not valid TOML: {exc}") from None
    except ConfigFileError as exc:
        raise ConfigFileError(f"{path}: {exc}") from None


def parse_provider_config(data: Mapping[str, Any], base: ProviderConfig | None = None) -> ProviderConfig:
    """`data` (a parsed TOML document) laid over `base` (default: ProviderConfig())."""
    base = base or ProviderConfig()
    _known(data, TOP_KEYS, "")
    seed = _int(data, "seed", "seed", base.seed)
    port = _int(data, "port", "port", base.port)
    if not 0 <= port <= 65535:
        raise ConfigFileError(f"port must be 0..65535, got {port}")
    pool_table = _table(data, "pool", "pool")
    pool = _pool(pool_table, dataclasses.replace(base.pool, seed=seed))
    aliyun = _accounts(data, "aliyun", ALIYUN_KEYS, lambda row, where: _aliyun(row, where, pool.pool_key))
    tencent = _accounts(data, "tencent", TENCENT_KEYS, _tencent)
    volcengine = _accounts(data, "volcengine", VOLCENGINE_KEYS, _volcengine)
    _unique([a.access_key_id for a in aliyun], "aliyun.credentials", "access_key_id")
    _unique([t.secret_id for t in tencent], "tencent.credentials", "secret_id")
    _unique([v.access_key_id for v in volcengine], "volcengine.credentials", "access_key_id")
    base = _http(_table(data, "http", "http"), base)
    return dataclasses.replace(
        base,
        host=_str(data, "host", "host", base.host),
        port=port,
        seed=seed,
        webhook_url=_url(data, "webhook_url", "webhook_url", base.webhook_url),
        request_deadline=_seconds(data, "request_deadline", base.request_deadline),
        pool=pool,
        aliyun=aliyun or base.aliyun,
        tencent=tencent or base.tencent,
        volcengine=volcengine or base.volcengine,
    )


# ---- sections ----------------------------------------------------------------


def _http(table: Mapping[str, Any], base: ProviderConfig) -> ProviderConfig:
    """`[http]`: connection hygiene and the admin API's gate (docs/provider.md, "Hostile clients")."""
    _known(table, HTTP_KEYS, "http.")
    max_connections = base.max_connections
    if "max_connections" in table:
        max_connections = _int(table, "max_connections", "http.max_connections", 0)
        if max_connections < 1:
            raise ConfigFileError(f"http.max_connections must be >= 1, got {max_connections}")
    allow_public = table.get("allow_public_admin", base.allow_public_admin)
    if not isinstance(allow_public, bool):
        raise ConfigFileError(f"http.allow_public_admin must be true or false, got {type(allow_public).__name__}")
    return dataclasses.replace(
        base,
        header_timeout=_seconds(table, "header_timeout", base.header_timeout, "http."),
        keepalive_timeout=_seconds(table, "keepalive_timeout", base.keepalive_timeout, "http."),
        max_connections=max_connections,
        admin_token=_str(table, "admin_token", "http.admin_token", "") if "admin_token" in table else base.admin_token,
        allowed_hosts=_strings(table, "allowed_hosts", "http.allowed_hosts", base.allowed_hosts, allow_empty=True),
        allow_public_admin=allow_public,
    )


def _pool(table: Mapping[str, Any], base: PoolSpec) -> PoolSpec:
    _known(table, POOL_KEYS, "pool.")
    per_city = _count(table, "per_city", base.per_city)
    stock_per_city = _count(table, "stock_per_city", base.stock_per_city)
    cities = _strings(table, "cities", "pool.cities", base.cities, allow_empty=False)
    prefixes = _strings(table, "prefixes", "pool.prefixes", base.prefixes, allow_empty=True)
    for prefix in prefixes:
        if not _PREFIX.fullmatch(prefix):
            raise ConfigFileError(
                f"pool.prefixes: {prefix!r} cannot start an 11-digit mainland number "
                "(digits: 1, 13..19 followed by up to 8 digits, or 0 followed by up to 9)"
            )
    wanted = len(cities) * (per_city + stock_per_city)
    if prefixes and _capacity(prefixes) < wanted:
        raise ConfigFileError(
            f"pool.prefixes: {list(prefixes)} give only {_capacity(prefixes)} distinct numbers, "
            f"fewer than the {wanted} the pool needs ({len(cities)} cities x {per_city + stock_per_city})"
        )
    return dataclasses.replace(
        base,
        per_city=per_city,
        stock_per_city=stock_per_city,
        cities=cities,
        prefixes=prefixes,
        pool_key=_str(table, "pool_key", "pool.pool_key", base.pool_key),
    )


def _capacity(prefixes: tuple[str, ...]) -> int:
    """How many distinct national numbers the prefixes can yield (a bare `1` only reaches 13..19)."""
    total = 0
    for prefix in set(prefixes):
        free = 11 - len(prefix)
        total += 7 * 10 ** (free - 1) if prefix == "1" else 10**free
    return total


def _aliyun(row: Mapping[str, Any], where: str, pool_key: str) -> AliyunCredentials:
    default = AliyunCredentials()
    return AliyunCredentials(
        access_key_id=_str(row, "access_key_id", f"{where}.access_key_id", default.access_key_id),
        access_key_secret=_str(row, "access_key_secret", f"{where}.access_key_secret", default.access_key_secret),
        # An account without its own pool key owns the pool's numbers.
        pool_key=_str(row, "pool_key", f"{where}.pool_key", pool_key),
        report_url=_url(row, "report_url", f"{where}.report_url", default.report_url),
    )


def _tencent(row: Mapping[str, Any], where: str) -> TencentCredentials:
    default = TencentCredentials()
    return TencentCredentials(
        secret_id=_str(row, "secret_id", f"{where}.secret_id", default.secret_id),
        secret_key=_str(row, "secret_key", f"{where}.secret_key", default.secret_key),
        biz_app_id=_str(row, "biz_app_id", f"{where}.biz_app_id", default.biz_app_id),
    )


def _volcengine(row: Mapping[str, Any], where: str) -> VolcengineCredentials:
    default = VolcengineCredentials()
    return VolcengineCredentials(
        access_key_id=_str(row, "access_key_id", f"{where}.access_key_id", default.access_key_id),
        secret_access_key=_str(row, "secret_access_key", f"{where}.secret_access_key", default.secret_access_key),
        number_pool_no=_str(row, "number_pool_no", f"{where}.number_pool_no", default.number_pool_no),
        callback_url=_url(row, "callback_url", f"{where}.callback_url", default.callback_url),
        auth_token=_str(row, "auth_token", f"{where}.auth_token", default.auth_token),
    )


def _accounts(data: Mapping[str, Any], vendor: str, keys: tuple[str, ...], build: Any) -> tuple:
    """`[[<vendor>.credentials]]` rows, each built by `build(row, where)`; () when the file has none."""
    table = _table(data, vendor, vendor)
    _known(table, ("credentials",), f"{vendor}.")
    rows = table.get("credentials", [])
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise ConfigFileError(f"{vendor}.credentials must be an array of tables ([[{vendor}.credentials]])")
    accounts = []
    for index, row in enumerate(rows):
        where = f"{vendor}.credentials[{index}]"
        _known(row, keys, where + ".")
        accounts.append(build(row, where))
    return tuple(accounts)


# ---- typed fields --------------------------------------------------------------


def _known(table: Mapping[str, Any], keys: tuple[str, ...], prefix: str) -> None:
    for key in table:
        if key not in keys:
            raise ConfigFileError(f"unknown key {prefix}{key!r} (known here: {', '.join(keys)})")


def _table(data: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ConfigFileError(f"{where} must be a table, got {type(value).__name__}")
    return value


def _int(data: Mapping[str, Any], key: str, where: str, default: int) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigFileError(f"{where} must be an integer, got {value!r}")
    return value


def _seconds(data: Mapping[str, Any], key: str, default: float, prefix: str = "") -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
        raise ConfigFileError(f"{prefix}{key} must be a positive number of seconds, got {value!r}")
    return float(value)


def _count(table: Mapping[str, Any], key: str, default: int) -> int:
    value = _int(table, key, f"pool.{key}", default)
    if not 0 <= value <= MAX_PER_CITY:
        raise ConfigFileError(f"pool.{key} must be 0..{MAX_PER_CITY}, got {value}")
    return value


def _str(data: Mapping[str, Any], key: str, where: str, default: str) -> str:
    value = data.get(key, default)
    if not isinstance(value, str) or not value.strip():
        # The type, not the value: the value may be a secret.
        got = "an empty string" if isinstance(value, str) else type(value).__name__
        raise ConfigFileError(f"{where} must be a non-empty string, got {got}")
    return value


def _url(data: Mapping[str, Any], key: str, where: str, default: str | None) -> str | None:
    if key not in data:
        return default
    value = _str(data, key, where, "")
    if not value.startswith(("http://", "https://")):
        raise ConfigFileError(f"{where} must be an http:// or https:// URL, got {value!r}")
    return value


def _strings(table: Mapping[str, Any], key: str, where: str, default: tuple[str, ...], *, allow_empty: bool) -> tuple[str, ...]:
    value = table.get(key, list(default))
    if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
        raise ConfigFileError(f"{where} must be an array of non-empty strings, got {value!r}")
    if not value and not allow_empty:
        raise ConfigFileError(f"{where} must not be empty")
    _unique(value, where, "value")
    return tuple(value)


def _unique(values: list[str], where: str, what: str) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ConfigFileError(f"{where}: {what} {value!r} appears twice")
        seen.add(value)
