"""HTTP request metrics (count, status, latency histogram per route) as a middleware."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)


@dataclass(frozen=True)
class RouteStatistics:
    """Counters for one route template."""

    route: str
    method: str
    by_status: dict[int, int]
    buckets: tuple[int, ...]
    count: int
    seconds: float


class HttpMetrics:
    """Collects per-route counters; :meth:`statistics` snapshots them."""

    def __init__(self) -> None:
        self._status: dict[tuple[str, str], dict[int, int]] = defaultdict(lambda: defaultdict(int))
        self._buckets: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0] * len(BUCKETS))
        self._sum: dict[tuple[str, str], float] = defaultdict(float)
        self._count: dict[tuple[str, str], int] = defaultdict(int)

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """Record one finished request."""
        key = (route, method)
        self._status[key][status] += 1
        self._count[key] += 1
        self._sum[key] += seconds
        b = self._buckets[key]
        for i, bound in enumerate(BUCKETS):
            if seconds <= bound:
                b[i] += 1

    def statistics(self) -> list[RouteStatistics]:
        """A frozen snapshot per route."""
        return [
            RouteStatistics(route, method, dict(self._status[(route, method)]),
                            tuple(self._buckets[(route, method)]), self._count[(route, method)],
                            self._sum[(route, method)])
            for route, method in sorted(self._count)
        ]


class MetricsMiddleware:
    """ASGI middleware timing every HTTP request by its route template."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.observe(template, scope["method"], status, time.perf_counter() - start)
