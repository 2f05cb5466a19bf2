"""Tenant estimators save a snapshot after each refit and start from the newest one."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import anyio
import pytest

from actors import Actor, ActorSystem, Refused, Transport, handles
from actors.messages import (
    EstimateReply,
    EstimateRequest,
    FetchEvents,
    FetchSnapshot,
    SnapshotPart,
    TenantEvents,
)
from coordinator.snapshot_assembly import SnapshotAssembly, SnapshotRefused
from kernels import PublicPrior
from node import snapshots
from node.config import NodeConfig
from node.event_fetch import COORDINATOR_ACTOR
from node.tenant_estimator import TenantEstimator
from tests.node.test_tenant_estimator import _varied_event
from tests.ports import free_tcp_address

SECRET = b"k"
QUESTION = EstimateRequest("t", [{"title": "login api", "features": {"size": 3}}], [0.1, 0.5, 0.9])


class FakeCoordinator(Actor):
    """A coordinator's log and snapshot store, in memory."""

    log: list[dict] = []
    fetches: list[int] = []
    stored: dict[int, tuple[bytes, list[bytes], int]] = {}  # seq -> digest, parts, size
    saved: anyio.Event
    assembly = SnapshotAssembly()
    parts_seen = 0

    @handles(FetchEvents)
    async def fetch(self, msg: FetchEvents, sender: str) -> TenantEvents:
        FakeCoordinator.fetches.append(msg.after_seq)
        events = [e for e in FakeCoordinator.log if e["seq"] > msg.after_seq][: msg.limit]
        return TenantEvents(msg.tenant, events, len(FakeCoordinator.log))

    @handles(SnapshotPart)
    async def put(self, msg: SnapshotPart, sender: str) -> None:
        FakeCoordinator.parts_seen += 1
        try:
            whole = FakeCoordinator.assembly.add(msg, sender)
        except SnapshotRefused as e:
            raise Refused(e.reason, str(e)) from e
        if whole is not None:
            FakeCoordinator.assembly.done(whole)
            FakeCoordinator.stored[whole.seq] = (whole.digest, whole.parts, msg.size)
            FakeCoordinator.saved.set()

    @handles(FetchSnapshot)
    async def get(self, msg: FetchSnapshot, sender: str) -> SnapshotPart:
        seqs = [s for s in FakeCoordinator.stored if msg.seq < 0 or s <= msg.seq]
        if not seqs:
            return SnapshotPart(msg.tenant, msg.seq, msg.part, 0, 0, b"", b"")
        seq = max(seqs)  # the newest at or below the seq asked for
        digest, parts, size = FakeCoordinator.stored[seq]
        return SnapshotPart(msg.tenant, seq, msg.part, len(parts), size, digest, parts[msg.part])


def _reset(n_events: int) -> None:
    FakeCoordinator.log = [_varied_event(s) for s in range(1, n_events + 1)]
    FakeCoordinator.fetches = []
    FakeCoordinator.stored = {}
    FakeCoordinator.saved = anyio.Event()
    FakeCoordinator.assembly = SnapshotAssembly()
    FakeCoordinator.parts_seen = 0


async def _system(tg: anyio.abc.TaskGroup) -> tuple[ActorSystem, NodeConfig]:
    address = free_tcp_address()
    system = ActorSystem(Transport(address, SECRET))
    await tg.start(system.run)
    system.spawn(COORDINATOR_ACTOR, FakeCoordinator)
    config = NodeConfig(node_id="n", listen=address, coordinators=(address,),
                        cluster_secret=SECRET, refit_growth=2.0, refit_min_items=20,
                        snapshot_min_items=20, snapshot_part_bytes=16 * 1024)
    return system, config


