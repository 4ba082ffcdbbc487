"""The legal-move table of a binding mode's status; the store enforces it and the harness checks histories against it.

A bind moves NOT_BIND -> OPERATION -> BIND; an unbind BIND -> OPERATION -> NOT_BIND.
When an operation settles without reaching its goal (the provider refused, or
retries ran out), OPERATION returns to whatever the provider really holds, so
OPERATION -> NOT_BIND and OPERATION -> BIND are legal from either side.
"""

from __future__ import annotations

from typing import Literal

NOT_BIND = "NOT_BIND"
OPERATION = "OPERATION"
BIND = "BIND"
STATUSES: tuple[str, ...] = (NOT_BIND, OPERATION, BIND)

Mode = Literal["XB", "AXB"]
MODES: tuple[str, ...] = ("XB", "AXB")
Kind = Literal["bind", "unbind"]
KINDS: tuple[str, ...] = ("bind", "unbind")

# Every (from, to) pair a status change may make; nothing else is ever written.
LEGAL_MOVES: frozenset[tuple[str, str]] = frozenset(
    {
        (NOT_BIND, OPERATION),
        (BIND, OPERATION),
        (OPERATION, BIND),
        (OPERATION, NOT_BIND),
    }
)

# The status an operation of each kind must find, and the one it aims for.
REQUIRED_STATUS: dict[str, str] = {"bind": NOT_BIND, "unbind": BIND}
GOAL_STATUS: dict[str, str] = {"bind": BIND, "unbind": NOT_BIND}


class IllegalTransition(Exception):
    """A status change outside LEGAL_MOVES: a bug in the caller, never a user error."""


def is_legal(from_status: str, to_status: str) -> bool:
    return (from_status, to_status) in LEGAL_MOVES


def check_move(from_status: str, to_status: str) -> None:
    if not is_legal(from_status, to_status):
        raise IllegalTransition(f"{from_status} -> {to_status} is not a legal status change")


def check_history(rows: list[dict]) -> list[str]:
    """Problems in a transitions history (rows as the store returns them): illegal moves, version gaps.

    Rows are grouped by (x, mode); within a group each row must start where the
    previous ended and carry the previous version plus one. An empty list means
    the history is legal. The harness and the core's own tests use this.
    """
    problems: list[str] = []
    last: dict[tuple[str, str], tuple[str, int]] = {}
    for row in rows:
        key = (row["x"], row["mode"])
        status, version = last.get(key, (NOT_BIND, 0))
        if row["from_status"] != status:
            problems.append(f"{key}: change {row['seq']} starts at {row['from_status']} but the status was {status}")
        if not is_legal(row["from_status"], row["to_status"]):
            problems.append(f"{key}: change {row['seq']} {row['from_status']} -> {row['to_status']} is illegal")
        if row["version"] != version + 1:
            problems.append(f"{key}: change {row['seq']} has version {row['version']}, expected {version + 1}")
        last[key] = (row["to_status"], row["version"])
    return problems
