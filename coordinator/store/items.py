"""Work items: the queryable state the event log implies, kept in the same transaction."""

from __future__ import annotations

from typing import Any

import asyncpg

from coordinator.store import bulk_timeout

#: An import that brings no actual, or the one the item already has, keeps the item's
#: ``actual_seq`` and ``actual_at``: a retried actual records nothing new.
_KEPT = "EXCLUDED.actual IS NULL OR EXCLUDED.actual = items.actual"


async def upsert_many(
    conn: asyncpg.Connection, tenant_id: str, rows: list[tuple[dict[str, Any], int]]
) -> None:
    """:func:`upsert` for many (item, seq) pairs in one round trip."""
    await conn.executemany(
        "INSERT INTO items (tenant_id, item_id, title, description, features, actual,"
        " actual_seq, first_actual_seq, created_seq, actual_at) VALUES ($1, $2, $3, $4, $5,"
        " $6, CASE WHEN $6::double precision IS NULL THEN NULL ELSE $7::bigint END,"
        " CASE WHEN $6::double precision IS NULL THEN NULL ELSE $7::bigint END, $7,"
        " CASE WHEN $6::double precision IS NULL THEN NULL ELSE now() END)"
        " ON CONFLICT (tenant_id, item_id) DO UPDATE SET title = EXCLUDED.title,"
        " description = EXCLUDED.description, features = EXCLUDED.features,"
        " actual = COALESCE(EXCLUDED.actual, items.actual),"
        f" actual_seq = CASE WHEN {_KEPT} THEN items.actual_seq ELSE EXCLUDED.actual_seq END,"
        f" actual_at = CASE WHEN {_KEPT} THEN items.actual_at ELSE now() END,"
        " first_actual_seq = COALESCE(items.first_actual_seq, EXCLUDED.first_actual_seq),"
        " updated_at = now()",
        [
            (
                tenant_id,
                it["id"],
                it["title"],
                it.get("description", ""),
                it.get("features", {}),
                it.get("actual"),
                seq,
            )
            for it, seq in rows
        ],
        timeout=bulk_timeout(len(rows)),
    )


async def exists(conn: asyncpg.Connection, tenant_id: str, item_id: str) -> bool:
    """Whether the item exists (locks nothing)."""
    return bool(
        await conn.fetchval(
            "SELECT 1 FROM items WHERE tenant_id = $1 AND item_id = $2", tenant_id, item_id
        )
    )


async def set_actual(
    conn: asyncpg.Connection, tenant_id: str, item_id: str, effort: float, seq: int
) -> None:
    """Record an item's actual effort. The one it already has changes nothing; the first
    one sets ``first_actual_seq``, which a correction keeps."""
    await conn.execute(
        "UPDATE items SET actual = $3,"
        " actual_seq = CASE WHEN actual = $3 THEN actual_seq ELSE $4 END,"
        " actual_at = CASE WHEN actual = $3 THEN actual_at ELSE now() END,"
        " first_actual_seq = COALESCE(first_actual_seq, $4),"
        " updated_at = CASE WHEN actual = $3 THEN updated_at ELSE now() END"
        " WHERE tenant_id = $1 AND item_id = $2",
        tenant_id,
        item_id,
        effort,
        seq,
    )


async def get(
    conn: asyncpg.Connection | asyncpg.Pool, tenant_id: str, item_id: str
) -> dict[str, Any] | None:
    """One item as the API shows it, or None."""
    row = await conn.fetchrow(
        "SELECT item_id, title, description, features, actual, actual_seq, created_seq,"
        " created_at, updated_at FROM items WHERE tenant_id = $1 AND item_id = $2",
        tenant_id,
        item_id,
    )
    if row is None:
        return None
    return {
        "id": row["item_id"],
        "title": row["title"],
        "description": row["description"],
        "features": row["features"],
        "actual": row["actual"],
        "actual_seq": row["actual_seq"],
        "created_seq": row["created_seq"],
        "created_at": row["created_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
    }
