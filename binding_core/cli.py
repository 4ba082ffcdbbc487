"""`pstnsim core`: serve the binding core over HTTP against a provider URL, with a SQLite database file."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from .app import Core
from .config import ConfigError, CoreConfig, load_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--provider-url", help="the provider's base URL (overrides [provider] url)")
    parser.add_argument("--db", required=True, help="SQLite database file (created if missing)")
    parser.add_argument("--config", help="TOML config file; its [gray] section is re-read when it changes")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port (default 8080; 0 picks a free one)")
    parser.add_argument("--seed", type=int, help="seed for backoff jitter and ids (overrides the config's seed)")
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = load_config(args.config) if args.config else CoreConfig()
    except ConfigError as exc:
        print(f"pstnsim core: {exc}", file=sys.stderr)
        return 2
    if args.seed is not None:
        config = config.replace(seed=args.seed)
    try:
        return asyncio.run(_serve(config, args))
    except KeyboardInterrupt:
        return 0


async def _serve(config: CoreConfig, args: argparse.Namespace) -> int:
    try:
        core = Core(config, provider_url=args.provider_url, db_path=args.db, host=args.host, port=args.port)
        await core.start()
    except (ValueError, OSError) as exc:
        print(f"pstnsim core: cannot start: {exc}", file=sys.stderr)
        return 2
    # One line tools and tests wait for (the port is real even with --port 0).
    print(f"pstnsim core listening on {core.url} (provider {core.config.provider.url}, db {args.db})", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await core.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pstnsim core", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
