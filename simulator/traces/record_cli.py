"""`pstnsim record`: run the recording proxy until Ctrl-C / SIGTERM, then close the trace and say what it holds.

Every bad input (flag, upstream URL, credentials file, local config) is one line naming the flag, file or
key, exit 2, before anything listens.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import signal
import sys
from pathlib import Path

from ..cli import port_number
from ..config import ProviderConfig
from ..config_file import load_provider_config
from .proxy import DIALECTS, RecordingProxy, UpstreamURLError, upstream_base
from .upstream_credentials import UpstreamCredentialsError, load_upstream_credentials

NAME = "pstnsim record"


def seconds(text: str) -> float:
    """argparse type for --upstream-timeout: a positive number of seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number of seconds")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--upstream", required=True, metavar="URL",
                        help="the provider to forward to: a real one or another pstnsim (scheme://host[:port])")
    parser.add_argument("--dialect", required=True, choices=DIALECTS, help="the wire dialect being recorded")
    parser.add_argument("--port", required=True, type=port_number, help="port to listen on (0: any free port)")
    parser.add_argument("--out", required=True, type=Path, metavar="FILE", help="the trace to write (JSON Lines)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--upstream-credentials", type=Path, metavar="FILE",
                        help="TOML with the upstream's key ([aliyun] access_key_id, access_key_secret, pool_key; "
                             "[tencent] secret_id, secret_key, biz_app_id); required for aliyun and tencent")
    parser.add_argument("--credentials", type=Path, metavar="FILE",
                        help="the LOCAL credentials clients sign with: a provider config TOML "
                             "([[aliyun.credentials]], [[tencent.credentials]]); default: the simulator's")
    parser.add_argument("--keep-numbers", action="store_true",
                        help="write the real A and B numbers (default: consistent stand-ins in the trace)")
    parser.add_argument("--upstream-timeout", type=seconds, default=30.0, metavar="SECONDS",
                        help="give up on the upstream after this long: the client gets 504, the trace a timeout "
                             "(default 30)")


class UsageError(ValueError):
    """Flags that do not add up; the message names the flag."""


def build_proxy(args: argparse.Namespace) -> RecordingProxy:
    """The proxy the flags describe; ValueError / OSError (naming the flag, file or key) when they do not add up."""
    upstream_base(args.upstream)
    if not args.out.parent.is_dir():
        raise UsageError(f"--out {args.out}: the directory {args.out.parent} does not exist")
    if args.out.is_dir():
        raise UsageError(f"--out {args.out} is a directory, not a trace file")
    credentials = None
    if args.dialect != "native":
        if args.upstream_credentials is None:
            raise UpstreamCredentialsError(f"--dialect {args.dialect} needs --upstream-credentials FILE (TOML with "
                                           f"the upstream's key: see `pstnsim record --help`)")
        credentials = load_upstream_credentials(args.upstream_credentials, args.dialect)
    local = load_provider_config(args.credentials) if args.credentials else ProviderConfig()
    return RecordingProxy(upstream=args.upstream, dialect=args.dialect, out=args.out, host=args.host, port=args.port,
                          upstream_credentials=credentials, local=local, keep_numbers=args.keep_numbers,
                          upstream_timeout=args.upstream_timeout)


def run(args: argparse.Namespace) -> int:
    try:
        proxy = build_proxy(args)
    except (UpstreamURLError, UpstreamCredentialsError, UsageError) as exc:
        print(f"{NAME}: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # --credentials cannot be read
        print(f"{NAME}: --credentials {args.credentials}: cannot read: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except ValueError as exc:  # --credentials: a ConfigFileError, naming the file and the key
        print(f"{NAME}: --credentials {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format=f"{NAME}: %(message)s")
    logging.getLogger("pstnsim.record").setLevel(logging.INFO)  # one line per exchange: seq, action, outcome
    try:
        return asyncio.run(serve(proxy))
    except OSError as exc:  # the port is taken, the host is not ours, the trace cannot be written...
        print(f"{NAME}: cannot start: {exc}", file=sys.stderr)
        return 2


async def serve(proxy: RecordingProxy) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await proxy.start()
    try:
        print(f"{NAME} listening on {proxy.url} -> {proxy.upstream}, trace {proxy.out}", flush=True)
        if proxy.keep_numbers:
            print("numbers kept as they are (--keep-numbers): the trace holds real A and B numbers", flush=True)
        await stop.wait()
    finally:
        await proxy.stop()
    print(f"{NAME}: recorded {proxy.count} exchange(s) to {proxy.out}", flush=True)
    return 0
