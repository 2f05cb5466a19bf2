"""``reckon node``: one node process hosting actors (run one per core)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable

import trio

from actors import ActorSystem, Message, Transport
from actors.heap import freeze_startup_objects
from actors.logfmt import configure_logging
from actors.messages import EstimateJSONRequest, EstimateRequest, TenantEvents
from actors.system import ActorFactory
from actors.transport import TransportConfig
from node.agent import ESTIMATOR_PREFIX, NodeAgent
from node.config import NodeConfig
from node.prior_file import load_prior
from node.simulation_worker import SIMULATOR, SimulationWorker
from node.tenant_estimator import TenantEstimator
from node.warmup import warm_up

#: The messages that start a tenant's actor on a node that does not run it yet.
TENANT_MESSAGES = (EstimateRequest, EstimateJSONRequest, TenantEvents)

log = logging.getLogger("reckon.node")


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """The ``reckon node`` command line."""
    p = parser or argparse.ArgumentParser(prog="reckon node")
    p.add_argument("--listen", required=True,
                   help="this node's inbox, e.g. tcp://127.0.0.1:7101")
    p.add_argument("--coordinator", action="append", required=True, metavar="ADDRESS",
                   help="a coordinator's inbox address (repeat for several coordinators)")
    p.add_argument("--node-id", default=None,
                   help="stable identity on the ring (default: hostname + listen port)")
    p.add_argument("--heartbeat-interval", type=float, default=0.5)
    p.add_argument("--drain-timeout", type=float, default=10.0,
                   help="seconds to finish in-flight work on SIGTERM")
    p.add_argument("--prior", default=None, metavar="PATH",
                   help="cold-start prior for new tenants (.npz); default: the one shipped, "
                        "fitted on public data; 'none': a generic weak prior")
    p.add_argument("--refit-growth", type=float, default=2.0, metavar="FACTOR",
                   help="refit a tenant's model in the background each time its history has "
                        "grown by this factor since the last refit (default 2; 0: never)")
    p.add_argument("--refit-min-items", type=int, default=50, metavar="N",
                   help="the first refit comes at this many actuals (default 50)")
    p.add_argument("--snapshot-min-items", type=int, metavar="N",
                   default=os.environ.get("RECKON_SNAPSHOT_MIN_ITEMS", "1000"),
                   help="save a tenant's refitted model as a snapshot once it has this many "
                        "actuals, so the next node to load the tenant replays only what came "
                        "after (default 1000, or RECKON_SNAPSHOT_MIN_ITEMS; 0: never save)")
    p.add_argument("--snapshot-every", type=int, metavar="N",
                   default=os.environ.get("RECKON_SNAPSHOT_EVERY", "5000"),
                   help="between refits, also save the model in use once N events (and a "
                        "quarter of the log) came after the last snapshot: what the next node "
                        "replays stays about that short (default 5000, or "
                        "RECKON_SNAPSHOT_EVERY; 0: after refits only)")
    p.add_argument("--log-level", default=os.environ.get("RECKON_LOG_LEVEL", "info"))
    return p


def config_from_args(args: argparse.Namespace, environ: dict[str, str]) -> NodeConfig:
    """Build the typed configuration from parsed flags and the environment."""
    secret = environ.get("RECKON_CLUSTER_SECRET", "")
    secret_file = environ.get("RECKON_CLUSTER_SECRET_FILE")
    if not secret and secret_file:
        with open(secret_file) as f:
            secret = f.read().strip()
    if not secret:
        raise SystemExit("reckon node: set RECKON_CLUSTER_SECRET or RECKON_CLUSTER_SECRET_FILE "
                         "(the secret shared by all cluster members)")
    try:
        prior = load_prior(args.prior)
    except ValueError as e:
        raise SystemExit(f"reckon node: {e}") from None
    if args.refit_growth != 0 and args.refit_growth <= 1:
        raise SystemExit("reckon node: --refit-growth must be above 1 (or 0 to disable)")
    if args.refit_min_items < 1:
        raise SystemExit("reckon node: --refit-min-items must be at least 1")
    if args.snapshot_min_items < 0:
        raise SystemExit("reckon node: --snapshot-min-items must be at least 0")
    if args.snapshot_every < 0:
        raise SystemExit("reckon node: --snapshot-every must be at least 0")
    node_id = args.node_id or f"{socket.gethostname()}:{args.listen.rsplit(':', 1)[-1]}"
    try:
        transport = TransportConfig.from_environ(environ)
    except ValueError as e:
        raise SystemExit(f"reckon node: {e}") from None
    return NodeConfig(
        node_id=node_id,
        listen=args.listen,
        coordinators=tuple(args.coordinator),
        cluster_secret=secret.encode(),
        heartbeat_interval=args.heartbeat_interval,
        drain_timeout=args.drain_timeout,
        prior=prior,
        refit_growth=args.refit_growth,
        refit_min_items=args.refit_min_items,
        snapshot_min_items=args.snapshot_min_items,
        snapshot_every=args.snapshot_every,
        transport=transport,
    )


def tenant_spawner(config: NodeConfig, first_owner: Callable[[str], bool],
                   answering: Callable[[str], bool] | None = None,
                   ) -> Callable[[str, Message], ActorFactory | None]:
    """The actor system's ``spawn_missing``: a tenant's actor starts on what a coordinator
    sends a tenant's owners, and on nothing else (it loads the tenant's model, so any other
    message to a made-up tenant would cost a model each)."""

    def spawn_missing(name: str, msg: Message) -> ActorFactory | None:
        if name.startswith(ESTIMATOR_PREFIX) and len(name) > len(ESTIMATOR_PREFIX):
            tenant = name[len(ESTIMATOR_PREFIX):]
            if isinstance(msg, TENANT_MESSAGES) and msg.tenant == tenant:
                return lambda: TenantEstimator(tenant, config, first_owner, answering)
        return None

    return spawn_missing


async def serve(config: NodeConfig) -> None:
    """Run the node until SIGTERM/SIGINT, then drain and leave.

    On a signal: the node tells the coordinators it is leaving, stops accepting new messages,
    finishes what its actors have queued (up to ``drain_timeout``), then exits.
    """
    seconds = warm_up()
    frozen = freeze_startup_objects()
    log.info("kernels ready seconds=%.2f frozen_objects=%d", seconds, frozen)
    system = ActorSystem(Transport(config.listen, config.cluster_secret, config.transport),
                         spawn_missing=tenant_spawner(config, lambda t: agent.first_owner(t),
                                                      lambda a: agent.answering(a)))
    agent = NodeAgent(system, config)
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with trio.open_nursery() as nursery:
            await nursery.start(system.run)
            system.spawn(SIMULATOR, SimulationWorker)
            nursery.start_soon(agent.run)
            log.info("node started node_id=%s listen=%s coordinators=%s",
                     config.node_id, config.listen, ",".join(config.coordinators))
            async for signum in signals:
                log.info("stopping signal=%s", signal.Signals(signum).name)
                break
            await agent.leave()
            finished = await system.drain(config.drain_timeout)
            log.info("drained finished=%s", finished)
            nursery.cancel_scope.cancel()


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``reckon node``."""
    args = build_parser().parse_args(argv)
    configure_logging("node", args.log_level)
    config = config_from_args(args, dict(os.environ))
    try:
        trio.run(serve, config)
    except OSError as e:
        print(f"reckon node: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
