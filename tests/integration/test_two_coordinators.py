"""Two coordinators on one database agree without talking to each other."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from coordinator.launcher import LocalCluster
from tests.conftest import make_tenant, running_cluster

pytestmark = pytest.mark.integration


@pytest.fixture
def two_coordinators(database_url: str, tmp_path: Path) -> Iterator[LocalCluster]:
    with running_cluster(database_url, nodes=3, replication=2, tmp=tmp_path, coordinators=2,
                         heartbeat_timeout=1.5, hedge_delay=0.05) as cluster:
        yield cluster


def test_write_through_one_read_through_the_other(two_coordinators: LocalCluster,
                                                  database_url: str) -> None:
    _, key = make_tenant(database_url)
    auth = {"Authorization": f"Bearer {key}"}
    a, b = two_coordinators.url_of(0), two_coordinators.url_of(1)
    views = [httpx.get(u + "/v1/cluster").json() for u in (a, b)]
    assert [sorted(n["node_id"] for n in v["nodes"]) for v in views] == [
        ["node-0", "node-1", "node-2"]] * 2

    items = [{"id": f"i{i}", "title": f"task {i}", "actual": 1.0 + i} for i in range(10)]
    r = httpx.post(a + "/v1/items", json={"items": items}, headers=auth)
    assert r.status_code == 201
    seq = r.json()["seq"]
    # Both coordinators hand out sequence numbers from the same log, in one order.
    r2 = httpx.post(b + "/v1/items/i0/actual", json={"effort": 4.0}, headers=auth)
    assert r2.json()["seq"] == seq + 1
    # Read-your-writes across coordinators with min_seq.
    est = httpx.post(b + "/v1/estimates", json={"title": "task", "min_seq": seq + 1},
                     headers=auth)
    assert est.status_code == 200 and est.json()["seq"] == seq + 1
    # The same Idempotency-Key through either coordinator applies the write once.
    body = {"items": [{"id": "once", "title": "once"}]}
    first = httpx.post(a + "/v1/items", json=body, headers={**auth, "Idempotency-Key": "z"})
    second = httpx.post(b + "/v1/items", json=body, headers={**auth, "Idempotency-Key": "z"})
    assert first.json() == second.json()


def test_one_coordinator_dies_the_other_keeps_serving(two_coordinators: LocalCluster,
                                                      database_url: str) -> None:
    _, key = make_tenant(database_url)
    auth = {"Authorization": f"Bearer {key}"}
    b = two_coordinators.url_of(1)
    two_coordinators.kill_coordinator(signal.SIGKILL, i=0)
    r = httpx.post(b + "/v1/items", json={"items": [{"id": "x", "title": "x", "actual": 2}]},
                   headers=auth)
    assert r.status_code == 201
    est = httpx.post(b + "/v1/estimates", json={"title": "x"}, headers=auth)
    assert est.status_code == 200 and est.json()["seq"] == r.json()["seq"]
    assert httpx.get(b + "/v1/cluster").json()["live_nodes"] == 3
