"""argparse types shared by the command-line parts (provider, recording proxy, core): one wording per mistake."""

from __future__ import annotations

import argparse


def port_number(text: str) -> int:
    """A TCP port 0..65535 (0: any free port), refused by argparse otherwise."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port: use 0..65535 (0: any free port)")
    return port
