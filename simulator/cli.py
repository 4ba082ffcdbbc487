"""`pstnsim provider`: run the fake provider until Ctrl-C / SIGTERM, then shut down cleanly."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import signal
import sys
from pathlib import Path

from .admin import admin_allowed
from .config import ProviderConfig
from .config_file import load_provider_config
from .errors import LedgerError
from .faults import RuleError, load_rules_file
from .numbers import load_pool_file
from .server import Provider
from .traces.format import TraceError
from .traces.replay_server import REPLAY
from .arguments import port_number


def replay_speed(text: str) -> float:
    """argparse type for --speed: a number > 0 (recorded latencies are divided by it)."""
    try:
        speed = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not speed > 0 or speed == float("inf"):
        raise argparse.ArgumentTypeError(f"{text} is not a speed: use a number > 0 (2: twice as fast)")
    return speed


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # host / port / seed / webhook default to None: a flag given wins over --config, a flag left out does not.
    parser.add_argument("--config", type=Path, metavar="FILE",
                        help="provider settings, TOML: seed, host, port, webhook_url, [pool], vendor credentials "
                             "(docs/provider.md); flags given on the command line win")
    parser.add_argument("--host", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=port_number, help="port (default 8090; 0: any free port)")
    parser.add_argument("--seed", type=int, help="seed of the number pool and the fault decisions (default 0)")
    parser.add_argument("--faults", type=Path, metavar="FILE", help="fault rules (TOML, docs/faults.md)")
    parser.add_argument("--pool", type=Path, metavar="FILE", help="numbers to serve (TOML or JSON) instead of a seeded pool")
    parser.add_argument("--webhook", metavar="URL", help="push call records and expiry events here (native JSON)")
    parser.add_argument("--trace", type=Path, metavar="FILE", help="append every exchange to this JSON Lines file")
    parser.add_argument("--replay", type=Path, metavar="FILE",
                        help="serve this trace: each request is answered by the next exchange recorded with the "
                             "same meaning, with its latency and failure (docs/traces.md)")
    parser.add_argument("--unrecorded", choices=("ledger", "error"),
                        help="with --replay: a request the trace has no exchange (left) for is served from the "
                             "ledger (default) or refused; the journal marks it UNRECORDED either way")
    parser.add_argument("--speed", type=replay_speed, metavar="N",
                        help="with --replay: divide recorded latencies by N (default 1)")
    parser.add_argument("--allow-public-admin", action="store_true",
                        help="serve the admin API and /metrics on a non-loopback host too")
    parser.add_argument("--admin-token", metavar="TOKEN",
                        help="the admin API and /metrics then need Authorization: Bearer TOKEN "
                             "(overrides [http] admin_token)")


def config_from_args(args: argparse.Namespace) -> ProviderConfig:
    """The --config file (if any) with the flags given laid over it.

    Raises ConfigFileError / RuleError / LedgerError / OSError for a bad config, faults or pool file,
    before anything listens.
    """
    base = load_provider_config(args.config) if args.config else ProviderConfig()
    seed = base.seed if args.seed is None else args.seed
    numbers = load_pool_file(args.pool) if args.pool else base.pool.numbers
    if args.faults:
        load_rules_file(args.faults)
    if args.replay is None and (args.unrecorded is not None or args.speed is not None):
        raise ValueError("--unrecorded and --speed apply to --replay FILE only")
    if args.replay is not None and args.faults:
        raise ValueError("--faults does not apply with --replay: the trace is the only source of faults")
    if args.admin_token is not None and not args.admin_token.strip():
        raise ValueError("--admin-token must not be empty")
    return dataclasses.replace(
        base,
        host=base.host if args.host is None else args.host,
        port=base.port if args.port is None else args.port,
        seed=seed,
        pool=dataclasses.replace(base.pool, seed=seed, numbers=numbers),
        faults_file=args.faults,
        webhook_url=base.webhook_url if args.webhook is None else args.webhook,
        trace_file=args.trace,
        allow_public_admin=args.allow_public_admin or base.allow_public_admin,
        admin_token=base.admin_token if args.admin_token is None else args.admin_token,
        replay_file=args.replay,
        replay_unrecorded=args.unrecorded or "ledger",
        replay_speed=1.0 if args.speed is None else args.speed,
    )


def run(args: argparse.Namespace) -> int:
    try:
        config = config_from_args(args)
    except (RuleError, LedgerError, OSError, ValueError) as exc:
        print(f"pstnsim provider: {exc}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(serve(config))
    except TraceError as exc:  # --replay: the trace is read as the provider starts
        print(f"pstnsim provider: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the port is taken, the host is not ours...
        print(f"pstnsim provider: cannot listen on {config.host}:{config.port}: {exc}", file=sys.stderr)
        return 2


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
        if config.replay_file:
            exchanges = len(provider.app[REPLAY].index)
            print(f"replaying {config.replay_file}: {exchanges} exchange(s), unrecorded requests "
                  f"-> {config.replay_unrecorded}, speed {config.replay_speed:g}", flush=True)
        await stop.wait()
        print("pstnsim provider: shutting down", flush=True)
    finally:
        await provider.stop()
    return 0
