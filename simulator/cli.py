"""`pstnsim provider`: run the fake provider until Ctrl-C / SIGTERM, then shut down cleanly."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from .admin import admin_allowed
from .config import ProviderConfig
from .errors import LedgerError
from .faults import RuleError, load_rules_file
from .numbers import PoolSpec, load_pool_file
from .server import Provider


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8090, help="port (default 8090; 0: any free port)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the number pool and the fault decisions")
    parser.add_argument("--faults", type=Path, metavar="FILE", help="fault rules (TOML, docs/faults.md)")
    parser.add_argument("--pool", type=Path, metavar="FILE", help="numbers to serve (TOML or JSON) instead of a seeded pool")
    parser.add_argument("--webhook", metavar="URL", help="push call records and expiry events here (native JSON)")
    parser.add_argument("--trace", type=Path, metavar="FILE", help="append every exchange to this JSON Lines file")
    parser.add_argument("--allow-public-admin", action="store_true",
                        help="serve the admin API and /metrics on a non-loopback host too")


def config_from_args(args: argparse.Namespace) -> ProviderConfig:
    """Raises RuleError / LedgerError / OSError for a bad faults or pool file, before anything listens."""
    numbers = load_pool_file(args.pool) if args.pool else ()
    if args.faults:
        load_rules_file(args.faults)
    return ProviderConfig(
        host=args.host,
        port=args.port,
        seed=args.seed,
        pool=PoolSpec(seed=args.seed, numbers=numbers),
        faults_file=args.faults,
        webhook_url=args.webhook,
        trace_file=args.trace,
        allow_public_admin=args.allow_public_admin,
    )


def run(args: argparse.Namespace) -> int:
    try:
        config = config_from_args(args)
    except (RuleError, LedgerError, OSError, ValueError) as exc:
        print(f"pstnsim provider: {exc}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(serve(config))
    except OSError as exc:  # the port is taken, the host is not ours...
        print(f"pstnsim provider: cannot listen on {config.host}:{config.port}: {exc}", file=sys.stderr)
        return 1


async def serve(config: ProviderConfig) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    provider = Provider(config, port=config.port)
    await provider.start()
    try:
        rules = len(provider.faults.rules)
        print(f"pstnsim provider listening on {provider.url} (seed {config.seed}, {rules} fault rule(s))", flush=True)
        if admin_allowed(config.host, config.allow_public_admin):
            print(f"admin API: {provider.admin_url}  metrics: {provider.url}/metrics", flush=True)
        else:
            print(f"admin API not mounted: {config.host} is not a loopback address (use --allow-public-admin)",
                  flush=True)
        if config.trace_file:
            print(f"trace: {config.trace_file}", flush=True)
        await stop.wait()
        print("pstnsim provider: shutting down", flush=True)
    finally:
        await provider.stop()
    return 0
