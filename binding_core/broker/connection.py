"""Reaching the broker: which URLs are brokers, how one is printed (password masked), and connecting.

aio-pika is imported only inside `connect` (and by the modules that need a live connection), so the core
without `--broker` neither needs nor loads it.
"""

from __future__ import annotations

import asyncio
import importlib.util
from typing import Any
from urllib.parse import urlsplit, urlunsplit

BROKER_SCHEMES = ("amqp", "amqps")
RABBITMQ_EXTRA_HINT = "install the rabbitmq extra: pip install 'pstnsim[rabbitmq]'"
CONNECT_TIMEOUT = 5.0  # seconds the first connection may take before the core refuses to start
RECONNECT_INTERVAL = 1.0  # seconds between a robust connection's attempts to reconnect
# AMQP heartbeat (seconds) unless the URL sets one: a replica that is paused or cut off loses its connection,
# and the broker hands the messages it held to the others, after a few missed beats rather than minutes.
HEARTBEAT = 10


class BrokerUnavailable(Exception):
    """The broker could not be reached, refused us, or its queues disagree with our settings."""


def masked(url: str) -> str:
    """The URL as it may be printed: its password replaced by ***."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return url
    if password is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{password}@", ":***@", 1)))


def broker_url_problem(url: str) -> str | None:
    """Why `url` cannot name the broker (None: it can): amqp:// or amqps:// with a host."""
    try:
        parts = urlsplit(url)
        parts.port  # raises ValueError for a port that is not a number or out of range
    except ValueError as exc:
        return f"{masked(url)!r} is not a URL ({exc})"
    if parts.scheme not in BROKER_SCHEMES:
        shown = f"scheme {parts.scheme!r}" if parts.scheme else "no scheme"
        return (f"{masked(url)!r} has {shown}; a broker URL is amqp:// or amqps://, "
                "e.g. amqp://guest:guest@127.0.0.1:5672/")
    if not parts.hostname:
        return f"{masked(url)!r} names no host, e.g. amqp://guest:guest@127.0.0.1:5672/"
    return None


def driver_problem() -> str | None:
    """Why a broker cannot be used in this environment (None: aio-pika is installed)."""
    try:
        missing = importlib.util.find_spec("aio_pika") is None
    except (ImportError, ValueError):  # a broken install, or a module blocked in sys.modules
        missing = True
    return f"--broker needs the aio-pika package; {RABBITMQ_EXTRA_HINT}" if missing else None


async def connect(url: str, *, timeout: float = CONNECT_TIMEOUT, robust: bool = False) -> Any:
    """A connection to the broker within `timeout`, or BrokerUnavailable. Not `robust` by default: the core
    reconnects by itself (broker.link), since aio-pika's robust channels were seen to stay closed after a
    reconnect that raced with their own restore."""
    problem = broker_url_problem(url) or driver_problem()
    if problem is not None:
        raise BrokerUnavailable(problem)
    import aio_pika

    target = with_heartbeat(url)
    try:
        if robust:
            opening = aio_pika.connect_robust(target, timeout=timeout, reconnect_interval=RECONNECT_INTERVAL)
        else:
            opening = aio_pika.connect(target, timeout=timeout)
        return await asyncio.wait_for(opening, timeout)
    except asyncio.TimeoutError:
        raise BrokerUnavailable(f"cannot reach the broker {masked(url)}: no answer within {timeout:g} s") from None
    except (OSError, ConnectionError) as exc:
        raise BrokerUnavailable(f"cannot reach the broker {masked(url)}: {exc}") from None
    except Exception as exc:  # aiormq's AMQP errors: bad credentials, unknown vhost
        raise BrokerUnavailable(f"the broker {masked(url)} refused the connection: {_describe(exc)}") from None


def with_heartbeat(url: str) -> str:
    """`url` with `?heartbeat=HEARTBEAT` added when it names none."""
    parts = urlsplit(url)
    if "heartbeat=" in parts.query:
        return url
    query = f"{parts.query}&heartbeat={HEARTBEAT}" if parts.query else f"heartbeat={HEARTBEAT}"
    return urlunsplit(parts._replace(query=query))


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
