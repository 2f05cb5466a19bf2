"""Model snapshots across real processes: a refitted model, and later the model in use, are
stored in PostgreSQL by the tenant's first owner, and the node that takes the tenant over
after its owners are killed starts from the newest."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator

import anyio
import asyncpg
import httpx
import pytest

from actors.ring import rendezvous_owners
from coordinator.launcher import LocalCluster
from tests.conftest import make_tenant, running_cluster

pytestmark = [pytest.mark.integration, pytest.mark.fault]

WORDS = ["api", "login", "report", "export", "billing", "search", "cache", "deploy"]
HISTORY = [
    {"id": f"h{i}", "title": f"{WORDS[i % 8]} {WORDS[(i * 3) % 8]} change {i % 5}",
     "features": {"size": 1 + i % 7}, "actual": float(1 + (i * 7) % 13)}
    for i in range(90)
]
QUESTION = {"title": "login api change", "features": {"size": 3}}


async def _snapshots(database_url: str, tenant: str) -> list[tuple[int, int, int]]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT s.seq, s.parts, count(p.part) AS stored FROM model_snapshots s"
            " JOIN model_snapshot_parts p USING (tenant_id, seq) WHERE s.tenant_id = $1"
            " GROUP BY s.seq, s.parts ORDER BY s.seq", tenant)
    finally:
        await conn.close()
    return [(r["seq"], r["parts"], r["stored"]) for r in rows]


@pytest.fixture(scope="module")
def cluster3(database_url: str, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[LocalCluster]:
    """Coordinator + 3 nodes, R=2, saving snapshots of tenants from 50 actuals, and between
    refits every 20 events."""
    with running_cluster(
        database_url, nodes=3, replication=2, tmp=tmp_path_factory.mktemp("snapshots"),
        heartbeat_timeout=1.5, hedge_delay=0.05,
        extra_env={"RECKON_SNAPSHOT_MIN_ITEMS": "50", "RECKON_SNAPSHOT_EVERY": "20"},
    ) as cluster:
        yield cluster


def test_the_next_owner_starts_from_the_stored_snapshot(cluster3: LocalCluster,
                                                        database_url: str) -> None:
    tenant, key = make_tenant(database_url)
    auth = {"Authorization": f"Bearer {key}"}
    # A node that has just joined knows the other members from its next heartbeat reply
    # (every 0.5 s); until then it takes itself for the first owner of every tenant.
    time.sleep(1.0)
    with httpx.Client(base_url=cluster3.url, headers=auth, timeout=30) as c:
        assert c.post("/v1/items", json={"items": HISTORY[:60]}).status_code == 201
        # Both owners load the history and refit it (60 actuals, first refit at 50); the
        # first owner saves the refitted model.
        deadline = time.monotonic() + 60
        while True:
            r = c.post("/v1/estimates", json=QUESTION)
            assert r.status_code == 200, r.text
            stored = anyio.run(_snapshots, database_url, tenant)
            if "+refit" in r.json()["model_version"] and stored:
                break
            assert time.monotonic() < deadline, (r.json()["model_version"], stored)
            time.sleep(0.2)
        # 30 more: no refit yet (the next comes at 120), but the model in use is saved.
        assert c.post("/v1/items", json={"items": HISTORY[60:]}).status_code == 201
        deadline = time.monotonic() + 60
        while len(newer := anyio.run(_snapshots, database_url, tenant)) < 2:
            assert time.monotonic() < deadline, newer
            time.sleep(0.2)
        assert newer[0] == stored[0] and newer[1][0] > stored[0][0]
        assert all(parts == complete for _, parts, complete in newer)
        r = c.post("/v1/estimates", json=QUESTION)
        assert r.status_code == 200, r.text
        before = r.json()
        assert before["model_version"].endswith(f"@{newer[1][0]}")
        assert f"+refit1.s{stored[0][0]}/" in before["model_version"]
        # Only the first owner saved them (its heartbeat reports both).
        nodes = [f"node-{i}" for i in range(3)]
        owners = rendezvous_owners(tenant, nodes, 2)
        deadline = time.monotonic() + 10
        while True:
            stats = {n["node_id"]: n["stats"] for n in c.get("/v1/cluster").json()["nodes"]}
            if stats[owners[0]].get("snapshots_saved", 0) >= 2:
                break
            assert time.monotonic() < deadline, stats
            time.sleep(0.2)
        assert stats[owners[1]]["snapshots_saved"] == 0
        # Kill both owners: the third node loads the tenant from the newest snapshot.
        for owner in owners:
            cluster3.kill_node(int(owner.split("-")[1]), signal.SIGKILL)
        cluster3.wait_ready(1)
        deadline = time.monotonic() + 60
        while (r := c.post("/v1/estimates", json=QUESTION)).status_code != 200:
            assert r.status_code == 503 and time.monotonic() < deadline, r.text
            time.sleep(0.2)
        after = r.json()
        # The same model, named by the snapshot between refits it was restored from.
        seq = newer[1][0]
        assert after["model_version"] == before["model_version"].replace(
            f"/{tenant}@{seq}", f".r{seq}/{tenant}@{seq}")
        assert after["model_version"] != before["model_version"]
        assert after["quantiles"] == before["quantiles"]
        assert after["analogies"] == before["analogies"]
        deadline = time.monotonic() + 10  # reported with the node's next heartbeat
        while True:
            survivor = next(n for n in c.get("/v1/cluster").json()["nodes"]
                            if n["node_id"] not in owners)
            if survivor["stats"].get("snapshots_loaded", 0) >= 1:
                break
            assert time.monotonic() < deadline, survivor
            time.sleep(0.2)
        assert survivor["stats"]["snapshots_failed"] == 0
