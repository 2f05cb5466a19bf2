"""The Starlette application: routes, error mapping, metrics middleware."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import Route

from coordinator.api import cluster, estimates, forecasts, items, models
from coordinator.framing import RefuseAmbiguousFraming
from coordinator.http_metrics import MetricsMiddleware
from coordinator.problems import (
    ApiError,
    api_error_handler,
    http_exception_handler,
    unexpected_error_handler,
)
from coordinator.state import AppState


def build_app(state: AppState) -> Starlette:
    """The HTTP API over the given shared state."""
    routes = [
        Route("/v1/estimates", estimates.create_estimate, methods=["POST"]),
        Route("/v1/estimates/batch", estimates.create_estimates_batch, methods=["POST"]),
        Route("/v1/items", items.import_items, methods=["POST"]),
        Route("/v1/items/{item_id}", items.get_item, methods=["GET"]),
        Route("/v1/items/{item_id}/actual", items.record_actual, methods=["POST"]),
        Route("/v1/forecasts", forecasts.create_forecast, methods=["POST"]),
        Route("/v1/models/accuracy", models.accuracy, methods=["GET"]),
        Route("/v1/cluster", cluster.cluster, methods=["GET"]),
        Route("/health", cluster.health, methods=["GET"]),
        Route("/ready", cluster.ready, methods=["GET"]),
        Route("/metrics", cluster.metrics, methods=["GET"]),
        Route("/openapi.json", cluster.openapi, methods=["GET"]),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(MetricsMiddleware, metrics=state.http_metrics),
                    Middleware(RefuseAmbiguousFraming)],
        exception_handlers={
            ApiError: api_error_handler,
            HTTPException: http_exception_handler,
            Exception: unexpected_error_handler,
        },
    )
    app.state.reckon = state
    return app
