"""`pstnsim` command: one subcommand per part (provider, core, chaos); each part owns its own parser."""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import sys
from typing import Any

# subcommand -> module with `add_arguments(parser)` and `run(args) -> int`
SUBCOMMANDS = {
    "provider": ("simulator.cli", "run the fake privacy-number provider"),
    "core": ("binding_core.cli", "run the bundled binding core (the reference system under test)"),
    "chaos": ("scenarios.chaos_cli", "run chaos scenarios against a core and the provider"),
    "record": ("simulator.traces.record_cli", "record a provider's traffic through a proxy into a trace"),
    "replay": ("scenarios.replay.cli", "replay a recorded incident against a binding service and check it"),
    "trace": ("scenarios.trace_cli", "import, compare and check traces (HAR import, diff by meaning, fidelity)"),
}


class SubcommandParser(argparse.ArgumentParser):
    """A subcommand's parser refuses options it does not know itself, so the message shows that subcommand's
    usage (`pstnsim chaos run: error: unrecognized arguments: --bogus`), not the top-level one."""

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> tuple[argparse.Namespace, list[str]]:
        parsed, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed, extras


def installed_version() -> str:
    try:
        return importlib.metadata.version("pstnsim")
    except importlib.metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="pstnsim", description=__doc__)
    parser.add_argument("--version", action="version", version=f"pstnsim {installed_version()}")
    # Nested subcommands (chaos run, chaos list) inherit the parser class.
    sub = parser.add_subparsers(dest="command", required=True, parser_class=SubcommandParser)
    # Only the chosen part is imported (`pstnsim provider` starts without the harness); without one, all are.
    chosen = next((arg for arg in argv if not arg.startswith("-")), None)
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        if chosen in SUBCOMMANDS and name != chosen:
            sub.add_parser(name, help=help_text)  # listed in the usage, not loaded
            continue
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:  # a part not built yet: say so instead of crashing
            if exc.name and module_name.startswith(exc.name):
                continue
            raise
        module.add_arguments(sub.add_parser(name, help=help_text, description=help_text))
        sub.choices[name].set_defaults(_run=module.run)
    args = parser.parse_args(argv)
    return int(args._run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
