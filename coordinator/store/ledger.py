"""The estimate ledger: every issued estimate, recorded off the request path in batches."""

from __future__ import annotations

import datetime
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import anyio
import asyncpg

from coordinator.store import ACQUIRE_TIMEOUT, bulk_timeout
from coordinator.store.outage import UNREACHABLE

log = logging.getLogger("reckon.ledger")

#: Failures that some rows of a batch cause (bad text, a duplicate id, a number out of
#: range, a value the client cannot encode): the batch is split to find them. Checked
#: before :data:`UNREACHABLE`: asyncpg's client-side ``DataError`` is an ``InterfaceError``.
_ROW_REFUSED = (
    asyncpg.exceptions.DataError,
    asyncpg.exceptions.IntegrityConstraintViolationError,
    ValueError,
    TypeError,
)


class IssuedEstimate(NamedTuple):
    """One estimate as issued to a client: a ledger row, its fields in the table's column
    order (a tuple costs a quarter of a frozen dataclass, and COPY takes it as it is)."""

    id: str
    tenant_id: str
    item_id: str | None
    quantiles: dict[str, float]
    p10: float
    p50: float
    p90: float
    model_version: str
    seq: int
    #: When the estimate was issued (the coordinator's clock; rows of one batch request
    #: share it and are ordered by ``id``), not when the ledger wrote it.
    created_at: datetime.datetime


@dataclass(frozen=True)
class LedgerStatistics:
    """Counters of the ledger writer."""

    queued: int
    written: int
    dropped: int
    #: Writes given up: rows the database refused (each alone, after splitting its batch),
    #: and batches left unwritten at shutdown.
    failed_batches: int
    retries: int


class LedgerWriter:
    """Buffers issued estimates and writes them in batches (one COPY per flush).

    Estimates are recorded after the response is computed, so a crash of the coordinator
    loses the rows still queued, normally the last ``flush_interval`` seconds of them
    (never an acknowledged write: items and actuals go through the event log). The queue is
    bounded; overflow is counted, not blocking. Recording is a list append (the request path
    pays nothing per row beyond that); the writer wakes on the first row, lets
    ``flush_interval`` of rows gather (or writes at once when ``batch`` rows wait), and
    writes them. A batch that fails because the database cannot be reached goes back to the
    front of the queue and is retried with a growing pause (up to ``max_backoff`` seconds),
    so estimates served while PostgreSQL is down are recorded once it is back; a batch the
    database refuses for what it holds is split until the refused rows stand alone, and
    those are logged and counted as lost.
    """

    def __init__(self, pool: asyncpg.Pool, *, capacity: int = 100_000,
                 flush_interval: float = 0.05, batch: int = 5000,
                 max_backoff: float = 5.0) -> None:
        self._pool = pool
        self._max_backoff = max_backoff
        self._retries = 0
        self._queue: list[IssuedEstimate] = []
        self._capacity = capacity
        self._ready = anyio.Event()
        self._flush_interval = flush_interval
        self._batch = batch
        self._written = 0
        self._dropped = 0
        self._failed = 0

    def record_many(self, estimates: Sequence[IssuedEstimate]) -> None:
        """Queue issued estimates, in order; never blocks. What does not fit is counted."""
        room = self._capacity - len(self._queue)
        if room < len(estimates):
            self._dropped += len(estimates) - max(room, 0)
            estimates = estimates[: max(room, 0)]
        if estimates:
            self._queue.extend(estimates)
            self._ready.set()

    def _take(self) -> list[IssuedEstimate]:
        batch, self._queue = self._queue[: self._batch], self._queue[self._batch :]
        if not self._queue:
            self._ready = anyio.Event()
        return batch

    async def run(self) -> None:
        """Write queued estimates until cancelled; flushes what is queued on the way out
        (one try per batch, for at most 5 s)."""
        backoff = 0.0
        try:
            while True:
                await self._ready.wait()
                if backoff:
                    await anyio.sleep(backoff)
                elif len(self._queue) < self._batch:
                    await anyio.sleep(self._flush_interval)
                batch = self._take()
                try:
                    retry = await self._write(batch)
                except BaseException:  # cancelled mid-write: the flush below retries it
                    self._queue[:0] = batch
                    raise
                if retry:
                    self._queue[:0] = retry
                    self._ready.set()
                    self._retries += 1
                    backoff = min(max(2 * backoff, 0.25), self._max_backoff)
                else:
                    backoff = 0.0
        finally:
            with anyio.CancelScope(shield=True), anyio.move_on_after(5):
                while self._queue:
                    lost = await self._write(self._take())
                    if lost:
                        self._failed += 1
                        log.error("ledger rows lost at shutdown count=%d", len(lost))

    async def _write(self, batch: list[IssuedEstimate]) -> list[IssuedEstimate]:
        """Write ``batch``; what it returns failed only because the database could not be
        reached (the caller may retry it). A batch refused for its rows is split in halves
        until the refused rows stand alone, so a bad row costs only itself."""
        try:
            await self._copy(batch)
        except _ROW_REFUSED as e:
            if len(batch) > 1:
                half = len(batch) // 2
                return await self._write(batch[:half]) + await self._write(batch[half:])
            self._failed += 1
            log.error("ledger row refused id=%s tenant=%s error=%r", batch[0].id,
                      batch[0].tenant_id, e)
            return []
        except UNREACHABLE as e:
            log.warning("ledger batch not written, will retry size=%d error=%s",
                        len(batch), e or type(e).__name__)
            return batch
        except Exception:
            # The ledger must never take the coordinator down: count, log, go on.
            self._failed += 1
            log.exception("ledger batch lost size=%d", len(batch))
            return []
        self._written += len(batch)
        return []

    async def _copy(self, batch: list[IssuedEstimate]) -> None:
        linked = [e.id for e in batch if e.item_id is not None]
        linked_tenants = sorted({e.tenant_id for e in batch if e.item_id is not None})
        async with self._pool.acquire(timeout=ACQUIRE_TIMEOUT) as conn, conn.transaction():
            if linked_tenants:
                # Writes row-lock their tenant while they record actuals: sharing that
                # lock orders this batch before or after each of them, so either the
                # write's resolve sees these rows or the resolve below sees its actual.
                await conn.execute(
                    "SELECT 1 FROM tenants WHERE id = ANY($1::text[]) ORDER BY id FOR SHARE",
                    linked_tenants,
                )
            await conn.copy_records_to_table(
                "estimates",
                records=batch,
                columns=list(IssuedEstimate._fields),
                timeout=bulk_timeout(len(batch)),
            )
            if linked:
                # An actual may have arrived before this row was written.
                await conn.execute(_RESOLVE_BY_ESTIMATE, linked)

    def statistics(self) -> LedgerStatistics:
        """A frozen snapshot of the counters."""
        return LedgerStatistics(
            queued=len(self._queue),
            written=self._written,
            dropped=self._dropped,
            failed_batches=self._failed,
            retries=self._retries,
        )


