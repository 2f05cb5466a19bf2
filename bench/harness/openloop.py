"""An open-loop load generator: requests leave on a fixed schedule, whatever the server does.

A closed-loop generator (each connection waits for a response before sending the next
request) slows down with the server and so never sends the requests that would have seen the
worst latency — coordinated omission. Here the arrival times are fixed in advance (constant
rate, or Poisson with a seed), and each operation's latency runs from its *scheduled* time:
time spent waiting for a free connection, or because the generator fell behind, counts.

A bounded pool of ``connections`` workers, each owning one keep-alive connection, takes the
scheduled operations in order: a free worker takes the next one and sleeps until its time. An
operation that cannot start within ``start_timeout`` of its scheduled time is counted as
dropped (never silently skipped); one whose response takes longer than ``request_timeout``
is counted as a timeout. The run is bounded by the schedule (``duration`` seconds and
``max_requests`` operations) plus those two timeouts.
"""

from __future__ import annotations

import asyncio
import importlib.util
import math
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from bench.harness.connection import Connection, ProtocolError
from bench.harness.histogram import LatencyHistogram


@dataclass(frozen=True)
class Operation:
    """One scheduled unit of work: its requests go one after another on one connection.

    ``units`` is what the operation is worth to the operator (the estimates in a batch).
    """

    kind: str
    requests: tuple[bytes, ...]
    units: int = 1


_T = TypeVar("_T")

OperationSource = Callable[[int], Operation]
"""Builds the operation with a given index in the schedule."""


@dataclass(frozen=True)
class Schedule:
    """When operations are due: ``rate`` per second for ``duration`` s, at most ``max_requests``."""

    rate: float
    duration: float
    max_requests: int
    arrivals: str = "constant"  # or "poisson"
    seed: int = 0

    def offsets(self) -> np.ndarray:
        """Seconds from the start at which each operation is due, ascending."""
        return self.plan()[0]

    def plan(self) -> tuple[np.ndarray, float]:
        """The due offsets and the window they cover, over which the offered rate is counted.

        Constant arrivals: one operation per ``1/rate`` slot while its slot starts within
        ``duration``; the window is those slots (so the offered rate is ``rate``, however
        short the duration). Poisson arrivals: gaps are drawn until the window ends, so the
        count varies around ``rate * duration`` both ways; the window is ``duration``. When
        ``max_requests`` cuts a schedule short, the window ends where the next operation
        would have been due.
        """
        if self.rate <= 0 or self.duration <= 0 or self.max_requests <= 0:
            raise ValueError("rate, duration and max_requests must be positive")
        if self.arrivals == "constant":
            expected = self.rate * self.duration
            n = self.max_requests if expected >= self.max_requests else math.ceil(expected)
            t = np.arange(n, dtype=np.float64) / self.rate
            t = t[t < self.duration]
            return t, len(t) / self.rate
        if self.arrivals == "poisson":
            return self._poisson()
        raise ValueError(f"unknown arrival process {self.arrivals!r}")

    def _poisson(self) -> tuple[np.ndarray, float]:
        rng = np.random.default_rng(self.seed)
        cap = self.max_requests
        expected = min(self.rate * self.duration, float(cap))
        chunks, last, drawn = [], 0.0, 0
        # Each pass draws at least one gap and at most cap + 1 are drawn: bounded.
        while last < self.duration and drawn <= cap:
            size = int(min(cap + 1 - drawn,
                           max(64.0, expected - drawn + 6 * math.sqrt(expected) + 16)))
            t = last + np.cumsum(rng.exponential(1.0 / self.rate, size=size))
            chunks.append(t)
            last, drawn = float(t[-1]), drawn + size
        t = np.concatenate(chunks)
        t = t[t < self.duration]
        if len(t) > cap:  # the (cap + 1)-th arrival ends the window
            return t[:cap], float(t[cap])
        return t, float(self.duration)


@dataclass(frozen=True)
class PoolConfig:
    """The generator's bounds: connections, and how long an operation may wait or run."""

    connections: int = 64
    start_timeout: float = 1.0
    request_timeout: float = 5.0
    connect_timeout: float = 2.0