async def _refitted_reply(system: ActorSystem, name: str, config: NodeConfig,
                          first_owner: Callable[[str], bool] | None = None,
                          ) -> tuple[EstimateReply, TenantEstimator]:
    made: list[TenantEstimator] = []

    def make() -> TenantEstimator:
        made.append(TenantEstimator("t", config, first_owner))
        return made[-1]

    ref = system.spawn(name, make)
    with anyio.fail_after(60):
        while True:
            reply = await ref.ask(QUESTION, timeout=30)
            assert isinstance(reply, EstimateReply)
            if "+refit" in reply.model_version and not made[-1]._refit_running:
                return reply, made[-1]
            await anyio.sleep(0.05)


@pytest.mark.anyio
async def test_a_refit_is_saved_and_the_next_owner_starts_from_it() -> None:
    _reset(30)
    async with anyio.create_task_group() as tg:
        system, config = await _system(tg)
        first, _ = await _refitted_reply(system, "estimator:t", config)
        with anyio.fail_after(30):
            await FakeCoordinator.saved.wait()
        assert list(FakeCoordinator.stored) == [30]
        assert len(FakeCoordinator.stored[30][1]) > 1  # sent in several parts
        # More events, then another node takes the tenant over.
        FakeCoordinator.log += [_varied_event(s) for s in range(31, 36)]
        await system.ask(system.address, "estimator:t", TenantEvents("t", [], 35), timeout=30)
        before = await system.ask(system.address, "estimator:t", QUESTION, timeout=30)
        FakeCoordinator.fetches = []
        other = system.spawn("estimator:t2", lambda: TenantEstimator("t", config))
        after = await other.ask(QUESTION, timeout=30)
        # It replayed only the events after the snapshot, and answers as the first owner:
        # the same model, named by the snapshot it was restored from.
        assert FakeCoordinator.fetches[0] == 30
        assert isinstance(after, EstimateReply) and isinstance(before, EstimateReply)
        assert after.model_version == before.model_version.replace("/t@", ".r30/t@")
        assert "+refit1.s30.r30/" in after.model_version and after.seq == 35
        assert after.results == before.results
        assert first.seq == 30
        tg.cancel_scope.cancel()


