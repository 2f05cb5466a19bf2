"""The estimate ledger: every issued estimate, recorded off the request path in batches."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import anyio
import asyncpg

log = logging.getLogger("reckon.ledger")


@dataclass(frozen=True)
class IssuedEstimate:
    """One estimate as issued to a client."""

    id: str
    tenant_id: str
    item_id: str | None
    quantiles: dict[str, float]
    p50: float
    model_version: str
    seq: int


@dataclass(frozen=True)
class LedgerStatistics:
    """Counters of the ledger writer."""

    queued: int
    written: int
    dropped: int
    failed_batches: int


class LedgerWriter:
    """Buffers issued estimates and writes them in batches (one COPY per flush).

    Estimates are recorded after the response is computed, so a crash can lose the last
    ``flush_interval`` seconds of ledger rows (never an acknowledged write: items and actuals
    go through the event log). The queue is bounded; overflow is counted, not blocking.
    """

    def __init__(self, pool: asyncpg.Pool, *, capacity: int = 100_000,
                 flush_interval: float = 0.05, batch: int = 5000) -> None:
        self._pool = pool
        self._send, self._receive = anyio.create_memory_object_stream[IssuedEstimate](capacity)
        self._flush_interval = flush_interval
        self._batch = batch
        self._written = 0
        self._dropped = 0
        self._failed = 0

    def record(self, est: IssuedEstimate) -> None:
        """Queue an issued estimate; never blocks."""
        try:
            self._send.send_nowait(est)
        except anyio.WouldBlock:
            self._dropped += 1

    async def run(self) -> None:
        """Write queued estimates until cancelled; flushes what is queued on the way out."""
        try:
            async for first in self._receive:
                batch = [first]
                with anyio.move_on_after(self._flush_interval):
                    while len(batch) < self._batch:
                        batch.append(await self._receive.receive())
                await self._write(batch)
        finally:
            with anyio.CancelScope(shield=True), anyio.move_on_after(5):
                rest = []
                while True:
                    try:
                        rest.append(self._receive.receive_nowait())
                    except (anyio.WouldBlock, anyio.EndOfStream):
                        break
                if rest:
                    await self._write(rest)

    async def _write(self, batch: list[IssuedEstimate]) -> None:
        records: list[tuple[Any, ...]] = [
            (e.id, e.tenant_id, e.item_id, e.quantiles, e.p50, e.model_version, e.seq)
            for e in batch
        ]
        try:
            async with self._pool.acquire() as conn:
                await conn.copy_records_to_table(
                    "estimates",
                    records=records,
                    columns=["id", "tenant_id", "item_id", "quantiles", "p50", "model_version",
                             "seq"],
                )
            self._written += len(batch)
        except Exception:
            # The ledger must never take the coordinator down: count, log, go on.
            self._failed += 1
            log.exception("ledger batch lost size=%d", len(batch))

    def statistics(self) -> LedgerStatistics:
        """A frozen snapshot of the counters."""
        return LedgerStatistics(
            queued=self._receive.statistics().current_buffer_used,
            written=self._written,
            dropped=self._dropped,
            failed_batches=self._failed,
        )


async def for_item(
    conn: asyncpg.Connection | asyncpg.Pool, tenant_id: str, item_id: str
) -> list[dict[str, Any]]:
    """Estimates issued for an item, oldest first."""
    rows = await conn.fetch(
        "SELECT id, quantiles, p50, model_version, seq, created_at FROM estimates"
        " WHERE tenant_id = $1 AND item_id = $2 ORDER BY created_at",
        tenant_id,
        item_id,
    )
    return [
        {
            "id": r["id"],
            "quantiles": r["quantiles"],
            "p50": r["p50"],
            "model_version": r["model_version"],
            "seq": r["seq"],
            "created_at": r["created_at"].isoformat(),
        }
        for r in rows
    ]
