"""The monolith peer: a FastAPI app on Uvicorn that computes estimates in-process.

This is the architecture the usual scaling guides recommend: one web process holding the
model, answering ``async def`` endpoints on Uvicorn's event loop (uvloop and httptools when
installed), scaled out with ``--workers`` (each worker loads and trains its own copy of the
model). Run it alone with::

    python -m bench.peers.fastapi_monolith --port 8000 [--workers 2] [--key KEY]

Routes: ``GET /health``, ``POST /v1/estimates``, ``POST /v1/estimates/batch`` (see
:mod:`bench.peers.service`). The key comes from ``--key`` or ``$RECKON_PEER_KEY``; without
one the ``Authorization`` header is ignored.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from bench.peers.service import PeerService

KEY_ENV = "RECKON_PEER_KEY"


def create_app(service: PeerService | None = None) -> FastAPI:
    """The FastAPI app around ``service`` (default: one trained now, keyed from
    ``$RECKON_PEER_KEY``)."""
    svc = service if service is not None else PeerService(os.environ.get(KEY_ENV))
    app = FastAPI(title="reckon peer: FastAPI monolith", docs_url=None, redoc_url=None,
                  openapi_url=None)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return svc.health()

    @app.post("/v1/estimates")
    async def create_estimate(request: Request) -> Response:
        return await svc.create_estimate(request)

    @app.post("/v1/estimates/batch")
    async def create_estimates_batch(request: Request) -> Response:
        return await svc.create_estimates_batch(request)

    return app


def main(argv: list[str] | None = None) -> int:
    """Serve on loopback until interrupted."""
    import uvicorn

    p = argparse.ArgumentParser(prog="python -m bench.peers.fastapi_monolith")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--workers", type=int, default=1, help="Uvicorn worker processes")
    p.add_argument("--key", help=f"API key to require (default ${KEY_ENV}; none: no check)")
    args = p.parse_args(argv)
    if args.key:
        os.environ[KEY_ENV] = args.key
    uvicorn.run("bench.peers.fastapi_monolith:create_app", factory=True, host=args.host,
                port=args.port, workers=args.workers, log_level="warning", access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
