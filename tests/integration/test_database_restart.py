"""Fault: PostgreSQL stops and comes back under a running cluster."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import anyio
import asyncpg
import httpx
import pytest
from starlette.requests import Request

from coordinator.auth import LOOKUP_TIMEOUT, KeyVerifier
from coordinator.embedded_pg import EmbeddedPostgres
from coordinator.store import STATEMENT_TIMEOUT, create_pool
from coordinator.store.migrate import migrate
from coordinator.store.tenants import create_api_key, create_tenant
from coordinator.writes import RELEASE_TIMEOUT
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
            # A read the owners cannot catch up to is refused, and only that one: the
            # owners keep their models and go on serving.
            head = still.json()["seq"]
            behind = c.post("/v1/estimates", json={"title": "x", "min_seq": head + 1})
            assert behind.status_code == 503, behind.text
            for i in range(3):
                r = c.post("/v1/estimates", json={"title": f"after {i}"})
                assert r.status_code == 200, r.text
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
        logs = "".join(p.read_text() for p in tmp_path.glob("node-*.log"))
        assert "actor failed" not in logs
    finally:
        cluster.stop()
        pg.stop()


def _server_processes(pg: EmbeddedPostgres) -> list[int]:
    """The postmaster and its children."""
    postmaster = int((pg.datadir / "postmaster.pid").read_text().split()[0])
    children = subprocess.run(["pgrep", "-P", str(postmaster)], capture_output=True,
                              text=True, check=False).stdout.split()
    return [postmaster, *map(int, children)]


def test_a_database_that_stops_answering_gets_503s_in_bounded_time(tmp_path: Path) -> None:
    """PostgreSQL neither answers nor refuses (its processes stopped, as a hung server or a
    partition that drops packets looks): writes and item reads answer 503 within their
    timeouts instead of waiting for ever, estimates go on, and so does a key whose cache
    entry has expired but which was verified recently; all recover once it answers."""
    import tempfile

    pg = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="rkdb")) / "pg")
    url = pg.start()
    key = anyio.run(_tenant, url)
    cluster = start_cluster(url, nodes=1, replication=1, tmp=tmp_path)
    auth = {"Authorization": f"Bearer {key}"}
    stopped: list[int] = []
    try:
        with httpx.Client(base_url=cluster.url, headers=auth, timeout=60) as c:
            items = [{"id": f"a{i}", "title": f"item {i}", "actual": 1.0 + i} for i in range(5)]
            assert c.post("/v1/items", json={"items": items}).status_code == 201
            assert c.post("/v1/estimates", json={"title": "warm"}).status_code == 200

            async def verifier_pool() -> tuple[KeyVerifier, asyncpg.Pool]:
                pool = await create_pool(url, min_size=1, max_size=1)
                verifier = KeyVerifier(pool, cache_seconds=0.0)
                await verifier.verify(_bearer(key), "read")  # verified once, while up
                return verifier, pool

            async def frozen_checks() -> None:
                verifier, pool = await verifier_pool()
                stopped.extend(_server_processes(pg))
                for pid in stopped:
                    os.kill(pid, signal.SIGSTOP)
                started = time.monotonic()
                # The cache entry is stale at once (cache_seconds=0): the lookup gives up
                # after its timeout and the recent verification stands...
                record = await verifier.verify(_bearer(key), "read")
                assert record.tenant_id == "acme"
                first = time.monotonic() - started
                # ...and for a moment the database is not asked again.
                started = time.monotonic()
                await verifier.verify(_bearer(key), "read")
                again = time.monotonic() - started
                assert first < LOOKUP_TIMEOUT + 1.0 and again < 0.5, (first, again)
                pool.terminate()

            anyio.run(frozen_checks)
            started = time.monotonic()
            r = c.post("/v1/items/a1/actual", json={"effort": 9.0})
            took = time.monotonic() - started
            assert r.status_code == 503, r.text
            assert "Retry-After" in r.headers
            assert took < STATEMENT_TIMEOUT + RELEASE_TIMEOUT + 3.0, took
            r = c.get("/v1/items/a2")
            assert r.status_code == 503, r.text
            assert c.post("/v1/estimates", json={"title": "still"}).status_code == 200

            for pid in stopped:
                os.kill(pid, signal.SIGCONT)
            stopped.clear()
            deadline = time.monotonic() + 30
            while True:
                r = c.post("/v1/items/a1/actual", json={"effort": 9.0})
                if r.status_code == 200 or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            assert r.status_code == 200, r.text
            assert c.get("/v1/items/a1").json()["actual"] == 9.0
    finally:
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
        cluster.stop()
        pg.stop()


def _bearer(key: str) -> Request:
    return Request({"type": "http", "headers": [(b"authorization", f"Bearer {key}".encode())]})
