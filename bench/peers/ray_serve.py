"""The Ray Serve peer: the same estimator as a Ray Serve deployment behind Serve's HTTP proxy.

``python -m bench.peers.ray_serve --port P`` starts a local Ray instance bounded to
``--cpus`` CPUs (default 2), deploys :class:`EstimatorDeployment` with ``--replicas``
replicas (default 1, Serve's default) using a FastAPI ingress for the routes (``GET /health``,
``POST /v1/estimates``, ``POST /v1/estimates/batch``, as :mod:`bench.peers.service`), and
serves on ``127.0.0.1:P`` until SIGTERM or Ctrl-C, then shuts Serve and Ray down. (Ray's own
signal handler may take SIGTERM first; the harness therefore also stops the whole process
group and removes the ``--temp-dir`` it gave.) Each
replica trains its own copy of the model when it starts.

Needs the ``peers`` extra: ``pip install '.[peers]'``.

No ``from __future__ import annotations`` here: Serve's ingress wrapper reads the route
methods' annotations at runtime, and string annotations would turn ``request`` into a query
parameter.
"""

import argparse
import os
import signal
import sys
import tempfile
import threading
from types import FrameType
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from ray import serve

from bench.peers import remove_dir
from bench.peers.service import PeerService

app = FastAPI(title="reckon peer: Ray Serve", docs_url=None, redoc_url=None, openapi_url=None)


@serve.deployment
@serve.ingress(app)
class EstimatorDeployment:
    """One replica: a trained :class:`PeerService` behind the FastAPI routes."""

    def __init__(self, key: str | None) -> None:
        self.service = PeerService(key)

    @app.get("/health")
    async def health(self) -> dict[str, Any]:
        """The model version and size."""
        return self.service.health()

    @app.post("/v1/estimates")
    async def create_estimate(self, request: Request) -> Response:
        """One item."""
        return await self.service.create_estimate(request)

    @app.post("/v1/estimates/batch")
    async def create_estimates_batch(self, request: Request) -> Response:
        """Many items, answered in order."""
        return await self.service.create_estimates_batch(request)


def _stop_on_sigterm(stop: threading.Event) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def main(argv: list[str] | None = None) -> int:
    """Start Ray and Serve on loopback, deploy, and serve until SIGTERM or Ctrl-C."""
    import ray

    p = argparse.ArgumentParser(prog="python -m bench.peers.ray_serve")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--cpus", type=int, default=2, help="CPUs the local Ray instance may use")
    p.add_argument("--replicas", type=int, default=1)
    p.add_argument("--key", help="API key to require (default $RECKON_PEER_KEY; none: no "
                                 "check)")
    p.add_argument("--temp-dir", help="Ray's directory (short: it holds unix sockets); "
                                      "default a new one, removed on exit")
    args = p.parse_args(argv)
    stop = threading.Event()
    # A private temp dir: other Ray instances on the machine are left alone.
    tmp = args.temp_dir or tempfile.mkdtemp(prefix="rkray")
    try:
        ray.init(num_cpus=args.cpus, include_dashboard=False, _temp_dir=tmp,
                 _node_ip_address="127.0.0.1",
                 object_store_memory=100 * 1024 * 1024, log_to_driver=False,
                 configure_logging=False)
        serve.start(http_options={"host": "127.0.0.1", "port": args.port},
                    logging_config={"log_level": "WARNING", "enable_access_log": False})
        key = args.key or os.environ.get("RECKON_PEER_KEY")
        deployment = EstimatorDeployment.options(  # type: ignore[attr-defined]
            num_replicas=args.replicas)
        serve.run(deployment.bind(key),
                  name="reckon-peer", route_prefix="/", blocking=False)
        # After ray.init, which installs handlers of its own.
        _stop_on_sigterm(stop)
        stop.wait()
    finally:
        try:
            serve.shutdown()
        finally:
            ray.shutdown()
            if not args.temp_dir:
                remove_dir(tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
