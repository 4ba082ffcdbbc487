"""`pstnsim core`: serve the binding core over HTTP against a provider URL, on a SQLite file or a PostgreSQL database,
optionally with a RabbitMQ broker carrying its retries (--broker)."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import signal
import sys
from pathlib import Path

from simulator.arguments import port_number

from .app import Core
from .broker.connection import BrokerUnavailable, broker_url_problem, driver_problem, masked
from .config import ConfigError, CoreConfig, load_config, namespace_problem, url_problem
from .storage import STORE_ERRORS, is_postgres_url, postgres_driver_problem, redacted, sqlite_path

SQLITE_HEADER = b"SQLite format 3\x00"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def provider_url(text: str) -> str:
    """argparse type for --provider-url: refused unless an http(s) URL, so the core never starts "healthy"
    with every call bound to fail."""
    problem = url_problem(text)
    if problem is not None:
        raise argparse.ArgumentTypeError(problem)
    return text


def database_file(text: str) -> str:
    """argparse type for --db: a SQLite file, or a new file in a folder that exists."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a folder; give a database file, e.g. {path / 'core.db'}")
    if not path.parent.is_dir():
        raise argparse.ArgumentTypeError(f"folder {path.parent} does not exist (create it first)")
    if path.exists():
        try:
            with path.open("rb") as file:
                head = file.read(len(SQLITE_HEADER))
        except OSError as exc:
            raise argparse.ArgumentTypeError(f"cannot read {text}: {exc.strerror}") from None
        if head and head != SQLITE_HEADER:  # an empty file is a new database to SQLite
            raise argparse.ArgumentTypeError(f"{text} exists and is not a SQLite database")
    return text


def database_target(text: str) -> str:
    """argparse type for --db: a SQLite file (a bare path or sqlite:///path) or a postgresql:// URL.

    A postgresql URL needs the postgres extra (psycopg); without it the core refuses to start (exit 2)."""
    if is_postgres_url(text):
        problem = postgres_driver_problem()
        if problem is not None:
            raise argparse.ArgumentTypeError(problem)
        return text
    try:
        path = sqlite_path(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    database_file(path)
    return path


def broker_url(text: str) -> str:
    """argparse type for --broker: an amqp(s):// URL, and aio-pika installed (the rabbitmq extra)."""
    problem = broker_url_problem(text) or driver_problem()
    if problem is not None:
        raise argparse.ArgumentTypeError(problem)
    return text


def broker_namespace(text: str) -> str:
    problem = namespace_problem(text)
    if problem is not None:
        raise argparse.ArgumentTypeError(problem)
    return text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--provider-url", type=provider_url, help="the provider's base URL (overrides [provider] url)")
    parser.add_argument("--db", required=True, type=database_target, metavar="FILE|URL",
                        help="SQLite database file or sqlite:///FILE (created if missing; its folder must exist), "
                             "or postgresql://user@host:port/dbname (needs the postgres extra; replicas may share it)")
    parser.add_argument("--broker", type=broker_url, metavar="URL",
                        help="RabbitMQ URL, e.g. amqp://guest:guest@127.0.0.1:5672/: retries and watchdogs go through "
                             "it instead of a table scan (needs the rabbitmq extra; overrides [broker] url)")
    parser.add_argument("--broker-namespace", type=broker_namespace, metavar="NS",
                        help="prefix of the broker's exchanges and queues (default pstnsim-<database id>; "
                             "overrides [broker] namespace)")
    parser.add_argument("--config", help="TOML config file; its [gray] section is re-read when it changes")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=port_number, default=8080, help="port (default 8080; 0 picks a free one)")
    parser.add_argument("--seed", type=int, help="seed for backoff jitter and ids (overrides the config's seed)")
    parser.add_argument("--admin-token", metavar="TOKEN",
                        help="/_admin/* then needs Authorization: Bearer TOKEN (overrides [http] admin_token)")
    parser.add_argument("--allow-public-admin", action="store_true",
                        help="answer /_admin/* to peers that are not loopback too (overrides [http])")
    parser.add_argument("--log-level", default="INFO", type=str.upper, choices=LOG_LEVELS,
                        help="logging level (default INFO)")


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = load_config(args.config) if args.config else CoreConfig()
    except ConfigError as exc:
        print(f"pstnsim core: {exc}", file=sys.stderr)
        return 2
    if args.seed is not None:
        config = config.replace(seed=args.seed)
    if args.broker is not None or args.broker_namespace is not None:
        config = config.replace(broker=dataclasses.replace(
            config.broker, url=args.broker or config.broker.url, namespace=args.broker_namespace or config.broker.namespace))
    if config.broker.url is not None and driver_problem() is not None:
        print(f"pstnsim core: {driver_problem()}", file=sys.stderr)
        return 2
    if args.admin_token is not None or args.allow_public_admin:
        if args.admin_token == "":
            print("pstnsim core: --admin-token must not be empty", file=sys.stderr)
            return 2
        http = dataclasses.replace(config.http, admin_token=args.admin_token or config.http.admin_token,
                                   allow_public_admin=args.allow_public_admin or config.http.allow_public_admin)
        config = config.replace(http=http)
    try:
        return asyncio.run(_serve(config, args))
    except KeyboardInterrupt:
        return 0


async def _serve(config: CoreConfig, args: argparse.Namespace) -> int:
    try:
        core = Core(config, provider_url=args.provider_url, db_path=args.db, host=args.host, port=args.port)
        await core.start()
    except STORE_ERRORS as exc:  # unreadable, locked or corrupt past its header; a server down or refusing us
        print(f"pstnsim core: cannot open the database {redacted(args.db)}: {exc}", file=sys.stderr)
        return 2
    except BrokerUnavailable as exc:
        print(f"pstnsim core: cannot use the broker: {exc}", file=sys.stderr)
        return 2
    except (ValueError, OSError) as exc:
        print(f"pstnsim core: cannot start: {exc}", file=sys.stderr)
        return 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):  # before the line below: a SIGTERM right after it stops cleanly
        loop.add_signal_handler(sig, stop.set)
    # One line tools and tests wait for (the port is real even with --port 0).
    broker = core.parts.broker
    via = f", broker {masked(core.config.broker.url or '')} namespace {broker.namespace}" if broker is not None else ""
    print(f"pstnsim core listening on {core.url} (provider {core.config.provider.url}, db {redacted(args.db)}{via})",
          flush=True)
    await stop.wait()
    await core.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pstnsim core", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
