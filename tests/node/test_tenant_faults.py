"""A tenant actor under faults: a log its coordinators cannot serve, malformed events and
requests from a faulty member, events pushed far ahead. It keeps its loaded model."""

from __future__ import annotations

import anyio
import pytest

from actors import RemoteError
from actors.messages import EstimateRequest, TenantEvents
from tests.node.test_tenant_estimator import FakeLog, _loaded, item_event


@pytest.mark.anyio
async def test_a_catch_up_the_log_cannot_serve_keeps_the_model_and_what_it_folded() -> None:
    """The coordinators cannot serve the log (their database is down) part way through a
    catch-up: the read that needed it is refused as behind, the pages folded so far are
    learned, and the actor is not restarted (a restart would throw its model away and
    could not reload it until the database is back)."""
    async with anyio.create_task_group() as tg:
        system, ref, instances = await _loaded(tg, [item_event(1)])
        FakeLog.log = [item_event(s) for s in range(1, 11)]
        FakeLog.unavailable_from = 5  # the page 2..5 is served, the next is not
        try:
            with pytest.raises(RemoteError) as err:
                await ref.ask(EstimateRequest("t", [{"title": "x"}], [0.5], min_seq=10),
                              timeout=30)
            assert err.value.code == "behind"
            reply = await ref.ask(EstimateRequest("t", [{"title": "x"}], [0.5]), timeout=30)
            assert reply.seq == 5  # type: ignore[attr-defined]
            assert len(instances) == 1 and system.statistics().restarts == 0
            assert instances[0].model.n_observations == 5
            # Pushed events with a gap wait for the log too, without a restart.
            await ref.ask(TenantEvents("t", [item_event(10)], 10), timeout=30)
            assert len(instances) == 1 and instances[0].last_seq == 5
            FakeLog.unavailable_from = None
            reply = await ref.ask(EstimateRequest("t", [{"title": "x"}], [0.5], min_seq=10),
                                  timeout=30)
            assert reply.seq == 10  # type: ignore[attr-defined]
            assert instances[0].model.n_observations == 10
        finally:
            FakeLog.unavailable_from = None
        tg.cancel_scope.cancel()


def _malformed_events(seq: int) -> list[object]:
    """Events a faulty member might push in place of event ``seq``."""
    good = item_event(seq)
    data = good["data"]
    return [
        {**good, "seq": "abc"}, {**good, "seq": float("inf")}, {**good, "seq": [seq]},
        {k: v for k, v in good.items() if k != "seq"}, [seq, "item"], "event",
        {**good, "data": [1, 2]}, {**good, "data": {k: v for k, v in data.items() if k != "id"}},
        {**good, "data": {**data, "actual": float("nan")}},
        {**good, "data": {**data, "actual": -1.0}}, {**good, "data": {**data, "actual": 0}},
        {**good, "data": {**data, "actual": "abc"}}, {**good, "data": {**data, "features": 5}},
        {"seq": seq, "kind": "actual", "data": {"id": "i1"}},
        {"seq": seq, "kind": "actual", "data": {"id": "i1", "effort": float("inf")}},
    ]


@pytest.mark.anyio
async def test_malformed_events_and_requests_leave_the_loaded_model_alone() -> None:
    """Pushed events that cannot be folded are dropped and their seq is fetched from the
    log; one in the log itself is skipped at its seq; an estimate request with features
    that are no map is refused alone, the requests beside it are answered. The actor is
    never restarted (a restart throws its model away)."""
    async with anyio.create_task_group() as tg:
        system, ref, instances = await _loaded(tg, [item_event(s) for s in range(1, 4)])
        seq = 3
        for bad in _malformed_events(4):  # each in place of the next event
            seq += 1
            FakeLog.log.append(item_event(seq))
            bad_here = {**bad, "seq": seq} if isinstance(bad, dict) and "seq" in bad and (
                bad["seq"] == 4) else bad
            await ref.ask(TenantEvents("t", [bad_here], seq), timeout=30)  # type: ignore[list-item]
            assert instances[0].last_seq == seq
        n = instances[0].model.n_observations
        assert n == seq
        FakeLog.log = [*FakeLog.log, {**item_event(seq + 1), "data": [1]}, item_event(seq + 2)]
        await ref.ask(TenantEvents("t", [], seq + 2), timeout=30)
        assert instances[0].last_seq == seq + 2 and instances[0].model.n_observations == n + 1
        asks = [ref.ask(EstimateRequest("t", [{"title": "x", "features": f}], [0.5]),
                        timeout=30) for f in ({"size": 2}, 5, [1, 2], {"size": 3})]
        answers: list[object] = [None] * len(asks)

        async def one(i: int) -> None:
            try:
                answers[i] = await asks[i]
            except RemoteError as e:
                answers[i] = e

        async with anyio.create_task_group() as inner:
            for i in range(len(asks)):
                inner.start_soon(one, i)
        assert [type(a).__name__ for a in answers] == [
            "EstimateReply", "RemoteError", "RemoteError", "EstimateReply"]
        assert {a.code for a in answers if isinstance(a, RemoteError)} == {"bad_request"}
        assert len(instances) == 1 and system.statistics().restarts == 0
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_events_pushed_far_ahead_are_not_held() -> None:
    """Events more than a hold window past the model's seq are left to the log (fetched
    when the actor gets there) instead of being held in memory for ever."""
    from node.tenant_estimator import HOLD_WINDOW

    async with anyio.create_task_group() as tg:
        _, ref, instances = await _loaded(tg, [item_event(1)])
        far = [item_event(s) for s in (HOLD_WINDOW + 2, 10**9, 10**9 + 1)]
        await ref.ask(TenantEvents("t", [item_event(3), *far], 0), timeout=30)
        assert sorted(instances[0].held) == [3]  # waits for seq 2, which the log lacks
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_a_model_left_half_changed_is_rebuilt_with_every_event(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Learning that fails after it began to change the model is not retried item by item
    (each item would look learned already and be skipped): the actor restarts and its new
    model learns every event from the log."""
    from kernels import Estimator, ModelStateError

    async with anyio.create_task_group() as tg:
        system, ref, instances = await _loaded(tg, [item_event(s) for s in range(1, 4)])
        real = Estimator.learn_many
        failures = [1]

        def fails_once(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            if failures:
                failures.pop()
                real(self, *args, **kwargs)
                raise ModelStateError("learning failed part way")
            return real(self, *args, **kwargs)

        monkeypatch.setattr(Estimator, "learn_many", fails_once)
        FakeLog.log = [item_event(s) for s in range(1, 6)]
        with pytest.raises(RemoteError):
            await ref.ask(TenantEvents("t", [item_event(4), item_event(5)], 5), timeout=30)
        reply = await ref.ask(EstimateRequest("t", [{"title": "x"}], [0.5], min_seq=5),
                              timeout=30)
        assert reply.seq == 5  # type: ignore[attr-defined]
        assert system.statistics().restarts == 1 and len(instances) == 2
        assert instances[-1].model.n_observations == 5
        tg.cancel_scope.cancel()
