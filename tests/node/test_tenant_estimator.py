"""The tenant estimator folds events in order, fetches gaps, and catches up for reads."""

from __future__ import annotations

import dataclasses
import json
import threading

import anyio
import anyio.abc
import numpy as np
import orjson
import pytest

from actors import Actor, ActorRef, ActorSystem, Refused, RemoteError, Transport, handles
from actors.messages import (
    EstimateJSONReply,
    EstimateJSONRequest,
    EstimateReply,
    EstimateRequest,
    FetchEvents,
    TenantEvents,
)
from kernels import Estimator, EstimatorConfig
from node.config import NodeConfig
from node.event_fetch import COORDINATOR_ACTOR
from node.tenant_estimator import TenantEstimator
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
    #: Fetches from this seq on are refused, as a coordinator without its database does.
    unavailable_from: int | None = None

    @handles(FetchEvents)
    async def fetch(self, msg: FetchEvents, sender: str) -> TenantEvents:
        FakeLog.fetches.append(msg.after_seq)
        if FakeLog.unavailable_from is not None and msg.after_seq >= FakeLog.unavailable_from:
            raise Refused("unavailable", "event log unavailable")
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


async def _loaded(tg: anyio.abc.TaskGroup, log: list[dict]
                  ) -> tuple[ActorSystem, ActorRef, list[TenantEstimator]]:
    """A tenant actor (tracked across restarts) that has loaded ``log`` and answered once."""
    FakeLog.log = log
    FakeLog.unavailable_from = None
    system, config = await _system(tg)
    ref, instances = _spawn_tracked(system, config)
    await ref.ask(EstimateRequest("t", [{"title": "x"}], [0.5]), timeout=30)
    return system, ref, instances


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


@pytest.mark.anyio
async def test_an_item_imported_again_without_its_actual_is_learned_as_it_now_reads() -> None:
    """Re-importing an item that has an actual, with corrected text and features but no
    actual, keeps the actual (as the item table does) and the model learns the item as it
    now reads: live, and in a replay of the same log."""
    renamed = {"seq": 3, "kind": "item", "data": {
        "id": "i1", "title": "renamed work", "description": "", "features": {"size": 40}}}
    FakeLog.log = [item_event(1, effort=8.0), item_event(2, effort=2.0)]
    async with anyio.create_task_group() as tg:
        system, config = await _system(tg)
        ref, live = _spawn_tracked(system, config)
        await ref.ask(EstimateRequest("t", [{"title": "x"}], [0.5]), timeout=30)
        FakeLog.log.append(renamed)
        await ref.ask(TenantEvents("t", [renamed], 3), timeout=30)
        reply = await ref.ask(EstimateRequest("t", [{"title": "renamed work"}], [0.5]),
                              timeout=30)
        top = reply.results[0]["analogies"][0]  # type: ignore[attr-defined]
        assert (top["id"], top["title"], top["effort"]) == ("i1", "renamed work", 8.0)
        replayed = TenantEstimator("t", config)  # a new owner replays the log in one batch
        again = system.spawn("estimator:t-replayed", lambda: replayed)
        reply = await again.ask(EstimateRequest("t", [{"title": "renamed work"}], [0.5]),
                                timeout=30)
        assert reply.results[0]["analogies"][0]["title"] == "renamed work"  # type: ignore
        tg.cancel_scope.cancel()
    for actor in (live[-1], replayed):
        store = actor.model._items
        assert actor.model.n_observations == 2
        row = store.row_of("i1")
        assert store.titles[row] == "renamed work" and store.efforts[row] == 8.0
        assert json.loads(store.features[row]) == {"size": 40}
        assert actor.items["i1"]["actual"] == 8.0


def _rewritten_log(rng: np.random.Generator, n: int = 150) -> list[dict]:
    """Items imported, re-imported (with and without an actual, often with a description
    that differs only in case or punctuation, which the hashed text does not see) and
    actuals reported again."""
    descriptions = ["fix login page", "Fix login page", "fix login page.", "add api cache"]
    log: list[dict] = []
    for seq in range(1, n + 1):
        item_id = f"i{rng.integers(0, 25)}"
        if rng.random() < 0.25:
            log.append({"seq": seq, "kind": "actual",
                        "data": {"id": item_id, "effort": float(rng.choice([1, 2, 3]))}})
            continue
        data = {"id": item_id, "title": str(rng.choice(["a b", "c d"])),
                "description": str(rng.choice(descriptions)),
                "features": {"size": float(rng.choice([1, 2]))}}
        if rng.random() < 0.5:
            data["actual"] = float(rng.choice([1, 2, 3]))
        log.append({"seq": seq, "kind": "item", "data": data})
    return log


