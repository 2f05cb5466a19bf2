"""The simulation actor: parts of one plan reuse its PERT tables and give the same answer."""

from __future__ import annotations

import anyio
import numpy as np
import pytest

from actors import ActorSystem, RemoteError, Transport
from actors.messages import SimulateReply, SimulateRequest
from coordinator.forecast_spec import parse_forecast_request
from kernels import ForecastPart, simulate_part
from node.simulation_worker import (
    MAX_PART_TRIALS,
    PERT_CACHE_PLANS,
    SIMULATOR,
    SimulationWorker,
)
from tests.ports import free_tcp_address

PROJECT = {"tasks": [{"id": f"t{i}", "optimistic": 1 + i % 3, "likely": 3 + i % 5,
                      "pessimistic": 9 + i % 7} for i in range(20)], "trials": 2000, "seed": 7}


def _plan(shift: float = 0.0) -> dict:
    tasks = [dict(t, pessimistic=t["pessimistic"] + shift) for t in PROJECT["tasks"]]
    return parse_forecast_request(dict(PROJECT, tasks=tasks)).plan.to_dict()


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_parts_of_one_plan_reuse_its_tables_with_the_same_answer(anyio_backend):
    workers: list[SimulationWorker] = []

    def make() -> SimulationWorker:
        workers.append(SimulationWorker())
        return workers[-1]

    async with anyio.create_task_group() as tg:
        system = ActorSystem(Transport(free_tcp_address(), b"k"))
        await tg.start(system.run)
        system.spawn(SIMULATOR, make)
        worker = workers[-1]
        ref = system.ref(system.address, SIMULATOR)
        plan = _plan()
        parts = []
        for start in (0, 700, 1400):
            reply = await ref.ask(SimulateRequest(plan, start, 700 if start < 1400 else 600, 7),
                                  timeout=30)
            assert isinstance(reply, SimulateReply)
            parts.append(ForecastPart.from_dict(reply.part))
        assert worker.pert_reused == 2
        request = parse_forecast_request(PROJECT)
        whole = simulate_part(request.plan, 0, 2000, 7)
        assert np.array_equal(np.concatenate([p.totals for p in parts]), whole.totals)

        # Other plans are not served from the cache, and it holds only the last few.
        for shift in range(1, PERT_CACHE_PLANS + 2):
            await ref.ask(SimulateRequest(_plan(shift), 0, 10, 7), timeout=30)
        assert worker.pert_reused == 2
        await ref.ask(SimulateRequest(plan, 0, 10, 7), timeout=30)  # evicted meanwhile
        assert worker.pert_reused == 2
        await ref.ask(SimulateRequest(_plan(PERT_CACHE_PLANS + 1), 0, 10, 7), timeout=30)
        assert worker.pert_reused == 3

        with pytest.raises(RemoteError) as e:
            await ref.ask(SimulateRequest({"tasks": 1}, 0, 10, 7), timeout=30)
        assert e.value.code == "bad_request"
        # A part no reply frame could carry is refused before any work.
        for count in (MAX_PART_TRIALS + 1, 60_000_000):
            with pytest.raises(RemoteError) as e:
                await ref.ask(SimulateRequest(plan, 0, count, 7), timeout=5)
            assert e.value.code == "bad_request" and "more than one part" in e.value.message
        tg.cancel_scope.cancel()


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_tables_bigger_than_the_cache_are_not_kept(anyio_backend, monkeypatch):
    monkeypatch.setattr("node.simulation_worker.PERT_CACHE_BYTES", 1000)  # < 20 x 513 x 8
    workers: list[SimulationWorker] = []
    async with anyio.create_task_group() as tg:
        system = ActorSystem(Transport(free_tcp_address(), b"k"))
        await tg.start(system.run)
        system.spawn(SIMULATOR, lambda: workers.append(SimulationWorker()) or workers[-1])
        ref = system.ref(system.address, SIMULATOR)
        for start in (0, 10):
            await ref.ask(SimulateRequest(_plan(), start, 10, 7), timeout=30)
        assert workers[-1].pert_reused == 0 and not workers[-1]._pert
        tg.cancel_scope.cancel()
