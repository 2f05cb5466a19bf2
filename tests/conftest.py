"""Shared fixtures: a real embedded PostgreSQL for the session, real cluster processes.

Expensive things are session- or module-scoped synchronous fixtures that start real
processes and always clean them up.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import anyio
import asyncpg
import pytest

from coordinator.embedded_pg import EmbeddedPostgres, environ_database_url, with_database
from coordinator.launcher import LocalCluster, LocalClusterSpec
from coordinator.store import create_pool
from coordinator.store.migrate import migrate
from coordinator.store.tenants import create_api_key, create_tenant
from tests.ports import free_ports


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A PostgreSQL server URL: $RECKON_TEST_DATABASE_URL, or an embedded server."""
    external = environ_database_url(
        {"RECKON_DATABASE_URL": os.environ.get("RECKON_TEST_DATABASE_URL", "")}
    )
    if external:
        yield external
        return
    tmp = Path(tempfile.mkdtemp(prefix="rkpg"))
    server = EmbeddedPostgres(tmp / "pg")
    try:
        yield server.start()
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


async def _create_database(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def database_url(pg_url: str) -> str:
    """A fresh, migrated database for one test module."""
    name = "t_" + uuid.uuid4().hex[:12]
    anyio.run(_create_database, pg_url, name)
    url = with_database(pg_url, name)

    async def _migrate() -> None:
        pool = await create_pool(url, min_size=1, max_size=1)
        try:
            async with pool.acquire() as conn:
                await migrate(conn)
        finally:
            await pool.close()

    anyio.run(_migrate)
    return url


def make_tenant(
    database_url: str,
    tenant: str | None = None,
    scopes: tuple[str, ...] = ("read", "write", "admin"),
) -> tuple[str, str]:
    """Create a tenant (random id unless given) and a key; return (tenant, key)."""
    tenant = tenant or "t" + uuid.uuid4().hex[:10]

    async def _make() -> str:
        pool = await create_pool(database_url, min_size=1, max_size=1)
        try:
            async with pool.acquire() as conn:
                await create_tenant(conn, tenant, tenant)
                return await create_api_key(conn, tenant, scopes)
        finally:
            await pool.close()

    return tenant, anyio.run(_make)


def start_cluster(
    database_url: str,
    nodes: int,
    replication: int,
    tmp: Path,
    coordinators: int = 1,
    **spec_kw: object,
) -> LocalCluster:
    """A running local cluster of real processes on free loopback ports."""
    ports = free_ports(2 * coordinators + nodes)
    spec = LocalClusterSpec(
        more_coordinators=[(ports.pop(), ports.pop()) for _ in range(coordinators - 1)],
        database_url=database_url,
        secret=secrets.token_hex(16),
        workdir=tmp,
        http_port=ports.pop(),
        coordinator_nng_port=ports.pop(),
        node_ports=[ports.pop() for _ in range(nodes)],
        replication=replication,
        **spec_kw,  # type: ignore[arg-type]
    )
    cluster = LocalCluster(spec)
    try:
        cluster.start(timeout=120)
    except BaseException:
        cluster.stop()
        _dump_logs(tmp)
        raise
    return cluster


@contextlib.contextmanager
def running_cluster(database_url: str, nodes: int, replication: int, tmp: Path,
                    **kw: object) -> Iterator[LocalCluster]:
    """:func:`start_cluster`, stopped when the block ends (a fixture yields inside it)."""
    cluster = start_cluster(database_url, nodes, replication, tmp, **kw)  # type: ignore[arg-type]
    try:
        yield cluster
    finally:
        cluster.stop()


def _dump_logs(tmp: Path) -> None:
    for log in sorted(tmp.glob("*.log")):
        print(f"===== {log.name}\n{log.read_text(errors='replace')[-4000:]}")


@pytest.fixture
def anyio_backend() -> str:
    """Default async backend for anyio-marked tests (nodes run on trio)."""
    return "trio"


def metrics_count(url: str, route: str, status: int) -> float:
    """Requests to ``route`` answered with ``status``, from a coordinator's /metrics."""
    import httpx

    text = httpx.get(url + "/metrics").text
    total = 0.0
    for line in text.splitlines():
        if (line.startswith("reckon_http_requests_total{") and f'route="{route}"' in line
                and f'status="{status}"' in line):
            total += float(line.rsplit(" ", 1)[1])
    return total