def test_owners_folding_the_same_log_in_other_batches_hold_the_same_model() -> None:
    """One owner gets the log pushed a few events at a time, another replays it in one
    batch: their models must be bit for bit the same (one version string, one model),
    including where items are imported again or actuals reported again."""
    config = NodeConfig("n", "tcp://127.0.0.1:1", ("c",), SECRET, snapshots=False,
                        refit_growth=0)
    for trial in range(6):
        rng = np.random.default_rng(trial)
        log = _rewritten_log(rng)
        live, replayed = TenantEstimator("t", config), TenantEstimator("t", config)
        done = 0
        while done < len(log):
            for event in log[done : done + int(rng.integers(1, 6))]:
                live.held[event["seq"]] = event
                done += 1
            live._apply_held()
        for event in log:
            replayed.held[event["seq"]] = event
        replayed._learn(replayed._apply_held(teach=False))
        a, b = live.model.to_state(), replayed.model.to_state()
        assert a.keys() == b.keys()
        differ = [k for k in a if np.asarray(a[k]).tobytes() != np.asarray(b[k]).tobytes()
                  or np.asarray(a[k]).shape != np.asarray(b[k]).shape]
        assert differ == [], (trial, differ)


def _spawn_tracked(system: ActorSystem, config: NodeConfig
                   ) -> tuple[ActorRef, list[TenantEstimator]]:
    """Spawn tenant t's estimator, keeping every instance the supervisor creates."""
    instances: list[TenantEstimator] = []

    def make() -> TenantEstimator:
        instances.append(TenantEstimator("t", config))
        return instances[-1]

    return system.spawn("estimator:t", make), instances


def _varied_event(seq: int) -> dict:
    words = ["api", "login", "report", "export", "billing", "search", "cache", "deploy"]
    title = f"{words[seq % 8]} {words[(seq * 3) % 8]} change {seq % 5}"
    data = {"id": f"i{seq}", "title": title, "description": words[(seq * 5) % 8],
            "features": {"size": 1 + seq % 7}, "actual": float(1 + (seq * 7) % 13)}
    return {"seq": seq, "kind": "item", "data": data}


@pytest.mark.anyio
async def test_a_replay_in_pages_teaches_the_model_in_one_call() -> None:
    """700 events in pages of 300 give the model that learning the whole history in one
    call gives (the actor now learns a replay in one call: only the last items of a call
    are predicted one by one to calibrate, so page by page was slower)."""
    FakeLog.log = [_varied_event(s) for s in range(1, 701)]
    FakeLog.fetches = []
    levels = [0.1, 0.5, 0.9]
    async with anyio.create_task_group() as tg:
        system, config = await _system(tg)
        config = dataclasses.replace(config, fetch_page=300, refit_growth=0)
        ref, _ = _spawn_tracked(system, config)
        reply = await ref.ask(EstimateRequest("t", [{"title": "login report change 2"}],
                                              levels), timeout=60)
        assert isinstance(reply, EstimateReply) and reply.seq == 700
        assert FakeLog.fetches[:3] == [0, 300, 600]
        tg.cancel_scope.cancel()
    direct = Estimator(EstimatorConfig(), prior=config.prior)
    data = [e["data"] for e in FakeLog.log]
    direct.learn_many([d["id"] for d in data], [d["title"] for d in data],
                      [d["description"] for d in data], [d["features"] for d in data],
                      np.array([d["actual"] for d in data]))
    expected = direct.predict("login report change 2", "", {}, np.array(levels))
    assert reply.results[0]["quantiles"] == pytest.approx(list(expected.quantiles), rel=1e-9)


