"""Gray release: which virtual numbers take the new asynchronous path.

The list and the `all` flag come from the `[gray]` section of the config file,
re-read whenever the file changes (checked on each request: one stat), or are
set through the admin endpoint; the newer of the two wins. Without a `[gray]`
section every number takes the new path.
"""

from __future__ import annotations

import logging
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import ConfigError, GraySettings, parse_section
from .numbers import InvalidNumber, normalize

log = logging.getLogger("binding_core.gray")


@dataclass(frozen=True)
class GrayList:
    """`enabled` False means no gray section: everything is new-path."""

    enabled: bool
    all: bool
    numbers: frozenset[str]

    def is_gray(self, x: str) -> bool:
        return not self.enabled or self.all or x in self.numbers

    def to_dict(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "all": self.all, "numbers": sorted(self.numbers)}


def gray_list(settings: GraySettings | None) -> GrayList:
    if settings is None:
        return GrayList(enabled=False, all=True, numbers=frozenset())
    try:
        numbers = frozenset(normalize(n, "gray.numbers[]") for n in settings.numbers)
    except InvalidNumber as exc:
        raise ConfigError(str(exc)) from None
    return GrayList(enabled=True, all=settings.all, numbers=numbers)


class GrayRouter:
    def __init__(self, settings: GraySettings | None, source: Path | None = None) -> None:
        self.current = gray_list(settings)
        self.source = source
        self._stamp = self._file_stamp()

    def _file_stamp(self) -> tuple[int, int] | None:
        if self.source is None:
            return None
        try:
            st = os.stat(self.source)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def refresh(self) -> None:
        """Re-read the file's [gray] section if the file changed; a broken file keeps the last good list."""
        stamp = self._file_stamp()
        if stamp is None or stamp == self._stamp:
            return
        self._stamp = stamp
        try:
            data = tomllib.loads(Path(self.source).read_text())  # type: ignore[arg-type]
            table = data.get("gray")
            settings = None if table is None else parse_section(GraySettings, table, f"{self.source}: [gray]")
            self.current = gray_list(settings)
            log.info("gray list re-read from %s: %s", self.source, self.current.to_dict())
        except (OSError, tomllib.TOMLDecodeError, ConfigError, UnicodeDecodeError) as exc:
            log.error("gray list in %s not re-read, keeping the last one: %s", self.source, exc)

    def is_gray(self, x: str) -> bool:
        self.refresh()
        return self.current.is_gray(x)

    def set(self, settings: GraySettings | None) -> GrayList:
        """The admin endpoint's switch; holds until the file changes again."""
        self.current = gray_list(settings)
        self._stamp = self._file_stamp()
        return self.current
