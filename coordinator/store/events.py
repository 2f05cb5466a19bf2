"""The per-tenant event log: gap-free sequence numbers, appended in one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg

from coordinator.store import bulk_timeout


@dataclass(frozen=True)
class Event:
    """One committed event."""

    seq: int
    kind: str
    data: dict[str, Any]

    def to_wire(self) -> dict[str, Any]:
        """The form nodes receive."""
        return {"seq": self.seq, "kind": self.kind, "data": self.data}


async def append(
    conn: asyncpg.Connection, tenant_id: str, entries: list[tuple[str, dict[str, Any]]]
) -> list[Event]:
    """Append events inside the caller's transaction; return them with their seq numbers.

    Bumping ``tenants.head_seq`` row-locks the tenant until commit, so sequence numbers are
    gap-free and totally ordered per tenant even with several coordinators.
    """
    if not entries:
        return []
    head = await conn.fetchval(
        "UPDATE tenants SET head_seq = head_seq + $2 WHERE id = $1 RETURNING head_seq",
        tenant_id,
        len(entries),
    )
    if head is None:
        raise LookupError(f"unknown tenant {tenant_id!r}")
    first = head - len(entries) + 1
    events = [Event(first + i, kind, data) for i, (kind, data) in enumerate(entries)]
    await conn.executemany(
        "INSERT INTO events (tenant_id, seq, kind, data) VALUES ($1, $2, $3, $4)",
        [(tenant_id, e.seq, e.kind, e.data) for e in events],
        timeout=bulk_timeout(len(events)),
    )
    return events


async def fetch(
    conn: asyncpg.Connection | asyncpg.Pool, tenant_id: str, after_seq: int, limit: int
) -> list[Event]:
    """Committed events with ``seq > after_seq``, oldest first, at most ``limit``."""
    rows = await conn.fetch(
        "SELECT seq, kind, data FROM events WHERE tenant_id = $1 AND seq > $2"
        " ORDER BY seq LIMIT $3",
        tenant_id,
        after_seq,
        limit,
    )
    return [Event(r["seq"], r["kind"], r["data"]) for r in rows]


async def head_seq(conn: asyncpg.Connection | asyncpg.Pool, tenant_id: str) -> int:
    """The tenant's last committed sequence number (0 for none or unknown tenant)."""
    value = await conn.fetchval("SELECT head_seq FROM tenants WHERE id = $1", tenant_id)
    return int(value or 0)


async def find_idempotent(
    conn: asyncpg.Connection, tenant_id: str, key: str
) -> tuple[bytes, int, Any] | None:
    """A stored (request hash, status, response) for an Idempotency-Key, locking its row."""
    row = await conn.fetchrow(
        "SELECT request_hash, status, response FROM idempotency_keys"
        " WHERE tenant_id = $1 AND key = $2 FOR UPDATE",
        tenant_id,
        key,
    )
    if row is None:
        return None
    return bytes(row["request_hash"]), int(row["status"]), row["response"]


async def claim_idempotency_key(
    conn: asyncpg.Connection, tenant_id: str, key: str, request_hash: bytes
) -> bool:
    """Reserve a key inside the caller's transaction; False if it was used before.

    A concurrent request with the same key waits on the unique index until this transaction
    ends, then finds the stored response.
    """
    status = await conn.execute(
        "INSERT INTO idempotency_keys (tenant_id, key, request_hash, status, response)"
        " VALUES ($1, $2, $3, 0, 'null'::jsonb) ON CONFLICT DO NOTHING",
        tenant_id,
        key,
        request_hash,
    )
    return status.endswith(" 1")


async def store_idempotent_response(
    conn: asyncpg.Connection, tenant_id: str, key: str, status: int, response: Any
) -> None:
    """Record the response of the request that claimed the key (same transaction)."""
    await conn.execute(
        "UPDATE idempotency_keys SET status = $3, response = $4 WHERE tenant_id = $1 AND key = $2",
        tenant_id,
        key,
        status,
        response,
    )
