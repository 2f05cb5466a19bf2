"""What the cluster benchmarks share: a PostgreSQL, a fresh database with a tenant, ports."""

from __future__ import annotations

import shutil
import socket
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg

from coordinator.embedded_pg import EmbeddedPostgres, environ_database_url, with_database
from coordinator.store import create_pool
from coordinator.store.migrate import migrate
from coordinator.store.tenants import create_api_key, create_tenant


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def postgres(workdir: Path) -> Iterator[str]:
    """An admin URL: $RECKON_DATABASE_URL, or an embedded server under ``workdir``."""
    url = environ_database_url()
    if url is not None:
        yield url
        return
    pg = EmbeddedPostgres(workdir / "pg")
    try:
        yield pg.start()
    finally:
        pg.stop()


@contextmanager
def scratch_dir(keep: bool = False) -> Iterator[Path]:
    """A short temporary directory (unix socket paths must stay short)."""
    tmp = Path(tempfile.mkdtemp(prefix="rkb"))
    try:
        yield tmp
    finally:
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)


async def prepare_database(admin_url: str, tenant: str = "bench") -> tuple[str, str]:
    """A new migrated database with one tenant; return (database URL, API key)."""
    url, keys = await prepare_tenants(admin_url, [tenant])
    return url, keys[0]


async def prepare_tenants(admin_url: str, tenants: list[str]) -> tuple[str, list[str]]:
    """A new migrated database with these tenants; return (database URL, an API key each)."""
    name = "bench_" + uuid.uuid4().hex[:8]
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    url = with_database(admin_url, name)
    pool = await create_pool(url, min_size=1, max_size=1)
    try:
        async with pool.acquire() as c:
            await migrate(c)
            keys = []
            for tenant in tenants:
                await create_tenant(c, tenant, tenant)
                keys.append(await create_api_key(c, tenant))
    finally:
        await pool.close()
    return url, keys
