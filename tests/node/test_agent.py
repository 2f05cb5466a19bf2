"""The node's membership agent over real nng sockets: a coordinator that does not answer
must not slow the heartbeats to the coordinators that do."""

from __future__ import annotations

import itertools

import anyio
import pytest

from actors import Actor, ActorSystem, Ring, Transport, handles
from actors.messages import ClusterView, FetchEvents, Heartbeat, TenantEvents
from node.agent import NodeAgent
from node.config import NodeConfig
from node.event_fetch import COORDINATOR_ACTOR, coordinator_order, fetch_events
from tests.ports import free_tcp_address

SECRET = b"agent-secret"
INTERVAL = 0.2


class RecordingCoordinator(Actor):
    beats: list[float] = []

    @handles(Heartbeat)
    async def beat(self, msg: Heartbeat, sender: str) -> ClusterView:
        RecordingCoordinator.beats.append(anyio.current_time())
        return ClusterView(
            members=[[msg.node_id, msg.address]], replication=1, coordinator_id="live"
        )


@pytest.mark.parametrize("anyio_backend", ["trio"])
@pytest.mark.anyio
async def test_a_silent_coordinator_does_not_delay_beats_to_a_live_one(anyio_backend):
    RecordingCoordinator.beats = []
    live = ActorSystem(Transport(free_tcp_address(), SECRET))
    node = ActorSystem(Transport(free_tcp_address(), SECRET))
    silent = free_tcp_address()  # nothing listens there: every beat to it times out
    config = NodeConfig(
        node_id="node-0",
        listen=node.address,
        coordinators=(silent, live.address),
        cluster_secret=SECRET,
        heartbeat_interval=INTERVAL,
    )
    agent = NodeAgent(node, config)
    async with anyio.create_task_group() as tg:
        await tg.start(live.run)
        await tg.start(node.run)
        live.spawn(COORDINATOR_ACTOR, RecordingCoordinator)
        tg.start_soon(agent.run)
        await anyio.sleep(12 * INTERVAL)
        tg.cancel_scope.cancel()
    beats = RecordingCoordinator.beats
    assert len(beats) >= 6, beats
    gaps = [b - a for a, b in itertools.pairwise(beats)]
    # Each beat to the silent coordinator waits two intervals before giving up; beats to the
    # live one keep their own pace (waiting for both would space them three intervals apart).
    assert sorted(gaps)[len(gaps) // 2] < 1.6 * INTERVAL, gaps
    assert list(agent.views) == [live.address]


class ActorNames:
    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.stopped: list[str] = []

    def actor_names(self) -> list[str]:
        return [n for n in self.names if n not in self.stopped]

    def stop(self, name: str) -> None:
        self.stopped.append(name)


def test_a_node_keeps_the_tenants_it_owns_or_is_the_spare_for() -> None:
    members = [f"node-{i}" for i in range(5)]
    ring = Ring(members, 3)
    roles: dict[str, list[str]] = {"owner": [], "spare": [], "other": []}
    for i in range(200):
        tenant = f"t{i}"
        place = ring.owners(tenant).index("node-0") if "node-0" in ring.owners(tenant) else 3
        roles["owner" if place < 2 else "spare" if place == 2 else "other"].append(tenant)
    assert all(roles.values())
    system = ActorNames([f"estimator:{t}" for ts in roles.values() for t in ts])
    agent = NodeAgent(system, NodeConfig(node_id="node-0", listen="tcp://127.0.0.1:1",
                                         coordinators=("c",), cluster_secret=SECRET))  # type: ignore[arg-type]
    agent.views["c"] = ClusterView(members=[[m, f"tcp://{m}"] for m in members], replication=2,
                                   coordinator_id="c")
    agent._evict_unowned()
    assert system.stopped == []  # one strike each, not yet
    agent._evict_unowned()
    assert sorted(system.stopped) == sorted(f"estimator:{t}" for t in roles["other"])


def test_the_first_owner_of_a_tenant_is_the_one_that_saves_its_snapshots() -> None:
    """Exactly one node of a view counts as a tenant's first owner; before any view, a
    node saves (it may be alone)."""
    members = [f"node-{i}" for i in range(4)]
    agents = []
    for m in members:
        agent = NodeAgent(None, NodeConfig(node_id=m, listen="tcp://127.0.0.1:1",  # type: ignore[arg-type]
                                           coordinators=("c",), cluster_secret=SECRET))
        assert agent.first_owner("t0")
        agent.views["c"] = ClusterView(members=[[n, f"tcp://{n}"] for n in members],
                                       replication=2, coordinator_id="c")
        agents.append(agent)
    ring = Ring(members, 2)
    for i in range(50):
        tenant = f"t{i}"
        first = [a.config.node_id for a in agents if a.first_owner(tenant)]
        assert first == ring.owners(tenant)[:1]


class HungCoordinator(Actor):
    """Up, linked, and answering nothing: a stopped or partitioned coordinator."""

    @handles(Heartbeat)
    async def beat(self, msg: Heartbeat, sender: str) -> None:
        await anyio.sleep_forever()

    @handles(FetchEvents)
    async def fetch(self, msg: FetchEvents, sender: str) -> None:
        await anyio.sleep_forever()


class ServingCoordinator(RecordingCoordinator):
    @handles(FetchEvents)
    async def fetch(self, msg: FetchEvents, sender: str) -> TenantEvents:
        return TenantEvents(msg.tenant, [], 0)


@pytest.mark.parametrize("anyio_backend", ["trio"])
@pytest.mark.anyio
async def test_events_are_fetched_first_from_a_coordinator_that_answers_heartbeats(
        anyio_backend):
    """A hung coordinator keeps its TCP link, so the link alone ranks it first; the agent
    knows it stopped answering, and a tenant's fetch goes to the other one without waiting
    out a timeout on it."""
    hung, live, node = (ActorSystem(Transport(free_tcp_address(), SECRET)) for _ in range(3))
    config = NodeConfig(node_id="node-0", listen=node.address,
                        coordinators=(hung.address, live.address), cluster_secret=SECRET,
                        heartbeat_interval=INTERVAL)
    agent = NodeAgent(node, config)
    async with anyio.create_task_group() as tg:
        for system in (hung, live, node):
            await tg.start(system.run)
        hung.spawn(COORDINATOR_ACTOR, HungCoordinator)
        live.spawn(COORDINATOR_ACTOR, ServingCoordinator)
        tg.start_soon(agent.run)
        await anyio.sleep(4 * INTERVAL)
        assert node.transport.is_connected(hung.address)
        assert not agent.answering(hung.address) and agent.answering(live.address)
        order = coordinator_order(node, config.coordinators, hung.address, agent.answering)
        assert order == [live.address, hung.address]
        assert coordinator_order(node, config.coordinators, hung.address)[0] == hung.address
        with anyio.fail_after(1.0):  # well under the 5 s timeout an ask of the hung one waits
            await fetch_events(node, order, "t", 0, 10, 5.0)
        tg.cancel_scope.cancel()