@dataclass
class KindStats:
    """Per operation kind: latency from the scheduled time, and outcome counts."""

    latency: LatencyHistogram = field(default_factory=LatencyHistogram)
    ok: int = 0
    failed: int = 0
    units: int = 0


@dataclass
class RunResult:
    """What one open-loop run measured."""

    offered_rate: float
    scheduled: int
    ok: int
    failed_status: int
    errors: int
    timeouts: int
    dropped: int
    window: float
    elapsed: float
    latency: LatencyHistogram
    service: LatencyHistogram
    start_delay: LatencyHistogram
    statuses: dict[int, int]
    kinds: dict[str, KindStats]
    connections_opened: int
    #: The body of the first answer with each error status (its start).
    error_examples: dict[int, str] = field(default_factory=dict)

    @property
    def failures(self) -> int:
        """Operations that did not succeed: non-2xx, errors, timeouts and drops."""
        return self.failed_status + self.errors + self.timeouts + self.dropped

    @property
    def failure_rate(self) -> float:
        """:attr:`failures` over the scheduled operations."""
        return self.failures / self.scheduled if self.scheduled else 0.0

    def failure_kinds(self) -> dict[str, int]:
        """:attr:`failures` by kind: ``HTTP <status>`` for each non-2xx status, then
        ``timeout``, ``error`` (connection or protocol) and ``dropped`` (not started in time)."""
        kinds = {f"HTTP {status}": n for status, n in sorted(self.statuses.items())
                 if not 200 <= status < 300 and n}
        for name, n in (("timeout", self.timeouts), ("error", self.errors),
                        ("dropped", self.dropped)):
            if n:
                kinds[name] = n
        return kinds

    @property
    def achieved_rate(self) -> float:
        """Successful operations per second over the run (the schedule's window or longer)."""
        return self.ok / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def units_rate(self) -> float:
        """Successful units (e.g. estimates) per second."""
        units = sum(k.units for k in self.kinds.values())
        return units / self.elapsed if self.elapsed > 0 else 0.0


@dataclass
class _State:
    offsets: np.ndarray
    source: OperationSource
    config: PoolConfig
    start: float
    next_index: int = 0
    ok: int = 0
    failed_status: int = 0
    errors: int = 0
    timeouts: int = 0
    dropped: int = 0
    last_done: float = 0.0
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)
    service: LatencyHistogram = field(default_factory=LatencyHistogram)
    start_delay: LatencyHistogram = field(default_factory=LatencyHistogram)
    statuses: Counter[int] = field(default_factory=Counter)
    #: The body of the first answer with each error status.
    error_examples: dict[int, str] = field(default_factory=dict)
    kinds: dict[str, KindStats] = field(default_factory=dict)


async def _worker(state: _State, conn: Connection) -> None:
    cfg = state.config
    n = len(state.offsets)
    clock = time.perf_counter
    # Bounded: each pass takes a fresh index; there are n of them.
    while state.next_index < n:
        i = state.next_index
        state.next_index = i + 1
        due = state.start + float(state.offsets[i])
        wait = due - clock()
        if wait > 0:
            await asyncio.sleep(wait)
        elif -wait > cfg.start_timeout:
            state.dropped += 1
            continue
        op = state.source(i)
        stats = state.kinds.get(op.kind)
        if stats is None:
            stats = state.kinds[op.kind] = KindStats()
        sent = clock()
        status = 0
        try:
            async with asyncio.timeout(cfg.request_timeout):
                for raw in op.requests:
                    status = await conn.exchange(raw)
                    if not 200 <= status < 300:
                        break
        except TimeoutError:
            state.timeouts += 1
            stats.failed += 1
            conn.close()
            continue
        except (ConnectionError, OSError, asyncio.IncompleteReadError,
                asyncio.LimitOverrunError, ProtocolError, ValueError):
            state.errors += 1
            stats.failed += 1
            conn.close()
            continue
        done = clock()
        state.last_done = done
        state.statuses[status] += 1
        if status >= 400 and status not in state.error_examples:
            state.error_examples[status] = conn.error_body.decode("utf-8", "replace")
        state.latency.record(done - due)
        state.service.record(done - sent)
        state.start_delay.record(sent - due)
        stats.latency.record(done - due)
        if 200 <= status < 300:
            state.ok += 1
            stats.ok += 1
            stats.units += op.units
        else:
            state.failed_status += 1
            stats.failed += 1