# A correction re-scores what was scored against the new actual; a row keeps the time it was
# first resolved, so correcting an old item does not move its estimates into "last 50".
_OUTCOME = (
    "actual = i.actual, abs_error = abs(e.p50 - i.actual),"
    " covered80 = (i.actual BETWEEN e.p10 AND e.p90),"
    " resolved_at = COALESCE(e.resolved_at, i.actual_at)"
)
# Only an estimate made before its model first saw an actual of the item
# (e.seq < first_actual_seq) is scored: one made after it had the item among its analogies,
# with that actual, and would flatter the accuracy report.
_RESOLVE_BY_ESTIMATE = (
    f"UPDATE estimates e SET {_OUTCOME} FROM items i WHERE e.id = ANY($1::text[])"
    " AND i.tenant_id = e.tenant_id AND i.item_id = e.item_id AND i.actual IS NOT NULL"
    " AND e.seq < i.first_actual_seq"
)
_RESOLVE_BY_ITEM = (
    f"UPDATE estimates e SET {_OUTCOME} FROM items i WHERE e.tenant_id = $1"
    " AND e.item_id = ANY($2::text[]) AND i.tenant_id = e.tenant_id"
    " AND i.item_id = e.item_id AND i.actual IS NOT NULL AND e.seq < i.first_actual_seq"
)


async def resolve(conn: asyncpg.Connection, tenant_id: str, item_ids: list[str]) -> None:
    """Record the outcome of every estimate issued for items whose actual just arrived."""
    if item_ids:
        await conn.execute(_RESOLVE_BY_ITEM, tenant_id, item_ids)


WINDOWS = {"last_50": 50, "last_200": 200, "all": None}

_ACCURACY = """
WITH resolved AS (
    SELECT abs_error, actual, covered80, p90 - p10 AS width,
           row_number() OVER (ORDER BY resolved_at DESC, created_at DESC, id DESC) AS recency
    FROM estimates WHERE tenant_id = $1 AND resolved_at IS NOT NULL
)
SELECT count(*) AS count, avg(abs_error) AS mae,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY abs_error) AS mdae,
       avg(abs_error / actual) AS mmre,
       avg((abs_error / actual <= 0.25)::int)::float8 AS pred25,
       avg(covered80::int)::float8 AS coverage80, avg(width) AS width80
FROM resolved WHERE $2::bigint IS NULL OR recency <= $2
"""


async def accuracy(conn: asyncpg.Connection | asyncpg.Pool, tenant_id: str
                   ) -> dict[str, Any]:
    """The tenant's live accuracy over its most recently resolved estimates."""
    windows = {}
    for name, size in WINDOWS.items():
        row = await conn.fetchrow(_ACCURACY, tenant_id, size)
        assert row is not None
        windows[name] = {k: (float(v) if isinstance(v, float) else v) for k, v in row.items()}
    issued = await conn.fetchval("SELECT count(*) FROM estimates WHERE tenant_id = $1",
                                 tenant_id)
    return {"estimates_issued": issued, "estimates_resolved": windows["all"]["count"],
            "windows": windows}


async def for_item(
    conn: asyncpg.Connection | asyncpg.Pool, tenant_id: str, item_id: str
) -> list[dict[str, Any]]:
    """Estimates issued for an item, oldest first."""
    rows = await conn.fetch(
        "SELECT id, quantiles, p50, model_version, seq, created_at, actual, abs_error,"
        " covered80 FROM estimates"
        " WHERE tenant_id = $1 AND item_id = $2 ORDER BY created_at, id",
        tenant_id,
        item_id,
    )
    return [
        {
            "id": r["id"],
            # jsonb keeps keys by length, then bytes: put the levels back in order.
            "quantiles": dict(sorted(r["quantiles"].items(), key=lambda kv: float(kv[0]))),
            "p50": r["p50"],
            "model_version": r["model_version"],
            "seq": r["seq"],
            "created_at": r["created_at"].isoformat(),
            "actual": r["actual"],
            "abs_error": r["abs_error"],
            "covered80": r["covered80"],
        }
        for r in rows
    ]