@pytest.mark.anyio
@pytest.mark.parametrize("damage", ["bytes", "prior", "decoder"])
async def test_a_snapshot_that_cannot_be_used_is_counted_and_the_log_replayed(
        damage: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever is wrong with a snapshot (its bytes, the prior it was made with, or an
    unexpected error while restoring it, which must not restart the actor into the same
    snapshot again), the actor replays the whole log and serves."""
    _reset(30)
    async with anyio.create_task_group() as tg:
        system, config = await _system(tg)
        await _refitted_reply(system, "estimator:t", config)
        with anyio.fail_after(30):
            await FakeCoordinator.saved.wait()
        if damage == "bytes":  # a flipped byte: the digest no longer matches
            parts = FakeCoordinator.stored[30][1]
            parts[1] = bytes([parts[1][0] ^ 1]) + parts[1][1:]
        elif damage == "prior":  # saved by a node with another cold-start prior
            config = dataclasses.replace(config, prior=PublicPrior(1.0, 1.0, 0.7, 2.0, 0.5, 0.1))
        else:
            def broken(*args: object) -> None:
                raise RuntimeError("unexpected")

            monkeypatch.setattr(snapshots, "decode", broken)
        failed_before = snapshots.COUNTERS.failed
        FakeCoordinator.fetches = []
        other = system.spawn("estimator:t2", lambda: TenantEstimator("t", config))
        reply = await other.ask(QUESTION, timeout=30)
        assert isinstance(reply, EstimateReply) and reply.seq == 30
        assert FakeCoordinator.fetches[0] == 0  # the whole log
        assert snapshots.COUNTERS.failed == failed_before + 1
        assert system.statistics().restarts == 0
        tg.cancel_scope.cancel()


async def _every_10_after_a_saved_refit(tg: anyio.abc.TaskGroup
                                        ) -> tuple[ActorSystem, NodeConfig, TenantEstimator]:
    """A tenant actor ``estimator:t`` that refitted the first 30 events and saved that
    model, and saves the model in use every 10 events after."""
    system, config = await _system(tg)
    config = dataclasses.replace(config, refit_growth=10.0, snapshot_every=10)
    _, actor = await _refitted_reply(system, "estimator:t", config)
    with anyio.fail_after(30):
        await FakeCoordinator.saved.wait()
    assert list(FakeCoordinator.stored) == [30]
    FakeCoordinator.saved = anyio.Event()
    return system, config, actor


async def _taken_over(system: ActorSystem, config: NodeConfig
                      ) -> tuple[EstimateReply, TenantEstimator]:
    """The answer of a new actor of the tenant (another node taking it over)."""
    made: list[TenantEstimator] = []
    FakeCoordinator.fetches = []

    def make() -> TenantEstimator:
        made.append(TenantEstimator("t", config))
        return made[-1]

    reply = await system.spawn("estimator:t2", make).ask(QUESTION, timeout=30)
    assert isinstance(reply, EstimateReply)
    return reply, made[0]


async def _push(system: ActorSystem, name: str, first: int, last: int) -> None:
    """Events ``first..last`` appended to the log and pushed to the actor."""
    new = [_varied_event(s) for s in range(first, last + 1)]
    FakeCoordinator.log += new
    await system.ask(system.address, name, TenantEvents("t", new, last), timeout=30)


@pytest.mark.anyio
async def test_between_refits_the_model_in_use_is_saved_and_the_next_owner_replays_less(
        ) -> None:
    """Once enough events came after the last snapshot, the model in use (refitted once,
    then learning online) is saved; a node taking over starts from it, with its refit
    schedule, and answers the same, named apart by the snapshot it was restored from."""
    _reset(30)
    async with anyio.create_task_group() as tg:
        system, config, actor = await _every_10_after_a_saved_refit(tg)
        await _push(system, "estimator:t", 31, 39)  # 9 events: fewer than snapshot_every
        await anyio.sleep(0.3)
        assert list(FakeCoordinator.stored) == [30]
        await _push(system, "estimator:t", 40, 45)
        with anyio.fail_after(30):
            await FakeCoordinator.saved.wait()
        assert sorted(FakeCoordinator.stored) == [30, 45]
        await _push(system, "estimator:t", 46, 47)  # learned after the snapshot
        before = await system.ask(system.address, "estimator:t", QUESTION, timeout=30)
        after, other = await _taken_over(system, config)
        assert FakeCoordinator.fetches[0] == 45  # only the tail after the newest snapshot
        assert isinstance(before, EstimateReply)
        assert "+refit1.s30/t@47" in before.model_version
        assert after.model_version == before.model_version.replace("/t@", ".r45/t@")
        assert after.results == before.results
        assert (other.refits, other._next_refit) == (actor.refits, actor._next_refit) == (1, 300)
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_only_the_first_owner_saves_snapshots() -> None:
    """The other owners of a tenant refit the same history and learn the same events, but
    send nothing: the first owner's snapshot is theirs too."""
    _reset(30)
    async with anyio.create_task_group() as tg:
        system, config = await _system(tg)
        config = dataclasses.replace(config, refit_growth=10.0, snapshot_every=10)
        saved_before = snapshots.COUNTERS.saved
        reply, actor = await _refitted_reply(system, "estimator:t", config, lambda t: False)
        assert "+refit1.s30/" in reply.model_version
        await _push(system, "estimator:t", 31, 60)
        await anyio.sleep(0.5)
        assert FakeCoordinator.stored == {}
        assert snapshots.COUNTERS.saved == saved_before
        assert not actor._saving
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_a_snapshot_that_came_due_while_one_was_being_saved_is_taken_when_it_is_done(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Events that make another snapshot due while one is still being sent: the actor takes
    it once the first is stored, with no further events needed."""
    _reset(30)
    gate = anyio.Event()
    save = snapshots.save

    async def held(*args: object, **kwargs: object) -> bool:
        await gate.wait()
        return await save(*args, **kwargs)  # type: ignore[arg-type]

    async with anyio.create_task_group() as tg:
        system, _, _ = await _every_10_after_a_saved_refit(tg)
        monkeypatch.setattr(snapshots, "save", held)
        await _push(system, "estimator:t", 31, 45)  # due: taken at 45, held at the gate
        await _push(system, "estimator:t", 46, 60)  # due again while that one is sent
        await anyio.sleep(0.2)
        assert list(FakeCoordinator.stored) == [30]
        gate.set()
        with anyio.fail_after(30):
            while 60 not in FakeCoordinator.stored:
                FakeCoordinator.saved = anyio.Event()  # set by the next one stored
                await FakeCoordinator.saved.wait()
        assert sorted(FakeCoordinator.stored) == [30, 45, 60]
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_a_tenant_too_large_to_snapshot_is_not_encoded_and_sent_again() -> None:
    """A coordinator refuses a snapshot over its bound at the first part; the actor counts
    that once and stops trying (its snapshots only grow), where it would otherwise encode
    and start sending one every ``snapshot_every`` events."""
    _reset(30)
    FakeCoordinator.assembly = SnapshotAssembly(max_bytes=10_000)  # a snapshot is ~9 MB
    async with anyio.create_task_group() as tg:
        system, config = await _system(tg)
        config = dataclasses.replace(config, refit_growth=10.0, snapshot_every=10)
        failed = snapshots.COUNTERS.failed
        _, actor = await _refitted_reply(system, "estimator:t", config)
        with anyio.fail_after(30):
            while not actor._too_large:  # noqa: ASYNC110 - set by the actor on the reply
                await anyio.sleep(0.05)
        assert FakeCoordinator.parts_seen == 1 and FakeCoordinator.stored == {}
        assert snapshots.COUNTERS.failed == failed + 1
        await _push(system, "estimator:t", 31, 60)  # a snapshot would be due twice over
        await anyio.sleep(0.3)
        assert FakeCoordinator.parts_seen == 1 and not actor._saving
        assert snapshots.COUNTERS.failed == failed + 1
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_a_model_with_replaced_actuals_is_saved_as_it_is_and_restored() -> None:
    """Corrected actuals leave retired rows in the model in use; saving it leaves them
    there (compacting would rebuild its index, on the event loop and on this owner
    only), and the saved copy, compacted, restores to the same answers."""
    _reset(30)
    async with anyio.create_task_group() as tg:
        system, config, actor = await _every_10_after_a_saved_refit(tg)
        fixes = [{"seq": s, "kind": "actual", "data": {"id": f"i{s - 30}", "effort": 4.0}}
                 for s in range(31, 36)]
        FakeCoordinator.log += fixes
        await system.ask(system.address, "estimator:t", TenantEvents("t", fixes, 35),
                         timeout=30)
        await _push(system, "estimator:t", 36, 45)
        with anyio.fail_after(30):
            await FakeCoordinator.saved.wait()
        assert sorted(FakeCoordinator.stored) == [30, 45]
        items = actor.model._items
        assert items.n_rows - items.n_live == 5  # not compacted by the snapshot
        before = await system.ask(system.address, "estimator:t", QUESTION, timeout=30)
        after, other = await _taken_over(system, config)
        assert isinstance(before, EstimateReply)
        assert after.model_version == before.model_version.replace("/t@", ".r45/t@")
        assert after.results == before.results
        assert other.model.n_observations == actor.model.n_observations == 40
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_a_snapshot_not_stored_is_tried_again_after_a_pause(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A snapshot no coordinator stored leaves the tail where it was: the next events
    after a pause (1 s, doubling after each failure in a row) try again, not only once
    another ``snapshot_every`` have come."""
    _reset(30)
    tries: list[int] = []
    save = snapshots.save

    async def first_fails(system: ActorSystem, coordinators: list[str], tenant: str,
                          seq: int, *args: object) -> bool:
        tries.append(seq)
        if len(tries) == 1:
            return False
        return await save(system, coordinators, tenant, seq, *args)  # type: ignore[arg-type]

    async with anyio.create_task_group() as tg:
        system, _, _ = await _every_10_after_a_saved_refit(tg)
        monkeypatch.setattr(snapshots, "save", first_fails)
        failed = snapshots.COUNTERS.failed
        await _push(system, "estimator:t", 31, 45)
        await anyio.sleep(0.3)
        await _push(system, "estimator:t", 46, 46)  # within the pause: not tried
        assert tries == [45] and snapshots.COUNTERS.failed == failed + 1
        await anyio.sleep(1.0)
        await _push(system, "estimator:t", 47, 47)
        with anyio.fail_after(30):
            await FakeCoordinator.saved.wait()
        assert tries == [45, 47] and sorted(FakeCoordinator.stored) == [30, 47]
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_an_owner_that_becomes_first_saves_from_where_the_first_one_would_have() -> None:
    """While another owner is first, a node moves its tail along as if it had saved; once
    it becomes first (the first owner died), it does not at once save every tenant it
    holds, but when its own tail is long."""
    _reset(30)
    first = [False]
    async with anyio.create_task_group() as tg:
        system, config = await _system(tg)
        config = dataclasses.replace(config, refit_growth=10.0, snapshot_every=10)
        _, actor = await _refitted_reply(system, "estimator:t", config, lambda t: first[0])
        await _push(system, "estimator:t", 31, 45)
        assert actor._saved_seq == 45 and FakeCoordinator.stored == {}
        first[0] = True
        await _push(system, "estimator:t", 46, 47)
        await anyio.sleep(0.3)
        assert FakeCoordinator.stored == {}
        await _push(system, "estimator:t", 48, 60)
        with anyio.fail_after(30):
            await FakeCoordinator.saved.wait()
        assert list(FakeCoordinator.stored) == [60]
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_when_the_newest_snapshot_cannot_be_used_the_one_before_it_is() -> None:
    """A damaged newest snapshot is counted, and the node starts from the older one kept
    beside it, replaying the events after that one (not the whole log)."""
    _reset(30)
    async with anyio.create_task_group() as tg:
        system, config, _ = await _every_10_after_a_saved_refit(tg)
        await _push(system, "estimator:t", 31, 45)
        with anyio.fail_after(30):
            await FakeCoordinator.saved.wait()
        assert sorted(FakeCoordinator.stored) == [30, 45]
        parts = FakeCoordinator.stored[45][1]
        parts[1] = bytes([parts[1][0] ^ 1]) + parts[1][1:]  # the digest no longer matches
        before = await system.ask(system.address, "estimator:t", QUESTION, timeout=30)
        failed, loaded = snapshots.COUNTERS.failed, snapshots.COUNTERS.loaded
        after, _ = await _taken_over(system, config)
        assert FakeCoordinator.fetches[0] == 30
        assert (snapshots.COUNTERS.failed, snapshots.COUNTERS.loaded) == (failed + 1, loaded + 1)
        assert isinstance(before, EstimateReply)
        assert after.model_version == before.model_version.replace("/t@", ".r30/t@")
        assert after.seq == 45
        tg.cancel_scope.cancel()


def test_the_item_table_comes_back_with_each_item_s_actual() -> None:
    """A restored owner knows which items have an actual (a re-import without one keeps
    it, and the model learns the item anew), so the item table round-trips with them."""
    from kernels import Estimator, EstimatorConfig

    model = Estimator(EstimatorConfig(dim=256, meta_width=32))
    model.learn("a", "done work", "", {"size": 2}, 3.0)
    items = {"a": {"title": "done work", "description": "", "features": {"size": 2},
                   "actual": 3.0},
             "b": {"title": "open work", "description": "d", "features": {}}}
    snap = snapshots.TenantSnapshot("t", 2, 0, items, model, 0, 1)
    back = snapshots.decode(snapshots.encode(snap, None), "t", None)
    assert back.items == items
