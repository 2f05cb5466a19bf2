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
    reader, writer = await asyncio.open_connection(host, port)
    i = offset
    try:
        while time.perf_counter() < deadline and budget[0] > 0:
            if reader.at_eof():  # the server closed the keep-alive connection: reconnect
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
            budget[0] -= 1
            req = requests[i % len(requests)]
            i += 1
            t0 = time.perf_counter()
            writer.write(req)
            try:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                await reader.readexactly(length)
            except (asyncio.IncompleteReadError, ConnectionError):
                errors[0] += 1
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
                continue
            latencies.append(time.perf_counter() - t0)
            statuses[int(head[9:12])] += 1
    finally:
        writer.close()


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
