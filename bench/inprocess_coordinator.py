"""A coordinator that computes estimates in its own process (no node hop), for comparison.

The same tenant estimator actor as on a node runs inside the coordinator's actor system;
messages to it are local deliveries, so the difference to a real cluster is the cost of the
nng hop and the extra process.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import anyio

from actors import Message
from actors.logfmt import configure_logging
from actors.system import ActorFactory
from coordinator.main import build_parser, config_from_args
from coordinator.server import serve
from node.config import NodeConfig
from node.tenant_estimator import TenantEstimator


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.inprocess_coordinator`` with the ``reckon coordinator`` flags."""
    args = build_parser().parse_args(argv)
    configure_logging("coordinator-inprocess", args.log_level)
    config = config_from_args(args, dict(os.environ))
    node_config = NodeConfig(
        node_id="local",
        listen=config.listen,
        coordinators=(config.listen,),
        cluster_secret=config.cluster_secret,
    )

    def embedded(name: str, msg: Message) -> ActorFactory | None:
        if name.startswith("estimator:"):
            tenant = name.split(":", 1)[1]
            return lambda: TenantEstimator(tenant, node_config)
        return None

    async def run() -> None:
        shutdown = anyio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, shutdown.set)
        await serve(config, shutdown, embedded_actors=embedded)

    anyio.run(run, backend="asyncio")
    return 0


if __name__ == "__main__":
    sys.exit(main())
