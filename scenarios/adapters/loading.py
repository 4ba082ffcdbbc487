"""`--adapter SPEC`: find a team's `ServiceAdapter` subclass in a Python file or an importable module."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from pathlib import Path

from .base import ServiceAdapter, missing_required
from .core_api import CoreApiAdapter


class AdapterLoadError(Exception):
    """A bad `--adapter`: the message names the file or module and what is wrong (exit 2)."""


def load_adapter(spec: str | None) -> type[ServiceAdapter]:
    """`path/to/file.py`, `path/to/file.py:ClassName` or `package.module:ClassName`; None: the bundled core's API."""
    if not spec:
        return CoreApiAdapter
    where, _, name = spec.partition(":") if not _is_windows_drive(spec) else (spec, "", "")
    if where.endswith(".py") or "/" in where or Path(where).is_file():
        module = _from_file(Path(where))
    else:
        try:
            module = importlib.import_module(where)
        except Exception as exc:  # noqa: BLE001 - any import failure is the user's file to fix
            raise AdapterLoadError(f"--adapter {spec}: cannot import module {where}: {type(exc).__name__}: {exc}") from exc
    candidates = {n: c for n, c in vars(module).items()
                  if inspect.isclass(c) and issubclass(c, ServiceAdapter) and c.__module__ == module.__name__}
    if name:
        chosen = candidates.get(name)
        if chosen is None:
            raise AdapterLoadError(f"--adapter {spec}: {where} defines no ServiceAdapter subclass named {name} "
                                   f"(found: {', '.join(candidates) or 'none'})")
    elif len(candidates) == 1:
        chosen = next(iter(candidates.values()))
    else:
        raise AdapterLoadError(f"--adapter {spec}: {where} defines {len(candidates)} ServiceAdapter subclasses "
                               f"({', '.join(candidates) or 'none'}); name one as {where}:ClassName")
    missing = missing_required(chosen)
    if missing:
        raise AdapterLoadError(f"--adapter {spec}: {chosen.__name__} does not implement {', '.join(missing)} "
                               "(the minimal contract: bind, unbind, status)")
    return chosen


def _from_file(path: Path) -> object:
    if not path.is_file():
        raise AdapterLoadError(f"--adapter: no such file: {path}")
    module_name = f"pstnsim_adapter_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise AdapterLoadError(f"--adapter: {path} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # noqa: BLE001
        del sys.modules[module_name]
        raise AdapterLoadError(f"--adapter: {path} failed to load: {type(exc).__name__}: {exc}") from exc
    return module


def _is_windows_drive(spec: str) -> bool:
    return len(spec) > 2 and spec[1] == ":" and spec[2] in "\\/"