async def _ticker(state: _State, total: int, every: float,
                  progress: Callable[[int, int], None], stop: asyncio.Event) -> None:
    limit = state.start + float(state.offsets[-1] if total else 0) + 3600
    while not stop.is_set() and time.perf_counter() < limit:
        progress(min(state.next_index, total), total)
        try:
            async with asyncio.timeout(every):
                await stop.wait()
        except TimeoutError:
            pass
    progress(total, total)


async def run_open_loop(
    host: str,
    port: int,
    source: OperationSource,
    schedule: Schedule,
    config: PoolConfig | None = None,
    progress: Callable[[int, int], None] | None = None,
    more: Sequence[tuple[str, int]] = (),
) -> RunResult:
    """Run ``schedule`` against ``host:port``; operations come from ``source(index)``.
    With ``more`` addresses of the same service, the pool's connections go to each address
    in turn (and a free connection takes the next operation, whichever address it has).

    Returns when every scheduled operation has completed, failed, timed out or been dropped:
    at most ``schedule.duration + start_timeout + request_timeout`` seconds (plus a connect
    timeout). On cancellation the workers are cancelled and their connections closed.
    ``progress(started, total)`` is called about four times a second while it runs.
    """
    cfg = config or PoolConfig()
    offsets, window = schedule.plan()
    addresses = [(host, port), *more]
    conns = [Connection(*addresses[i % len(addresses)], cfg.connect_timeout)
             for i in range(cfg.connections)]
    # The pool connects before the schedule starts, as a keep-alive client would have: a
    # burst of connection set-ups would otherwise land in the first operations' latency.
    # Connections the server closes later are reopened inside the measurement.
    try:
        await asyncio.gather(*(c.open() for c in conns))
    except BaseException:
        for c in conns:
            c.close()
        raise
    state = _State(offsets=offsets, source=source, config=cfg, start=time.perf_counter() + 0.05)
    stop = asyncio.Event()
    hard_limit = (schedule.duration + cfg.start_timeout + cfg.request_timeout
                  + cfg.connect_timeout + 5.0)
    try:
        async with asyncio.timeout(hard_limit), asyncio.TaskGroup() as tg:
            ticker = None
            if progress is not None:
                ticker = tg.create_task(_ticker(state, len(offsets), 0.25, progress, stop))
            async with asyncio.TaskGroup() as workers:
                for c in conns:
                    workers.create_task(_worker(state, c))
            stop.set()
            del ticker
    finally:
        for c in conns:
            c.close()
    elapsed = max(window, state.last_done - state.start)
    return RunResult(
        offered_rate=len(offsets) / window if window else 0.0,
        scheduled=len(offsets), ok=state.ok, failed_status=state.failed_status,
        errors=state.errors, timeouts=state.timeouts, dropped=state.dropped, window=window,
        elapsed=elapsed, latency=state.latency, service=state.service,
        start_delay=state.start_delay, statuses=dict(state.statuses), kinds=state.kinds,
        error_examples=dict(state.error_examples),
        connections_opened=sum(c.opened for c in conns),
    )


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop where it is installed: the generator shares the machine with
    what it measures, and uvloop's loop costs it less CPU per request; else asyncio's."""
    if importlib.util.find_spec("uvloop") is None:
        return None
    import uvloop

    return uvloop.new_event_loop


def run_blocking(coro: Coroutine[Any, Any, _T]) -> _T:
    """Run ``coro`` (an open-loop run) to completion on a fresh event loop (see
    :func:`event_loop_factory`)."""
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        return runner.run(coro)
