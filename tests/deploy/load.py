"""A bounded HTTP load against several coordinators, failing over between them.

This is what a client (or a load balancer with health checks and retry-on-connection-failure)
does in front of a cluster with several coordinators: send each request to one coordinator,
and when that coordinator cannot take it (connection refused or closed before an answer, or
503 while it starts), send the same request to the next one. Writes carry an
``Idempotency-Key``, so a write retried on another coordinator is applied once.

A request *fails* when no coordinator gave a successful answer within its attempts; the
report counts those separately from requests that succeeded after a fail-over.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import httpx

RETRYABLE_STATUS = {502, 503, 504}


@dataclass
class LoadReport:
    """What happened to every request."""

    requests: int = 0
    succeeded: int = 0
    failed: int = 0
    failovers: int = 0
    writes: int = 0
    by_coordinator: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    max_latency_s: float = 0.0
    seconds: float = 0.0

    def summary(self) -> str:
        """One line for logs and assertion messages."""
        return (f"requests={self.requests} succeeded={self.succeeded} failed={self.failed} "
                f"failovers={self.failovers} writes={self.writes} "
                f"max_latency={self.max_latency_s:.2f}s seconds={self.seconds:.1f} "
                f"by_coordinator={dict(self.by_coordinator)} errors={self.errors[:5]}")


class FailoverLoad:
    """Runs ``workers`` threads until :meth:`stop`, ``max_requests`` or ``max_seconds``.

    ``rate`` (requests per second over all workers, 0 for as fast as possible) keeps the
    load steady for long runs. Every request goes first to a coordinator chosen round-robin
    and, on a retryable error, to the others in turn, up to ``attempts`` tries with
    ``backoff`` seconds between rounds.
    """

    def __init__(self, urls: list[str], api_key: str, *, workers: int = 4,
                 max_requests: int = 20_000, max_seconds: float = 600.0,
                 attempts: int = 6, backoff: float = 0.2, write_every: int = 20,
                 timeout: float = 10.0, rate: float = 0.0) -> None:
        self.urls = urls
        self.headers = {"Authorization": f"Bearer {api_key}"}
        self.workers = workers
        self.max_requests = max_requests
        self.max_seconds = max_seconds
        self.attempts = attempts
        self.backoff = backoff
        self.write_every = write_every
        self.timeout = timeout
        self.rate = rate
        self.report = LoadReport()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._counter = itertools.count()
        self._threads: list[threading.Thread] = []
        self._started = 0.0

    def start(self) -> None:
        """Start the worker threads."""
        self._started = time.monotonic()
        for i in range(self.workers):
            t = threading.Thread(target=self._worker, args=(i,), daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> LoadReport:
        """Stop, wait for the workers, and return the report."""
        self._stop.set()
        for t in self._threads:
            t.join(timeout=self.timeout * self.attempts + 5)
        self.report.seconds = time.monotonic() - self._started
        return self.report

    def _worker(self, index: int) -> None:
        interval = self.workers / self.rate if self.rate > 0 else 0.0
        next_at = time.monotonic() + index * interval / self.workers
        with httpx.Client(timeout=self.timeout, headers=self.headers) as client:
            while not self._stop.is_set():
                if interval:
                    self._stop.wait(max(0.0, next_at - time.monotonic()))
                    next_at = max(next_at + interval, time.monotonic() - interval)
                    if self._stop.is_set():
                        return
                n = next(self._counter)
                if n >= self.max_requests or time.monotonic() - self._started > self.max_seconds:
                    return
                if self.write_every and n % self.write_every == 0:
                    self._one(client, n, "/v1/items", {"items": [
                        {"id": f"load-{n}", "title": f"load item {n % 50}", "actual": 1 + n % 9}
                    ]}, {"Idempotency-Key": uuid.uuid4().hex}, write=True)
                else:
                    self._one(client, n, "/v1/estimates",
                              {"title": f"add report page {n % 97}"}, {}, write=False)

    def _one(self, client: httpx.Client, n: int, path: str, body: dict[str, object],
             headers: dict[str, str], write: bool) -> None:
        began = time.monotonic()
        last = ""
        ok = False
        tries = 0
        for round_ in range(self.attempts):
            url = self.urls[(n + round_) % len(self.urls)]
            tries += 1
            try:
                r = client.post(url + path, json=body, headers=headers)
            except httpx.TransportError as e:
                last = f"{url}: {type(e).__name__}: {e}"
            else:
                if r.status_code < 300:
                    ok = True
                    break
                last = f"{url}: HTTP {r.status_code}: {r.text[:200]}"
                if r.status_code not in RETRYABLE_STATUS:
                    break
            if round_ + 1 >= len(self.urls):
                time.sleep(self.backoff)
        latency = time.monotonic() - began
        with self._lock:
            rep = self.report
            rep.requests += 1
            rep.writes += write
            rep.failovers += tries - 1
            rep.max_latency_s = max(rep.max_latency_s, latency)
            if ok:
                rep.succeeded += 1
                rep.by_coordinator[url] += 1
            else:
                rep.failed += 1
                if len(rep.errors) < 50:
                    rep.errors.append(last)
