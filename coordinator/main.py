"""``reckon coordinator``: one coordinator process."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import sys

import anyio

from actors.logfmt import configure_logging
from actors.transport import TransportConfig
from coordinator.config import CoordinatorConfig
from coordinator.server import asyncio_options, serve


def build_parser() -> argparse.ArgumentParser:
    """The ``reckon coordinator`` command line."""
    p = argparse.ArgumentParser(prog="reckon coordinator")
    p.add_argument("--http", default="127.0.0.1:8080", help="HTTP bind address host:port")
    p.add_argument("--listen", default="tcp://127.0.0.1:7100",
                   help="nng inbox address nodes talk to")
    p.add_argument("--database-url", default=None,
                   help="PostgreSQL URL (default: $RECKON_DATABASE_URL)")
    p.add_argument("--replication", type=int, default=2, help="owners per tenant (R)")
    p.add_argument("--heartbeat-timeout", type=float, default=2.0,
                   help="seconds of silence before a node counts as dead")
    p.add_argument("--hedge-delay", type=float, default=0.1,
                   help="seconds before a read also asks the next owner")
    p.add_argument("--request-timeout", type=float, default=5.0)
    p.add_argument("--body-timeout", type=float,
                   default=float(os.environ.get("RECKON_BODY_TIMEOUT", "60")),
                   help="seconds a request's whole body may take to arrive (then 408)")
    p.add_argument("--coordinator-id", default=None)
    p.add_argument("--log-level", default=os.environ.get("RECKON_LOG_LEVEL", "info"))
    return p


def config_from_args(args: argparse.Namespace, environ: dict[str, str]) -> CoordinatorConfig:
    """Build the typed configuration; exits with a clear message when something is missing."""
    url = args.database_url or environ.get("RECKON_DATABASE_URL", "")
    if not url:
        raise SystemExit("reckon coordinator: give --database-url or set RECKON_DATABASE_URL")
    secret = environ.get("RECKON_CLUSTER_SECRET", "")
    if not secret and environ.get("RECKON_CLUSTER_SECRET_FILE"):
        with open(environ["RECKON_CLUSTER_SECRET_FILE"]) as f:
            secret = f.read().strip()
    if not secret:
        raise SystemExit("reckon coordinator: set RECKON_CLUSTER_SECRET or "
                         "RECKON_CLUSTER_SECRET_FILE (the secret shared by all cluster members)")
    host, _, port = args.http.rpartition(":")
    if not host or not port.isdigit():
        raise SystemExit(f"reckon coordinator: --http must be host:port, not {args.http!r}")
    if not args.body_timeout > 0:
        raise SystemExit("reckon coordinator: --body-timeout must be a positive number of "
                         "seconds")
    if args.replication < 1:
        raise SystemExit("reckon coordinator: --replication must be at least 1")
    try:
        transport = TransportConfig.from_environ(environ)
    except ValueError as e:
        raise SystemExit(f"reckon coordinator: {e}") from None
    return CoordinatorConfig(
        coordinator_id=args.coordinator_id or f"{socket.gethostname()}:{port}",
        database_url=url,
        cluster_secret=secret.encode(),
        listen=args.listen,
        http_host=host,
        http_port=int(port),
        replication=args.replication,
        heartbeat_timeout=args.heartbeat_timeout,
        hedge_delay=args.hedge_delay,
        request_timeout=args.request_timeout,
        body_timeout=args.body_timeout,
        transport=transport,
    )


async def _run(config: CoordinatorConfig) -> None:
    shutdown = anyio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, shutdown.set)
    await serve(config, shutdown)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``reckon coordinator``."""
    args = build_parser().parse_args(argv)
    configure_logging("coordinator", args.log_level)
    config = config_from_args(args, dict(os.environ))
    try:
        anyio.run(_run, config, backend="asyncio", backend_options=asyncio_options())
    except OSError as e:
        print(f"reckon coordinator: {e}", file=sys.stderr)
        return 1
    return 0
