"""Operational endpoints: cluster view, liveness, readiness, Prometheus metrics, OpenAPI."""

from __future__ import annotations

import dataclasses
import time

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from coordinator.api.common import json_response, state_of
from coordinator.http_metrics import BUCKETS
from coordinator.openapi import openapi_document
from coordinator.store.outage import DATABASE_FAILURES


async def cluster(request: Request) -> Response:
    """``GET /v1/cluster``: members, their state, and the ring parameters."""
    st = state_of(request)
    now = time.monotonic()
    live = {n.node_id for n in st.membership.live()}
    nodes = [
        {
            "node_id": n.node_id,
            "address": n.address,
            "state": st.membership.state(n),
            "last_heartbeat_ago_s": round(now - n.last_seen, 3),
            "connected": st.system.transport.is_connected(n.address),
            "stats": n.stats or {},
        }
        for n in sorted(st.membership.nodes(), key=lambda n: n.node_id)
    ]
    return json_response({
        "coordinator_id": st.config.coordinator_id,
        "replication": st.config.replication,
        "heartbeat_timeout_s": st.config.heartbeat_timeout,
        "live_nodes": len(live),
        "nodes": nodes,
    })


async def health(request: Request) -> Response:
    """``GET /health``: the process is up."""
    return json_response({"status": "ok"})


async def ready(request: Request) -> Response:
    """``GET /ready``: the database answers and at least one node is live."""
    st = state_of(request)
    checks: dict[str, str] = {}
    try:
        async with st.pool.acquire(timeout=1.0) as conn:
            await conn.fetchval("SELECT 1")
        checks["database"] = "ok"
    except DATABASE_FAILURES as e:
        checks["database"] = f"error: {type(e).__name__}"
    live = len(st.membership.live())
    checks["nodes"] = f"{live} live" if live else "no live nodes"
    ok = checks["database"] == "ok" and live > 0
    return json_response({"status": "ready" if ok else "not ready", "checks": checks},
                         200 if ok else 503)


def _line(name: str, value: float, labels: dict[str, str] | None = None) -> str:
    if labels:
        inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
        return f"{name}{{{inner}}} {value}"
    return f"{name} {value}"


def prometheus_text(request: Request) -> str:
    """Every statistics snapshot, in Prometheus text format."""
    st = state_of(request)
    out: list[str] = []

    def gauge_block(prefix: str, snapshot: object, help_text: str) -> None:
        for f in dataclasses.fields(snapshot):  # type: ignore[arg-type]
            value = getattr(snapshot, f.name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                out.append(f"# HELP {prefix}_{f.name} {help_text}: {f.name.replace('_', ' ')}")
                out.append(f"# TYPE {prefix}_{f.name} gauge")
                out.append(_line(f"{prefix}_{f.name}", value))

    system = st.system.statistics()
    gauge_block("reckon_actors", system, "actor system")
    gauge_block("reckon_transport", system.transport, "nng transport")
    gauge_block("reckon_membership", st.membership.statistics(), "membership")
    gauge_block("reckon_router", st.router.statistics(), "router")
    gauge_block("reckon_ledger", st.ledger.statistics(), "estimate ledger")
    out.append("# HELP reckon_db_pool_size database connections open")
    out.append("# TYPE reckon_db_pool_size gauge")
    out.append(_line("reckon_db_pool_size", st.pool.get_size()))
    out.append("# HELP reckon_http_requests_total HTTP requests by route, method and status")
    out.append("# TYPE reckon_http_requests_total counter")
    routes = st.http_metrics.statistics()
    for r in routes:
        for status, n in sorted(r.by_status.items()):
            out.append(_line("reckon_http_requests_total", n,
                             {"route": r.route, "method": r.method, "status": str(status)}))
    out.append("# HELP reckon_http_request_seconds HTTP request latency")
    out.append("# TYPE reckon_http_request_seconds histogram")
    for r in routes:
        labels = {"route": r.route, "method": r.method}
        for bound, n in zip(BUCKETS, r.buckets, strict=True):
            out.append(_line("reckon_http_request_seconds_bucket", n, {**labels, "le": str(bound)}))
        out.append(_line("reckon_http_request_seconds_bucket", r.count, {**labels, "le": "+Inf"}))
        out.append(_line("reckon_http_request_seconds_sum", round(r.seconds, 6), labels))
        out.append(_line("reckon_http_request_seconds_count", r.count, labels))
    return "\n".join(out) + "\n"


async def metrics(request: Request) -> Response:
    """``GET /metrics``: Prometheus text exposition."""
    return PlainTextResponse(prometheus_text(request),
                             media_type="text/plain; version=0.0.4; charset=utf-8")


async def openapi(request: Request) -> Response:
    """``GET /openapi.json``."""
    return json_response(openapi_document())
