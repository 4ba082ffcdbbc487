"""`pstnsim --version`, and a bad option answered with the usage of the subcommand it was given to."""

from __future__ import annotations

import importlib.metadata

import pytest


def test_version_is_the_installed_package_version(pstnsim):
    result = pstnsim("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"pstnsim {importlib.metadata.version('pstnsim')}"


@pytest.mark.parametrize("command", [["chaos", "run"], ["provider"]], ids=" ".join)
def test_an_unknown_option_shows_that_subcommands_usage(pstnsim, command):
    result = pstnsim(*command, "--bogus")
    name = " ".join(["pstnsim", *command])
    assert result.returncode == 2
    assert result.stderr.startswith(f"usage: {name} ")
    assert result.stderr.strip().splitlines()[-1] == f"{name}: error: unrecognized arguments: --bogus"
    assert "Traceback" not in result.stderr
