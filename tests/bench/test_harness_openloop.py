"""The generator is open-loop: against a deliberately slow server, latency includes the queueing
from each operation's scheduled time and the offered rate is kept."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from bench.cluster_setup import free_port
from bench.harness.echo_server import EchoServer
from bench.harness.openloop import Operation, PoolConfig, RunResult, Schedule, run_open_loop
from bench.loadgen import build_request


async def _against_slow_server(delay: float, schedule: Schedule, pool: PoolConfig
                               ) -> tuple[RunResult, int]:
    server = EchoServer(delay=delay)
    port = free_port()
    started = asyncio.Event()
    async with asyncio.TaskGroup() as tg:
        serving = tg.create_task(server.serve(port, started))
        await asyncio.wait_for(started.wait(), 5)
        op = Operation("noop", (build_request("127.0.0.1", port, "/", b"{}", {}),))
        result = await run_open_loop("127.0.0.1", port, lambda i: op, schedule, pool)
        serving.cancel()
    return result, server.requests


def test_schedule_is_fixed_in_advance() -> None:
    constant = Schedule(100, 1.0, 1000).offsets()
    assert len(constant) == 100 and np.allclose(np.diff(constant), 0.01)
    poisson = Schedule(1000, 2.0, 10_000, "poisson", seed=7).offsets()
    assert np.array_equal(poisson, Schedule(1000, 2.0, 10_000, "poisson", seed=7).offsets())
    assert 1800 < len(poisson) < 2200 and np.all(poisson < 2.0)
    assert len(Schedule(1000, 5.0, 50).offsets()) == 50


def test_latency_counts_queueing_from_the_scheduled_time() -> None:
    # Two connections to a server taking 50 ms each: 40/s of capacity for 100/s offered.
    result, served = asyncio.run(_against_slow_server(
        0.05, Schedule(100, 1.0, 1000), PoolConfig(connections=2, start_timeout=5.0)))
    assert result.scheduled == 100 and result.offered_rate == 100
    assert result.ok == 100 == served and result.failures == 0
    # The service time stays ~50 ms, but the last operations waited ~1.5 s for a connection.
    assert result.service.percentile_ms(99) < 150
    assert result.latency.percentile_ms(99) > 1000
    assert result.start_delay.percentile_ms(50) > 300
    assert result.achieved_rate < 50  # the backlog drains after the schedule's window


def test_operations_that_cannot_start_in_time_are_dropped_not_skipped() -> None:
    result, served = asyncio.run(_against_slow_server(
        0.05, Schedule(100, 1.0, 1000), PoolConfig(connections=2, start_timeout=0.2)))
    assert result.dropped > 20
    assert result.ok + result.dropped == result.scheduled == 100
    assert served == result.ok
    assert result.failure_rate == result.dropped / 100


def test_a_fast_server_sees_the_offered_rate() -> None:
    result, _ = asyncio.run(_against_slow_server(
        0.0, Schedule(500, 1.0, 10_000), PoolConfig(connections=8)))
    assert result.ok == 500 and result.failures == 0
    assert 450 < result.achieved_rate <= 510
    assert result.latency.percentile_ms(50) < 20


def test_timeouts_are_counted() -> None:
    result, _ = asyncio.run(_against_slow_server(
        1.0, Schedule(20, 0.5, 100), PoolConfig(connections=20, request_timeout=0.1)))
    assert result.timeouts == 10 and result.ok == 0


def test_runs_on_uvloop_where_installed_with_the_same_results() -> None:
    import uvloop

    from bench.harness.openloop import event_loop_factory, run_blocking

    assert event_loop_factory() is uvloop.new_event_loop  # a dependency on Linux

    async def run() -> tuple[RunResult, int, str]:
        result, served = await _against_slow_server(
            0.0, Schedule(300, 1.0, 10_000), PoolConfig(connections=8))
        return result, served, type(asyncio.get_running_loop()).__module__

    result, served, loop_module = run_blocking(run())
    assert loop_module.startswith("uvloop")
    assert result.ok == served == 300 and result.failures == 0


def test_connections_are_spread_over_every_address() -> None:
    async def run() -> tuple[RunResult, list[int]]:
        servers = [EchoServer(delay=0.01), EchoServer(delay=0.01)]
        ports = [free_port(), free_port()]
        async with asyncio.TaskGroup() as tg:
            tasks = []
            for server, port in zip(servers, ports, strict=True):
                started = asyncio.Event()
                tasks.append(tg.create_task(server.serve(port, started)))
                await asyncio.wait_for(started.wait(), 5)
            op = Operation("noop", (build_request("127.0.0.1", ports[0], "/", b"{}", {}),))
            result = await run_open_loop("127.0.0.1", ports[0], lambda i: op,
                                         Schedule(200, 1.0, 1000), PoolConfig(connections=4),
                                         more=[("127.0.0.1", ports[1])])
            for t in tasks:
                t.cancel()
        return result, [s.requests for s in servers]

    result, served = asyncio.run(run())
    assert result.ok == 200 == sum(served)
    assert min(served) > 50  # both servers took a fair part of the load


def test_the_pool_connects_before_the_schedule_starts() -> None:
    async def run() -> RunResult:
        server, port = EchoServer(), free_port()
        started = asyncio.Event()
        async with asyncio.TaskGroup() as tg:
            serving = tg.create_task(server.serve(port, started))
            await asyncio.wait_for(started.wait(), 5)
            op = Operation("noop", (build_request("127.0.0.1", port, "/", b"{}", {}),))
            result = await run_open_loop("127.0.0.1", port, lambda i: op,
                                         Schedule(20, 0.5, 100), PoolConfig(connections=8))
            serving.cancel()
        return result

    result = asyncio.run(run())
    # All eight were opened up front, though ten operations needed at most a few at once.
    assert result.ok == 10 and result.connections_opened == 8


def test_poisson_arrivals_are_drawn_until_the_window_ends() -> None:
    rate, duration = 200.0, 5.0
    counts, last = [], []
    for seed in range(200):
        t = Schedule(rate, duration, 500_000, "poisson", seed).offsets()
        assert np.all(np.diff(t) > 0) and t[-1] < duration
        counts.append(len(t))
        last.append(t[-1])
    # The count varies around its expectation both ways (it was cut at rate * duration).
    assert max(counts) > rate * duration and min(counts) < rate * duration
    assert abs(np.mean(counts) - rate * duration) < 3 * np.sqrt(rate * duration / 200)
    assert min(last) > duration - 0.1  # the arrivals run to the end of the window


def test_a_capped_schedule_counts_its_rate_over_the_window_it_covers() -> None:
    t, window = Schedule(1000, 5.0, 50).plan()
    assert len(t) == 50 and window == pytest.approx(0.05)
    t, window = Schedule(1000, 5.0, 50, "poisson", seed=3).plan()
    assert len(t) == 50 and t[-1] < window < 5.0
    assert 500 < len(t) / window < 2000


def test_a_short_duration_does_not_inflate_the_offered_rate() -> None:
    t, window = Schedule(10, 0.0001, 100).plan()
    assert len(t) == 1 and len(t) / window == pytest.approx(10)
    t, window = Schedule(10, 0.15, 100).plan()
    assert list(t) == [0.0, 0.1] and len(t) / window == pytest.approx(10)
    result, _ = asyncio.run(_against_slow_server(
        0.0, Schedule(10, 0.15, 100), PoolConfig(connections=2)))
    assert result.scheduled == 2 and result.offered_rate == pytest.approx(10)
    assert result.achieved_rate <= 10.0 + 1e-9


def test_failed_responses_are_counted_by_status() -> None:
    from bench.harness.runner import to_step
    from bench.harness.scenarios import Scenario
    from tests.bench.test_harness_cli import _FakeReckon

    with _FakeReckon("right") as server:
        scenario = Scenario("127.0.0.1", server.port, "WRONG", {"estimate": 1.0})
        result = asyncio.run(run_open_loop("127.0.0.1", server.port, scenario,
                                           Schedule(50, 0.2, 100), PoolConfig(connections=2)))
    assert result.scheduled == 10 and result.failed_status == 10
    assert result.failure_kinds() == {"HTTP 401": 10}
    step = to_step(result)
    assert step.failure_kinds == {"HTTP 401": 10} and step.failures_text == "HTTP 401: 10"
    # What the first answer of each failing status said, for the report.
    assert result.error_examples == {401: "{}"}
    assert step.failure_examples == {"HTTP 401": "{}"}
