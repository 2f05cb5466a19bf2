"""Versioned SQL migrations, applied at coordinator start.

Files ``coordinator/migrations/NNNN_name.sql`` are applied in order, each in its own
transaction, and recorded in ``schema_migrations``. An advisory lock makes concurrent
coordinators apply them once.
"""

from __future__ import annotations

import re
from importlib import resources

import asyncpg

#: Seconds each migration statement may take (or wait for the migration lock).
MIGRATION_TIMEOUT = 3600.0

_LOCK_ID = 0x7265636B6F6E  # "reckon"
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def available_migrations() -> list[tuple[int, str, str]]:
    """(version, file name, SQL) of every shipped migration, in order."""
    found = []
    for entry in resources.files("coordinator.migrations").iterdir():
        m = _NAME.match(entry.name)
        if m:
            found.append((int(m.group(1)), entry.name, entry.read_text()))
    return sorted(found)


async def migrate(conn: asyncpg.Connection) -> list[str]:
    """Apply the migrations this database lacks; return the names applied.

    Its statements are not held to the pool's statement timeout: a migration may rewrite a
    large table, and another coordinator's migration holds the lock meanwhile."""
    t = MIGRATION_TIMEOUT
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_ID, timeout=t)
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())",
            timeout=t,
        )
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations",
                                                        timeout=t)}
        applied = []
        for version, name, sql in available_migrations():
            if version in done:
                continue
            async with conn.transaction():
                await conn.execute(sql, timeout=t)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", version,
                    name, timeout=t,
                )
            applied.append(name)
        return applied
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_ID, timeout=t)
