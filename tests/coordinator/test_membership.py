"""Membership: heartbeats, expiry, draining, ring rebuilds."""

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
