"""The estimate ledger against a real database: queued estimates are written in batches,
overflow is counted rather than blocking, a batch the database refuses is lost without
holding up the next, and deleting a tenant deletes its estimates."""

from __future__ import annotations

import datetime

import anyio
import asyncpg

from coordinator.store import create_pool
from coordinator.store.ledger import IssuedEstimate, LedgerStatistics, LedgerWriter
from tests.conftest import make_tenant

ISSUED_AT = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


def _issued(tenant: str, n: int, prefix: str) -> list[IssuedEstimate]:
    return [
        IssuedEstimate(f"{prefix}{i:04x}", tenant, f"item-{i}" if i % 2 else None,
                       {"0.1": 1.0, "0.5": 2.0 + i, "0.9": 8.0}, 1.0, 2.0 + i, 8.0, "v1", i,
                       ISSUED_AT)
        for i in range(n)
    ]


async def _write(url: str, estimates: list[IssuedEstimate], capacity: int = 100_000) -> int:
    pool = await create_pool(url, min_size=1, max_size=2)
    try:
        writer = LedgerWriter(pool, capacity=capacity, flush_interval=0.01)
        async with anyio.create_task_group() as tg:
            tg.start_soon(writer.run)
            writer.record_many(estimates)
            await anyio.sleep(0.05)  # a flush or two on the way; stopping writes the rest
            tg.cancel_scope.cancel()
        stats = writer.statistics()
        assert stats.written == min(len(estimates), capacity) and stats.queued == 0
        return stats.dropped
    finally:
        await pool.close()


def test_rows_written_as_issued_and_overflow_counted(database_url: str) -> None:
    tenant, _ = make_tenant(database_url)
    estimates = _issued(tenant, 30, "est_a")
    assert anyio.run(_write, database_url, estimates) == 0
    assert anyio.run(_write, database_url, _issued(tenant, 12, "est_b"), 5) == 7

    async def rows() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(database_url)
        try:
            await conn.set_type_codec("jsonb", encoder=str, decoder=str, schema="pg_catalog")
            return await conn.fetch(
                "SELECT * FROM estimates WHERE tenant_id = $1 ORDER BY id", tenant)
        finally:
            await conn.close()

    found = anyio.run(rows)
    assert len(found) == 35
    by_id = {r["id"]: r for r in found}
    for e in estimates:
        r = by_id[e.id]
        assert (r["item_id"], r["p10"], r["p50"], r["p90"], r["model_version"], r["seq"]) == (
            e.item_id, e.p10, e.p50, e.p90, e.model_version, e.seq)
        assert r["quantiles"] == f'{{"0.1": 1.0, "0.5": {e.p50}, "0.9": 8.0}}'
    assert {r["id"] for r in found} - {e.id for e in estimates} == {
        f"est_b{i:04x}" for i in range(5)}


def test_deleting_a_tenant_deletes_its_estimates(database_url: str) -> None:
    gone, _ = make_tenant(database_url)
    kept, _ = make_tenant(database_url)
    anyio.run(_write, database_url, _issued(gone, 20, "est_g") + _issued(kept, 10, "est_k"))

    async def delete_and_count() -> tuple[int, int]:
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute("DELETE FROM tenants WHERE id = $1", gone)
            count = "SELECT count(*) FROM estimates WHERE tenant_id = $1"
            return await conn.fetchval(count, gone), await conn.fetchval(count, kept)
        finally:
            await conn.close()

    assert anyio.run(delete_and_count) == (0, 10)


def _write_in_turns(url: str, tenants: list[str], *turns: list[IssuedEstimate]
                    ) -> tuple[LedgerStatistics, set[str]]:
    """Queue each turn's estimates, 0.3 s apart; the writer's counters and the ids written
    for ``tenants``."""

    async def run() -> tuple[LedgerStatistics, set[str]]:
        pool = await create_pool(url, min_size=1, max_size=2)
        try:
            writer = LedgerWriter(pool, flush_interval=0.01)
            async with anyio.create_task_group() as tg:
                tg.start_soon(writer.run)
                for estimates in turns:
                    writer.record_many(estimates)
                    await anyio.sleep(0.3)
                tg.cancel_scope.cancel()
            ids = {r["id"] for r in await pool.fetch(
                "SELECT id FROM estimates WHERE tenant_id = ANY($1::text[])", tenants)}
            return writer.statistics(), ids
        finally:
            await pool.close()

    return anyio.run(run)


def test_a_refused_batch_is_counted_and_the_next_ones_are_written(database_url: str) -> None:
    tenant, _ = make_tenant(database_url)
    first = _issued(tenant, 3, "est_r")
    # The same id again: refused for its rows.
    st, ids = _write_in_turns(database_url, [tenant], first, first[:1],
                              _issued(tenant, 2, "est_s"))
    assert (st.failed_batches, st.retries, len(ids)) == (1, 0, 5)


def test_rows_the_database_refuses_cost_only_themselves(database_url: str) -> None:
    """A batch holding rows PostgreSQL cannot store (a NUL in a text column, an id written
    before) is split until they stand alone: every other row of the batch, other tenants'
    included, is written."""
    tenant, _ = make_tenant(database_url)
    other, _ = make_tenant(database_url)
    before = _issued(tenant, 2, "est_p")
    bad_text = _issued(tenant, 1, "est_n")[0]._replace(item_id="bad\x00id")
    batch = [*_issued(tenant, 7, "est_t"), before[0], bad_text, *_issued(other, 6, "est_o")]
    st, ids = _write_in_turns(database_url, [tenant, other], before, batch)
    assert (st.failed_batches, st.retries, st.written) == (2, 0, 2 + 13)
    assert ids == {e.id for e in before + batch} - {bad_text.id}


