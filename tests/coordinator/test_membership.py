"""Membership: heartbeats, expiry, draining, ring rebuilds."""

import anyio
import pytest

from actors import Refused
from actors.messages import Heartbeat
from coordinator.coordinator_actor import MAX_STATS_BYTES, CoordinatorActor
from coordinator.membership import Membership


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_nodes_expire_after_the_heartbeat_timeout_and_come_back():
    clock = Clock()
    m = Membership(heartbeat_timeout=2.0, replication=2, clock=clock)
    m.beat("a", "tcp://a", False, None)
    m.beat("b", "tcp://b", False, None)
    assert m.ring().members == ("a", "b")
    clock.now += 1.5
    m.beat("a", "tcp://a", False, None)
    clock.now += 1.0  # b silent for 2.5 s
    assert m.ring().members == ("a",)
    m.beat("b", "tcp://b2", False, None)  # restarted at a new address
    assert m.ring().members == ("a", "b")
    assert m.address_of("b") == "tcp://b2"


def test_leaving_and_draining_nodes_get_no_new_work():
    m = Membership(heartbeat_timeout=2.0, replication=2)
    for n in "abc":
        m.beat(n, f"tcp://{n}", False, None)
    m.leave("b")
    assert m.ring().members == ("a", "c")
    m.beat("c", "tcp://c", True, None)
    assert m.ring().members == ("a",)
    assert m.statistics().draining == 2


def test_ring_is_rebuilt_only_when_the_live_set_changes():
    m = Membership(heartbeat_timeout=2.0, replication=1)
    m.beat("a", "tcp://a", False, None)
    first = m.ring()
    m.beat("a", "tcp://a", False, None)
    assert m.ring() is first
    assert m.statistics().ring_changes == 1


def test_the_message_types_a_node_announces_follow_its_latest_heartbeat():
    m = Membership(heartbeat_timeout=2.0, replication=1)
    m.beat("a", "tcp://a", False, {"speaks": ["estimate-json.v1", 7]})
    m.beat("b", "tcp://b", False, {"speaks": "estimate-json.v1"})  # not a list: nothing
    assert m.speaks("tcp://a", "estimate-json.v1")
    assert not m.speaks("tcp://b", "estimate-json.v1")
    assert not m.speaks("tcp://unknown", "estimate-json.v1")
    m.beat("a", "tcp://a", False, None)  # restarted as an older release
    assert not m.speaks("tcp://a", "estimate-json.v1")


def test_long_silent_nodes_are_forgotten_and_joins_are_bounded():
    from coordinator import membership as mod

    clock = Clock()
    m = Membership(heartbeat_timeout=2.0, replication=1, clock=clock)
    m.beat("old", "tcp://old:1", False, {"speaks": ["x.v1"]})
    clock.now += mod.FORGET_AFTER - 1
    m.beat("b", "tcp://b:1", False, None)
    assert {n.node_id for n in m.nodes()} == {"old", "b"}  # dead, still listed
    clock.now += 2
    m.beat("c", "tcp://c:1", False, None)  # a join forgets what has been silent too long
    assert {n.node_id for n in m.nodes()} == {"b", "c"}
    assert not m.speaks("tcp://old:1", "x.v1")
    for i in range(mod.MAX_NODES - 2):
        m.beat(f"n{i}", f"tcp://n:{i}", False, None)
    with pytest.raises(mod.TooManyNodes):
        m.beat("one-too-many", "tcp://z:1", False, None)
    m.beat("b", "tcp://b:1", False, None)  # known nodes still beat
    assert len(m.nodes()) == mod.MAX_NODES


def test_a_node_that_left_and_went_silent_is_dead_and_forgotten_without_a_join():
    from coordinator import membership as mod

    clock = Clock()
    m = Membership(heartbeat_timeout=2.0, replication=1, clock=clock)
    m.beat("a", "tcp://a:1", False, None)
    m.beat("b", "tcp://b:1", False, None)
    m.leave("b")
    assert m.state(m.nodes()[1]) == "draining"
    assert m.statistics().draining == 1
    clock.now += 3  # b finished its work and exited; a beats on
    m.beat("a", "tcp://a:1", False, None)
    assert [m.state(n) for n in m.nodes()] == ["live", "dead"]
    assert m.statistics().draining == 0
    clock.now += mod.FORGET_AFTER + 60
    m.beat("a", "tcp://a:1", False, None)  # a beat of a known node, no join
    assert [n.node_id for n in m.nodes()] == ["a"]


def test_heartbeats_that_cannot_be_a_member_are_refused():
    """A beat whose address nng cannot dial (every ask routed to it would fail), with an
    empty or huge node id, or with oversized stats, is refused and joins nothing."""
    m = Membership(heartbeat_timeout=2.0, replication=1)
    actor = CoordinatorActor("c1", None, m)  # type: ignore[arg-type]  # no database needed
    for beat in (Heartbeat("n1", "garbage"), Heartbeat("n1", "tcp://a b:1"),
                 Heartbeat("", "tcp://n:1"), Heartbeat("n" * 201, "tcp://n:1"),
                 Heartbeat("n1", "tcp://n:1", stats={"x": "y" * MAX_STATS_BYTES})):
        with pytest.raises(Refused, match="bad_request"):
            anyio.run(actor.on_heartbeat, beat, "tcp://n:1")
    assert m.nodes() == []
    view = anyio.run(actor.on_heartbeat, Heartbeat("n1", "tcp://n:1", stats={"a": 1}),
                     "tcp://n:1")
    assert view.members == [["n1", "tcp://n:1"]]