@pytest.mark.anyio
async def test_queued_estimates_are_answered_together_each_as_asked() -> None:
    FakeLog.log = [_varied_event(s) for s in range(1, 41)]
    async with anyio.create_task_group() as tg:
        system, config = await _system(tg)
        config = dataclasses.replace(config, refit_growth=0)
        ref, instances = _spawn_tracked(system, config)
        await ref.ask(EstimateRequest("t", [{"title": "x"}], [0.5]), timeout=30)
        model = instances[-1].model
        calls = []
        real = model.predict_columns

        def counting(*args: object, **kw: object) -> object:
            calls.append(len(args[0]))  # type: ignore[arg-type]
            return real(*args, **kw)  # type: ignore[arg-type]

        model.predict_columns = counting  # type: ignore[method-assign]
        requests = [
            EstimateRequest("t", [{"title": f"api report {i}", "features": {"size": i % 7}}
                                  for i in range(1 + k % 3)],
                            [0.1, 0.5, 0.9] if k % 2 else [0.25, 0.75], min_seq=0)
            for k in range(24)
        ]
        requests.append(EstimateRequest("t", [{"title": "x"}], [0.5], min_seq=99))  # behind
        replies: dict[int, object] = {}

        async def one(k: int) -> None:
            try:
                replies[k] = await ref.ask(requests[k], timeout=30)
            except RemoteError as e:
                replies[k] = e.code

        async with anyio.create_task_group() as inner:
            for k in range(len(requests)):
                inner.start_soon(one, k)
        assert replies[24] == "behind"
        assert len(calls) < 24  # several requests shared a model call
        for k, req in enumerate(requests[:24]):
            reply = replies[k]
            assert isinstance(reply, EstimateReply) and reply.seq == 40
            assert len(reply.results) == len(req.items)
            for item, result in zip(req.items, reply.results, strict=True):
                alone = real([item["title"]], [""], [item["features"]],
                             np.array(req.quantiles)).to_list()[0]
                assert result["quantiles"] == pytest.approx(list(alone.quantiles))
                assert result["median"] == pytest.approx(alone.median)
        tg.cancel_scope.cancel()


async def _until_refitted(ref: object, actor: list[TenantEstimator], seq: int) -> EstimateReply:
    """Ask estimates until a refitted model at ``seq`` answers and no refit is running
    (and none was swapped in after the answer: it is the model the actor now holds)."""
    with anyio.fail_after(60):
        while True:
            reply = await ref.ask(EstimateRequest("t", [{"title": "x"}], [0.5]),  # type: ignore[attr-defined]
                                  timeout=30)
            assert isinstance(reply, EstimateReply)
            now = actor[-1]
            if ("+refit" in reply.model_version and reply.seq == seq
                    and not now._refit_running
                    and f"+refit{now.refits}.s{now.refit_seq}" in reply.model_version):
                return reply
            await anyio.sleep(0.05)


@pytest.mark.anyio
async def test_refit_runs_in_the_background_and_replays_what_came_meanwhile() -> None:
    FakeLog.log = [_varied_event(s) for s in range(1, 11)]
    async with anyio.create_task_group() as tg:
        system, config = await _system(tg)
        config = dataclasses.replace(config, refit_growth=2.0, refit_min_items=20)
        ref, instances = _spawn_tracked(system, config)
        first = await ref.ask(EstimateRequest("t", [{"title": "x"}], [0.5]), timeout=30)
        assert "+refit" not in first.model_version  # type: ignore[attr-defined]
        # Events arrive one by one: at 20 actuals a refit starts, and more events come in
        # while it runs.
        started_at = None
        for seq in range(11, 46):
            FakeLog.log.append(_varied_event(seq))
            await ref.ask(TenantEvents("t", [_varied_event(seq)], seq), timeout=30)
            if started_at is None and instances[-1]._refit_running:
                started_at = seq
        assert started_at == 20
        reply = await _until_refitted(ref, instances, 45)
        actor = instances[-1]
        assert reply.model_version == (f"{actor.model.model_name}+refit{actor.refits}"
                                       f".s{actor.refit_seq}/t@45")
        # The first refit was fitted on 20 actuals, so the next was due at 40: it started at
        # the event that reached 40, or at once when the first was swapped in later than that.
        assert 40 <= actor.refit_seq <= 45 and actor.refits == 2
        assert actor.model.n_observations == 45  # the snapshot plus the replayed actuals
        assert actor._next_refit == 2 * actor.refit_seq
        assert system.statistics().restarts == 0
        tg.cancel_scope.cancel()


async def _refitting_thirty_items(tg: anyio.abc.TaskGroup
                                  ) -> tuple[ActorRef, list[TenantEstimator]]:
    """An estimator actor over 30 varied items, refitting from 20 actuals and at each
    doubling, that has answered once (so its first refit has started)."""
    FakeLog.log = [_varied_event(s) for s in range(1, 31)]
    system, config = await _system(tg)
    config = dataclasses.replace(config, refit_growth=2.0, refit_min_items=20)
    ref, instances = _spawn_tracked(system, config)
    await ref.ask(EstimateRequest("t", [{"title": "x"}], [0.5]), timeout=30)
    return ref, instances