async def _record(pool: asyncpg.Pool, made: list[IssuedEstimate]) -> None:
    """Queue ``made`` on a ledger writer and let it write them."""
    writer = LedgerWriter(pool, flush_interval=0.01)
    async with anyio.create_task_group() as tg:
        tg.start_soon(writer.run)
        writer.record_many(made)
        await anyio.sleep(0.3)
        tg.cancel_scope.cancel()


def test_only_estimates_made_before_the_actual_are_scored(database_url: str) -> None:
    """The actual is recorded at seq 5. An estimate made at seq 4 is scored even though its
    ledger row is written after the actual; one made at seq 5 (its model had the actual)
    is recorded but not scored. An item imported without an actual has no actual_seq."""
    from coordinator.store import items as item_store

    tenant, _ = make_tenant(database_url)
    made = [IssuedEstimate(f"est_v{seq}", tenant, "done", {"0.1": 1.0, "0.5": 2.0, "0.9": 4.0},
                           1.0, 2.0, 4.0, "v1", seq, ISSUED_AT) for seq in (4, 5)]

    async def run() -> tuple[list[asyncpg.Record], int | None]:
        pool = await create_pool(database_url, min_size=1, max_size=2)
        try:
            async with pool.acquire() as conn:
                await item_store.upsert_many(conn, tenant, [
                    ({"id": "done", "title": "t"}, 1), ({"id": "open", "title": "u"}, 2)])
                await item_store.set_actual(conn, tenant, "done", 3.0, 5)
            await _record(pool, made)
            rows = await pool.fetch("SELECT id, actual, abs_error FROM estimates"
                                    " WHERE tenant_id = $1 ORDER BY id", tenant)
            open_seq = await pool.fetchval("SELECT actual_seq FROM items WHERE tenant_id = $1"
                                           " AND item_id = 'open'", tenant)
            return rows, open_seq
        finally:
            await pool.close()

    rows, open_seq = anyio.run(run)
    assert [(r["id"], r["actual"], r["abs_error"]) for r in rows] == [
        ("est_v4", 3.0, 1.0), ("est_v5", None, None)]
    assert open_seq is None


def test_a_retried_actual_scores_nothing_new_and_a_correction_rescores_in_place(
        database_url: str) -> None:
    """Estimates at seqs 4, 6 and 8 of one item whose first actual is at seq 5, retried
    (the same value) at seq 7 through the actual endpoint's store call and at seq 9 through
    an import, then corrected at seq 10. Only the estimate made before seq 5 is ever scored;
    the retries keep the item's actual_seq and the row's resolved_at, and the correction
    re-scores that row against the new value without moving it in the recency order. The
    item lists its estimates in the order they were issued."""
    from coordinator.store import items as item_store
    from coordinator.store import ledger

    tenant, _ = make_tenant(database_url)
    made = [IssuedEstimate(f"est_{name}", tenant, "done", {"0.1": 1.0, "0.5": 2.0, "0.9": 4.0},
                           1.0, 2.0, 4.0, "v1", seq, ISSUED_AT + datetime.timedelta(seconds=seq))
            for name, seq in (("z", 4), ("y", 6), ("x", 8))]

    async def run() -> list[tuple[object, ...]]:
        pool = await create_pool(database_url, min_size=1, max_size=2)
        seen = []

        async def look() -> None:
            item = await pool.fetchrow("SELECT actual, actual_seq, first_actual_seq FROM items"
                                       " WHERE tenant_id = $1 AND item_id = 'done'", tenant)
            rows = await pool.fetch("SELECT id, actual, resolved_at FROM estimates"
                                    " WHERE tenant_id = $1 ORDER BY id", tenant)
            listed = [e["id"] for e in await ledger.for_item(pool, tenant, "done")]
            seen.append((tuple(item), [tuple(r) for r in rows], listed))

        try:
            async with pool.acquire() as conn:
                await item_store.upsert_many(conn, tenant, [({"id": "done", "title": "t"}, 1)])
            await _record(pool, made)
            async with pool.acquire() as conn:
                await item_store.set_actual(conn, tenant, "done", 3.0, 5)
                await ledger.resolve(conn, tenant, ["done"])
                await look()
                await item_store.set_actual(conn, tenant, "done", 3.0, 7)
                await ledger.resolve(conn, tenant, ["done"])
                await item_store.upsert_many(conn, tenant, [
                    ({"id": "done", "title": "t", "actual": 3.0}, 9)])
                await ledger.resolve(conn, tenant, ["done"])
                await look()
                await item_store.set_actual(conn, tenant, "done", 12.0, 10)
                await ledger.resolve(conn, tenant, ["done"])
                await look()
            return seen
        finally:
            await pool.close()

    first, retried, corrected = anyio.run(run)
    assert first[0] == (3.0, 5, 5)
    resolved_at = first[1][2][2]
    assert resolved_at is not None
    assert [(r[0], r[1]) for r in first[1]] == [
        ("est_x", None), ("est_y", None), ("est_z", 3.0)]
    assert retried == first
    assert corrected[0] == (12.0, 10, 5)
    assert corrected[1] == [("est_x", None, None), ("est_y", None, None),
                            ("est_z", 12.0, resolved_at)]
    assert corrected[2] == ["est_z", "est_y", "est_x"]
