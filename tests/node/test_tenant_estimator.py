"""The tenant estimator folds events in order, fetches gaps, and catches up for reads."""

from __future__ import annotations

import anyio
import pytest

from actors import Actor, ActorSystem, RemoteError, Transport, handles
from actors.messages import EstimateReply, EstimateRequest, FetchEvents, TenantEvents
from node.config import NodeConfig
from node.tenant_estimator import COORDINATOR_ACTOR, TenantEstimator
from tests.ports import free_tcp_address

SECRET = b"k"


def item_event(seq: int, effort: float | None = 3.0) -> dict:
    data = {"id": f"i{seq}", "title": f"task {seq}", "description": "", "features": {"size": seq}}
    if effort is not None:
        data["actual"] = effort
    return {"seq": seq, "kind": "item", "data": data}


class FakeLog(Actor):
    """Stands in for a coordinator: serves a tenant's log from memory."""

    log: list[dict] = []
    fetches: list[int] = []

    @handles(FetchEvents)
    async def fetch(self, msg: FetchEvents, sender: str) -> TenantEvents:
        FakeLog.fetches.append(msg.after_seq)
        events = [e for e in FakeLog.log if e["seq"] > msg.after_seq][: msg.limit]
        return TenantEvents(msg.tenant, events, len(FakeLog.log))


async def _system(tg) -> tuple[ActorSystem, NodeConfig]:
    address = free_tcp_address()
    system = ActorSystem(Transport(address, SECRET))
    await tg.start(system.run)
    system.spawn(COORDINATOR_ACTOR, FakeLog)
    config = NodeConfig(
        node_id="n", listen=address, coordinators=(address,), cluster_secret=SECRET, fetch_page=4
    )
    return system, config


@pytest.mark.anyio
async def test_replays_history_in_pages_on_start() -> None:
    FakeLog.log = [item_event(s) for s in range(1, 11)]
    FakeLog.fetches = []
    async with anyio.create_task_group() as tg:
        system, config = await _system(tg)
        ref = system.spawn("estimator:t", lambda: TenantEstimator("t", config))
        reply = await ref.ask(EstimateRequest("t", [{"title": "task"}], [0.5]), timeout=30)
        assert isinstance(reply, EstimateReply)
        assert reply.seq == 10
        assert FakeLog.fetches[:3] == [0, 4, 8]
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_gap_is_fetched_and_duplicates_are_ignored() -> None:
    FakeLog.log = [item_event(1)]
    FakeLog.fetches = []
    async with anyio.create_task_group() as tg:
        system, config = await _system(tg)
        ref = system.spawn("estimator:t", lambda: TenantEstimator("t", config))
        await ref.ask(EstimateRequest("t", [{"title": "x"}], [0.5]), timeout=30)
        # Events 2..5 are committed, but only 5 (and a duplicate of 1) is pushed.
        FakeLog.log = [item_event(s) for s in range(1, 6)]
        await ref.ask(TenantEvents("t", [item_event(1), item_event(5)], 5), timeout=30)
        reply = await ref.ask(EstimateRequest("t", [{"title": "x"}], [0.5]), timeout=30)
        assert reply.seq == 5  # type: ignore[attr-defined]
        assert 1 in FakeLog.fetches  # fetched what followed seq 1
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_read_your_writes_catches_up_or_refuses_behind() -> None:
    FakeLog.log = [item_event(1)]
    async with anyio.create_task_group() as tg:
        system, config = await _system(tg)
        ref = system.spawn("estimator:t", lambda: TenantEstimator("t", config))
        await ref.ask(EstimateRequest("t", [{"title": "x"}], [0.5]), timeout=30)
        FakeLog.log = [item_event(1), item_event(2)]
        reply = await ref.ask(EstimateRequest("t", [{"title": "x"}], [0.5], min_seq=2), timeout=30)
        assert reply.seq == 2  # type: ignore[attr-defined]
        with pytest.raises(RemoteError) as err:
            await ref.ask(EstimateRequest("t", [{"title": "x"}], [0.5], min_seq=9), timeout=30)
        assert err.value.code == "behind"
        # A refusal is not a crash: the actor was not restarted.
        assert system.statistics().restarts == 0
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_actual_for_a_known_item_teaches_the_model() -> None:
    FakeLog.log = [item_event(1, effort=None)]
    async with anyio.create_task_group() as tg:
        system, config = await _system(tg)
        ref = system.spawn("estimator:t", lambda: TenantEstimator("t", config))
        await ref.ask(EstimateRequest("t", [{"title": "x"}], [0.5]), timeout=30)
        event = {"seq": 2, "kind": "actual", "data": {"id": "i1", "effort": 8.0}}
        FakeLog.log.append(event)
        await ref.ask(TenantEvents("t", [event], 2), timeout=30)
        reply = await ref.ask(EstimateRequest("t", [{"title": "task 1"}], [0.5]), timeout=30)
        result = reply.results[0]  # type: ignore[attr-defined]
        assert result["analogies"][0]["id"] == "i1"
        assert result["analogies"][0]["effort"] == 8.0
        tg.cancel_scope.cancel()
