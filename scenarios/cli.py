"""`pstnsim` command: one subcommand per part (provider, core, chaos); each part owns its own parser."""

from __future__ import annotations

import argparse
import importlib
import sys

# subcommand -> module with `add_arguments(parser)` and `run(args) -> int`
SUBCOMMANDS = {
    "provider": ("simulator.cli", "run the fake privacy-number provider"),
    "core": ("binding_core.cli", "run the bundled binding core (the reference system under test)"),
    "chaos": ("scenarios.chaos_cli", "run chaos scenarios against a core and the provider"),
    "record": ("simulator.traces.record_cli", "record a provider's traffic through a proxy into a trace"),
    "replay": ("scenarios.replay.cli", "replay a recorded incident against a binding service and check it"),
    "trace": ("scenarios.trace_cli", "import, compare and check traces (HAR import, diff by meaning, fidelity)"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pstnsim", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module_name, help_text) in SUBCOMMANDS.items():
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
