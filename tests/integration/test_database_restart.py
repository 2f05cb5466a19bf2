"""Fault: PostgreSQL stops and comes back under a running cluster."""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import httpx
import pytest

from coordinator.embedded_pg import EmbeddedPostgres
from coordinator.store import create_pool
from coordinator.store.migrate import migrate
from coordinator.store.tenants import create_api_key, create_tenant
from tests.conftest import start_cluster

pytestmark = [pytest.mark.integration, pytest.mark.fault]


async def _tenant(url: str) -> str:
    pool = await create_pool(url, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            await migrate(conn)
            await create_tenant(conn, "acme", "acme")
            return await create_api_key(conn, "acme")
    finally:
        await pool.close()


def test_database_restart_fails_writes_cleanly_and_loses_nothing(tmp_path: Path) -> None:
    import tempfile

    pgdir = Path(tempfile.mkdtemp(prefix="rkdb")) / "pg"
    pg = EmbeddedPostgres(pgdir)
    url = pg.start()
    key = anyio.run(_tenant, url)
    cluster = start_cluster(url, nodes=2, replication=2, tmp=tmp_path)
    auth = {"Authorization": f"Bearer {key}"}
    try:
        with httpx.Client(base_url=cluster.url, headers=auth, timeout=30) as c:
            items = [{"id": f"a{i}", "title": f"item {i}", "actual": 1.0 + i} for i in range(20)]
            items.append({"id": "open", "title": "item in progress"})  # no actual yet
            assert c.post("/v1/items", json={"items": items}).status_code == 201
            assert c.post("/v1/estimates", json={"title": "warm"}).status_code == 200

            pg.stop()
            # Writes fail with a clear 503, never a 500 or a false acknowledgement.
            r = c.post("/v1/items", json={"items": [{"id": "lost", "title": "x"}]})
            assert r.status_code == 503, r.text
            assert r.headers["content-type"].startswith("application/problem+json")
            assert "Retry-After" in r.headers
            # Reads are served from the nodes' models (the key is cached).
            still = c.post("/v1/estimates", json={"title": "still", "item_id": "open"})
            assert still.status_code == 200, still.text
            assert c.get("/ready").status_code == 503
            time.sleep(1.0)  # the ledger tries to write the estimate while the database is down

            pg.start()
            deadline = time.monotonic() + 30
            while True:
                r = c.post("/v1/items", json={"items": [{"id": "after", "title": "y",
                                                          "actual": 2.0}]})
                if r.status_code == 201 or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            assert r.status_code == 201, r.text
            for i in range(20):
                assert c.get(f"/v1/items/a{i}").json()["actual"] == 1.0 + i
            assert c.get("/v1/items/lost").status_code == 404
            est = c.post("/v1/estimates", json={"title": "y", "min_seq": r.json()["seq"]})
            assert est.status_code == 200 and est.json()["seq"] == r.json()["seq"]
            # The estimate served during the outage reaches the ledger once the database is
            # back (its batch is retried), and the item's actual resolves it.
            assert c.post("/v1/items/open/actual", json={"effort": 4.0}).status_code == 200
            deadline = time.monotonic() + 20
            while True:
                issued = c.get("/v1/items/open").json()["estimates"]
                if issued or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            assert [e["id"] for e in issued] == [still.json()["id"]], issued
            assert issued[0]["actual"] == 4.0
    finally:
        cluster.stop()
        pg.stop()
