"""A small closed-loop HTTP/1.1 load generator on raw asyncio streams (keep-alive).

Each of ``concurrency`` connections sends one request, waits for its response, sends the
next. Bounded by ``duration`` seconds and ``max_requests``. Latency is measured per request
from write to the last body byte.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass

import numpy as np

from bench.harness.connection import Connection, ProtocolError


@dataclass(frozen=True)
class LoadResult:
    """What one load run measured."""

    requests: int
    seconds: float
    statuses: dict[int, int]
    errors: int
    latencies_ms: np.ndarray

    @property
    def throughput(self) -> float:
        """Completed requests per second."""
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        """Latency percentile in milliseconds."""
        return float(np.percentile(self.latencies_ms, q)) if len(self.latencies_ms) else 0.0


def build_request(host: str, port: int, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    """Raw bytes of one POST request."""
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}:{port}",
        f"Content-Length: {len(body)}",
        "Content-Type: application/json",
    ]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _worker(
    host: str,
    port: int,
    requests: list[bytes],
    offset: int,
    deadline: float,
    budget: list[int],
    latencies: list[float],
    statuses: Counter[int],
    errors: list[int],
) -> None:
    conn = Connection(host, port)
    i = offset
    try:
        while time.perf_counter() < deadline and budget[0] > 0:
            budget[0] -= 1
            req = requests[i % len(requests)]
            i += 1
            t0 = time.perf_counter()
            try:
                status = await conn.exchange(req)
            except (asyncio.IncompleteReadError, ProtocolError, OSError):
                errors[0] += 1
                conn.close()  # the next exchange reconnects
                continue
            latencies.append(time.perf_counter() - t0)
            statuses[status] += 1
    finally:
        conn.close()


async def run_load(
    host: str,
    port: int,
    requests: list[bytes],
    *,
    concurrency: int,
    duration: float,
    max_requests: int,
) -> LoadResult:
    """Drive the server with ``concurrency`` closed-loop connections."""
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    errors = [0]
    budget = [max_requests]
    start = time.perf_counter()
    deadline = start + duration
    await asyncio.gather(
        *[
            _worker(host, port, requests, c * 7, deadline, budget, latencies, statuses, errors)
            for c in range(concurrency)
        ]
    )
    seconds = time.perf_counter() - start
    return LoadResult(
        len(latencies), seconds, dict(statuses), errors[0], np.array(latencies) * 1000.0
    )
