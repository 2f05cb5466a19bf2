"""Model snapshots in PostgreSQL: written whole in one transaction, read part by part.

A tenant keeps its :data:`KEEP` newest snapshots (by log position); saving one deletes
the older ones in the same transaction. A read names a ``seq`` to get the newest snapshot
at or below it: a node names the first part's seq for every later part (a part of another
snapshot, if that one was deleted meanwhile, is refused by the node, which then falls
back), and one below the newest to fall back to the older snapshot kept beside it.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from actors.messages import SnapshotPart
from coordinator.store import transfer_timeout

#: Snapshots kept per tenant (the newest; an older one serves while a newer is written).
KEEP = 2


async def save(conn: asyncpg.Connection, tenant_id: str, seq: int, digest: bytes,
               parts: Sequence[bytes]) -> bool:
    """Store a snapshot of the log prefix up to ``seq``; False if the tenant is unknown or
    ``seq`` is past its log. A snapshot at a ``seq`` already stored (the tenant's other
    owner refitted the same history) is kept, and this one dropped."""
    async with conn.transaction():
        head = await conn.fetchval("SELECT head_seq FROM tenants WHERE id = $1",
                                   tenant_id)
        if head is None or seq > head:
            return False
        inserted = await conn.fetchval(
            "INSERT INTO model_snapshots (tenant_id, seq, parts, size, digest)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, seq) DO NOTHING"
            " RETURNING true",
            tenant_id, seq, len(parts), sum(len(p) for p in parts), digest)
        if not inserted:
            return True
        await conn.executemany(
            "INSERT INTO model_snapshot_parts (tenant_id, seq, part, data) VALUES ($1, $2, $3, $4)",
            [(tenant_id, seq, i, p) for i, p in enumerate(parts)],
            timeout=transfer_timeout(sum(len(p) for p in parts)))
        await conn.execute(
            "DELETE FROM model_snapshots WHERE tenant_id = $1 AND seq NOT IN"
            " (SELECT seq FROM model_snapshots WHERE tenant_id = $1 ORDER BY seq DESC LIMIT $2)",
            tenant_id, KEEP)
    return True


async def read_part(conn: asyncpg.Connection | asyncpg.Pool, tenant_id: str, part: int,
                    seq: int | None = None) -> SnapshotPart | None:
    """Part ``part`` of the newest snapshot at or below ``seq`` (None: the newest of all),
    as the message that carries it; None if there is none."""
    row = await conn.fetchrow(
        "SELECT s.seq, s.parts, s.size, s.digest, p.part, p.data FROM model_snapshots s"
        " JOIN model_snapshot_parts p ON p.tenant_id = s.tenant_id AND p.seq = s.seq"
        " WHERE s.tenant_id = $1 AND p.part = $2 AND ($3::bigint IS NULL OR s.seq <= $3)"
        " ORDER BY s.seq DESC LIMIT 1",
        tenant_id, part, seq)
    if row is None:
        return None
    return SnapshotPart(tenant_id, int(row["seq"]), int(row["part"]), int(row["parts"]),
                        int(row["size"]), bytes(row["digest"]), bytes(row["data"]))
