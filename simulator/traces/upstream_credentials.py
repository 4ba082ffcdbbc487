"""`pstnsim record --upstream-credentials FILE`: the real provider's key, read from a TOML file.

Never from the command line (it would land in shell history and `ps`), never echoed: errors name the file
and the key, not the value, and the secret fields are left out of every repr. The file holds one table per
vendor; only the table of the dialect being recorded is read:

    [aliyun]
    access_key_id = "LTAI..."
    access_key_secret = "..."
    pool_key = "FC..."        # optional: the upstream account's pool key, sent instead of the client's

    [tencent]
    secret_id = "AKID..."
    secret_key = "..."
    biz_app_id = "..."        # optional: the upstream's BizAppId, sent instead of the client's
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

REQUIRED = {"aliyun": ("access_key_id", "access_key_secret"), "tencent": ("secret_id", "secret_key")}
OPTIONAL = {"aliyun": ("pool_key",), "tencent": ("biz_app_id",)}


class UpstreamCredentialsError(ValueError):
    """A credentials file that cannot be used; the message names the file and the key, never a value."""


@dataclass(frozen=True)
class UpstreamAliyun:
    access_key_id: str = field(repr=False)
    access_key_secret: str = field(repr=False)
    pool_key: str | None = None

    @property
    def key_id(self) -> str:
        return self.access_key_id

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every value that must never reach a trace or a log."""
        return (self.access_key_id, self.access_key_secret)


@dataclass(frozen=True)
class UpstreamTencent:
    secret_id: str = field(repr=False)
    secret_key: str = field(repr=False)
    biz_app_id: str | None = None

    @property
    def key_id(self) -> str:
        return self.secret_id

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.secret_id, self.secret_key)


UpstreamCredentials = UpstreamAliyun | UpstreamTencent


def load_upstream_credentials(path: str | Path, dialect: str) -> UpstreamCredentials:
    """The `[aliyun]` or `[tencent]` table of `path`; UpstreamCredentialsError naming file and key otherwise."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UpstreamCredentialsError(f"{path}: cannot read the upstream credentials: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UpstreamCredentialsError(f"{path}: not UTF-8 text (expected a TOML file)") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UpstreamCredentialsError(f"{path}: not valid TOML: {exc}") from None
    try:
        return parse_upstream_credentials(data, dialect)
    except UpstreamCredentialsError as exc:
        raise UpstreamCredentialsError(f"{path}: {exc}") from None


def parse_upstream_credentials(data: Mapping[str, Any], dialect: str) -> UpstreamCredentials:
    """Pure: the parsed TOML document's table for `dialect` (aliyun or tencent)."""
    if dialect not in REQUIRED:
        raise UpstreamCredentialsError(f"the {dialect} dialect signs nothing and needs no upstream credentials")
    unknown = [key for key in data if key not in REQUIRED]
    if unknown:
        raise UpstreamCredentialsError(f"unknown table [{unknown[0]}] (known: [aliyun], [tencent])")
    table = data.get(dialect)
    if table is None:
        raise UpstreamCredentialsError(f"no [{dialect}] table: recording --dialect {dialect} needs "
                                       f"{' and '.join(f'{dialect}.{k}' for k in REQUIRED[dialect])}")
    if not isinstance(table, dict):
        raise UpstreamCredentialsError(f"{dialect} must be a table ([{dialect}]), got {type(table).__name__}")
    known = REQUIRED[dialect] + OPTIONAL[dialect]
    for key in table:
        if key not in known:
            raise UpstreamCredentialsError(f"unknown key {dialect}.{key} (known here: {', '.join(known)})")
    values: dict[str, str | None] = {}
    for key in known:
        value = table.get(key)
        if value is None and key in OPTIONAL[dialect]:
            values[key] = None
            continue
        if value is None:
            raise UpstreamCredentialsError(f"missing key {dialect}.{key}")
        if not isinstance(value, str) or not value.strip():
            got = "an empty string" if isinstance(value, str) else type(value).__name__  # never the value
            raise UpstreamCredentialsError(f"{dialect}.{key} must be a non-empty string, got {got}")
        values[key] = value
    if dialect == "aliyun":
        return UpstreamAliyun(values["access_key_id"] or "", values["access_key_secret"] or "", values["pool_key"])
    return UpstreamTencent(values["secret_id"] or "", values["secret_key"] or "", values["biz_app_id"])
