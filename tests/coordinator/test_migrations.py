"""Migrations against a real database: a database at an older version is brought forward
with its data kept and the new columns filled from the event log."""

from __future__ import annotations

import uuid

import anyio
import asyncpg

from coordinator.embedded_pg import with_database
from coordinator.store.migrate import available_migrations, migrate
from tests.conftest import _create_database


def test_first_actual_seq_is_filled_from_the_event_log(pg_url: str) -> None:
    """On a database at version 5, item "fixed" got an actual by import at seq 1 and was
    corrected at seq 3, "late" got its only actual at seq 4, "open" has none. Migration 6
    gives them first actual seqs 1, 4 and none, and leaves actual_seq as it was."""
    name = "t_" + uuid.uuid4().hex[:12]
    anyio.run(_create_database, pg_url, name)

    async def run() -> list[tuple[object, ...]]:
        conn = await asyncpg.connect(with_database(pg_url, name))
        try:
            await conn.execute("CREATE TABLE schema_migrations (version integer PRIMARY KEY,"
                               " name text NOT NULL, applied_at timestamptz NOT NULL"
                               " DEFAULT now())")
            for version, file, sql in available_migrations():
                if version <= 5:
                    await conn.execute(sql)
                    await conn.execute("INSERT INTO schema_migrations VALUES ($1, $2)",
                                       version, file)
            await conn.execute("INSERT INTO tenants (id, name) VALUES ('a', 'a')")
            await conn.executemany(
                "INSERT INTO events (tenant_id, seq, kind, data) VALUES ('a', $1, $2, $3)",
                [(1, "item", '{"id": "fixed", "title": "f", "actual": 2.0}'),
                 (2, "item", '{"id": "open", "title": "o"}'),
                 (3, "actual", '{"id": "fixed", "effort": 5.0}'),
                 (4, "actual", '{"id": "late", "effort": 7.0}')])
            await conn.executemany(
                "INSERT INTO items (tenant_id, item_id, title, actual, actual_seq,"
                " created_seq) VALUES ('a', $1, $1, $2, $3, $4)",
                [("fixed", 5.0, 3, 1), ("open", None, None, 2), ("late", 7.0, 4, 0)])
            assert await migrate(conn) == [f for v, f, _ in available_migrations() if v > 5]
            rows = await conn.fetch("SELECT item_id, actual_seq, first_actual_seq FROM items"
                                    " ORDER BY item_id")
            return [tuple(r) for r in rows]
        finally:
            await conn.close()

    assert anyio.run(run) == [("fixed", 3, 1), ("late", 4, 4), ("open", None, None)]