@pytest.mark.anyio
async def test_a_bulk_import_during_a_refit_makes_the_next_refit_due_at_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The first refit is fitted on 30 actuals while 40 more arrive: the history has more
    than doubled since what it was fitted on, so another refit follows it at once (counting
    from the 70 in use would put the next one at 140, leaving 40 of 70 actuals unfitted)."""
    gate = threading.Event()
    original = Estimator.refit_job

    def held_back(self: Estimator):  # type: ignore[no-untyped-def]
        job = original(self)

        def run() -> Estimator:
            gate.wait(30)
            return job()
        return run

    monkeypatch.setattr(Estimator, "refit_job", held_back)
    async with anyio.create_task_group() as tg:
        ref, instances = await _refitting_thirty_items(tg)
        assert instances[-1]._refit_running
        more = [_varied_event(s) for s in range(31, 71)]
        FakeLog.log += more
        await ref.ask(TenantEvents("t", more, 70), timeout=30)
        gate.set()
        await _until_refitted(ref, instances, 70)
        actor = instances[-1]
        assert (actor.refits, actor.refit_seq, actor._next_refit) == (2, 70, 140)
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_a_replayed_history_is_refitted_after_start() -> None:
    FakeLog.log = [_varied_event(s) for s in range(1, 31)]
    async with anyio.create_task_group() as tg:
        system, config = await _system(tg)
        config = dataclasses.replace(config, refit_growth=2.0, refit_min_items=20)
        ref, instances = _spawn_tracked(system, config)
        reply = await _until_refitted(ref, instances, 30)
        assert instances[-1].refits == 1 and instances[-1]._next_refit == 60
        assert instances[-1].model.n_observations == 30
        assert reply.seq == 30
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_a_finished_refit_is_swapped_in_without_waiting_for_another_message() -> None:
    """A quiet tenant gets its refitted model (and the snapshot of what came during the
    refit) when the refit is done, not at its next read or write."""
    async with anyio.create_task_group() as tg:
        _, instances = await _refitting_thirty_items(tg)
        actor = instances[-1]
        with anyio.fail_after(30):
            while actor.refits == 0:  # noqa: ASYNC110 - set by the actor itself
                await anyio.sleep(0.02)
        assert not actor._refit_running and actor.refit_seq == 30
        tg.cancel_scope.cancel()


async def _serving_thirty_items(tg: anyio.abc.TaskGroup) -> tuple[ActorRef, Estimator]:
    """An estimator actor that has folded 30 varied items (no refits) and answered once,
    and its model."""
    FakeLog.log = [_varied_event(s) for s in range(1, 31)]
    system, config = await _system(tg)
    ref, instances = _spawn_tracked(system, dataclasses.replace(config, refit_growth=0))
    await ref.ask(EstimateRequest("t", [{"title": "x"}], [0.5]), timeout=30)
    return ref, instances[-1].model


@pytest.mark.anyio
async def test_large_queued_batches_are_answered_in_worker_threads() -> None:
    async with anyio.create_task_group() as tg:
        ref, model = await _serving_thirty_items(tg)
        threads: set[str] = set()
        real = model.predict_columns

        def recording(*args: object) -> object:
            threads.add(threading.current_thread().name)
            return real(*args)  # type: ignore[arg-type]

        model.predict_columns = recording  # type: ignore[method-assign]
        requests = [EstimateRequest("t", [{"title": f"api {k} {i}"} for i in range(300)],
                                    [0.1, 0.5, 0.9]) for k in range(4)]
        replies: dict[int, object] = {}

        async def one(k: int) -> None:
            replies[k] = await ref.ask(requests[k], timeout=60)

        async with anyio.create_task_group() as inner:
            for k in range(len(requests)):
                inner.start_soon(one, k)
        assert threading.main_thread().name not in threads  # 300+ items: off the loop
        for k, req in enumerate(requests):
            reply = replies[k]
            assert isinstance(reply, EstimateReply) and len(reply.results) == 300
            alone = real([req.items[7]["title"]], [""], [{}],
                         np.array(req.quantiles)).to_list()[0]
            assert reply.results[7]["quantiles"] == pytest.approx(list(alone.quantiles))
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_queued_requests_share_model_calls_up_to_a_bounded_size() -> None:
    """Small queued requests share a model call; big ones get one each, so each big
    request is answered as soon as its own items are done."""
    from node.tenant_estimator import MAX_ITEMS_PER_CALL

    async with anyio.create_task_group() as tg:
        ref, model = await _serving_thirty_items(tg)
        calls: list[int] = []
        real = model.predict_columns

        def recording(titles: list[str], *args: object) -> object:
            calls.append(len(titles))
            return real(titles, *args)  # type: ignore[arg-type]

        model.predict_columns = recording  # type: ignore[method-assign]
        sizes = [40] * 12 + [MAX_ITEMS_PER_CALL + 100] * 3
        replies: dict[int, object] = {}

        async def one(k: int) -> None:
            items = [{"title": f"api {k} {i}"} for i in range(sizes[k])]
            replies[k] = await ref.ask(EstimateRequest("t", items, [0.5]), timeout=60)

        async with anyio.create_task_group() as inner:
            for k in range(len(sizes)):  # all queued before the actor takes the first
                inner.start_soon(one, k)
        assert all(len(replies[k].results) == n for k, n in enumerate(sizes))  # type: ignore[attr-defined]
        assert sum(calls) == sum(sizes)
        big = [n for n in calls if n > MAX_ITEMS_PER_CALL]
        assert big == [MAX_ITEMS_PER_CALL + 100] * 3  # big requests: a call each
        small = [n for n in calls if n <= MAX_ITEMS_PER_CALL]
        assert len(small) < 12  # the small ones really shared calls
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_a_json_request_gets_the_same_results_written_as_json() -> None:
    async with anyio.create_task_group() as tg:
        ref, _ = await _serving_thirty_items(tg)
        items = [{"title": f"api {i}", "features": {"size": i}} for i in range(5)]
        levels = [0.1, 0.5, 0.9]
        maps = await ref.ask(EstimateRequest("t", items, levels), timeout=30)
        rendered = await ref.ask(EstimateJSONRequest("t", items, levels), timeout=30)
        assert isinstance(maps, EstimateReply) and isinstance(rendered, EstimateJSONReply)
        assert rendered.quantiles.shape == (5, 3)
        assert rendered.quantiles.tolist() == [r["quantiles"] for r in maps.results]
        assert rendered.medians.tolist() == [r["median"] for r in maps.results]
        assert [orjson.loads(a) for a in rendered.analogies] == [
            r["analogies"] for r in maps.results]
        assert [orjson.loads(d) for d in rendered.drivers] == [
            [{"feature": n, "effect": v} for n, v in r["drivers"]] for r in maps.results]
        assert any(orjson.loads(a) for a in rendered.analogies)
        assert (rendered.model_version, rendered.seq) == (maps.model_version, maps.seq)
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_the_tenants_of_a_node_refit_one_at_a_time(monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    """Refits hold the GIL: several at once in one node only starve its event loop."""
    FakeLog.log = [_varied_event(s) for s in range(1, 31)]
    running, most = [0], [0]
    lock = threading.Lock()
    refit_job = Estimator.refit_job

    def watched_job(self: Estimator) -> object:
        job = refit_job(self)

        def run() -> Estimator:
            with lock:
                running[0] += 1
                most[0] = max(most[0], running[0])
            try:
                threading.Event().wait(0.2)  # long enough for the others to start
                return job()
            finally:
                with lock:
                    running[0] -= 1

        return run

    monkeypatch.setattr(Estimator, "refit_job", watched_job)
    async with anyio.create_task_group() as tg:
        system, config = await _system(tg)
        config = dataclasses.replace(config, refit_growth=2.0, refit_min_items=20)
        tenants = {}
        for name in ("a", "b", "c"):
            instances: list[TenantEstimator] = []
            tenants[name] = instances
            system.spawn(f"estimator:{name}", lambda n=name, i=instances: i.append(
                TenantEstimator(n, config)) or i[-1])
        refs = {name: system.ref(system.address, f"estimator:{name}") for name in tenants}
        for name, ref in refs.items():
            await ref.ask(EstimateRequest(name, [{"title": "x"}], [0.5]), timeout=30)
        with anyio.fail_after(30):
            while not all(i and i[-1].refits >= 1 for i in tenants.values()):
                for name, ref in refs.items():
                    await ref.ask(EstimateRequest(name, [{"title": "x"}], [0.5]), timeout=30)
                await anyio.sleep(0.05)
        assert most[0] == 1
        tg.cancel_scope.cancel()
