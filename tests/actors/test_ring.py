"""Rendezvous ring: deterministic, balanced, minimal movement."""

from collections import Counter

from actors.ring import Ring, rendezvous_owners


def test_owners_are_deterministic_and_distinct():
    nodes = [f"n{i}" for i in range(5)]
    a = rendezvous_owners("tenant-1", nodes, 2)
    assert a == rendezvous_owners("tenant-1", list(reversed(nodes)), 2)
    assert len(set(a)) == 2


def test_balance_across_nodes():
    nodes = [f"n{i}" for i in range(4)]
    counts = Counter(rendezvous_owners(f"t{i}", nodes, 1)[0] for i in range(4000))
    assert all(800 < c < 1200 for c in counts.values())


def test_removing_a_node_moves_only_its_tenants():
    nodes = [f"n{i}" for i in range(5)]
    before = {f"t{i}": rendezvous_owners(f"t{i}", nodes, 2) for i in range(1000)}
    after = {t: rendezvous_owners(t, nodes[1:], 2) for t in before}
    for t, owners in before.items():
        if "n0" not in owners:
            assert after[t] == owners
        else:
            survivor = [o for o in owners if o != "n0"]
            assert survivor[0] in after[t]


def test_ring_with_fewer_members_than_r():
    ring = Ring(["a"], 2)
    assert ring.owners("t") == ["a"]
    assert Ring([], 2).owners("t") == []
    assert Ring(["a", "b", "c"], 2).preference("t")[:2] == Ring(["a", "b", "c"], 2).owners("t")
