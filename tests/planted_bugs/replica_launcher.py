"""Run `pstnsim core` with one replica bug planted: `python tests/planted_bugs/replica_launcher.py BUG [core] ARGS...`.

A cluster chaos run whose replicas are started with this instead of `pstnsim core` shows whether the run catches
the bug (tests/planted_bugs/test_replica_bugs.py swaps it in). BUG names one of replica_bugs.REPLICA_BUGS; the
remaining arguments are `pstnsim core`'s own. Exit 2 with a one-line message for an unknown bug.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    for path in (str(ROOT), str(Path(__file__).resolve().parent)):
        if path not in sys.path:
            sys.path.insert(0, path)
    from replica_bugs import BY_NAME

    if not args or args[0] not in BY_NAME:
        named = args[0] if args else "(none)"
        print(f"replica_launcher: unknown replica bug {named}; known: {', '.join(BY_NAME)}", file=sys.stderr)
        return 2
    bug, rest = BY_NAME[args[0]], args[1:]
    if rest[:1] == ["core"]:
        rest = rest[1:]
    from binding_core.cli import main as core_main

    with bug.applied():
        print(f"replica_launcher: planted {bug.name}: {bug.description}", file=sys.stderr, flush=True)
        return core_main(rest)


if __name__ == "__main__":
    sys.exit(main())
