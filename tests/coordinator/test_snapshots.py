"""Snapshot parts are assembled strictly in order and stored whole, the newest two kept."""

from __future__ import annotations

import anyio
import asyncpg
import pytest

from actors.messages import SnapshotPart, snapshot_digest
from coordinator.snapshot_assembly import SnapshotAssembly, SnapshotRefused
from coordinator.store import snapshots
from tests.conftest import make_tenant


def _parts(data: bytes, size: int, tenant: str = "t", seq: int = 5) -> list[SnapshotPart]:
    digest = snapshot_digest([data])
    chunks = [data[i:i + size] for i in range(0, len(data), size)]
    return [SnapshotPart(tenant, seq, i, len(chunks), len(data), digest, c)
            for i, c in enumerate(chunks)]


def test_parts_in_order_make_the_whole() -> None:
    assembly = SnapshotAssembly()
    parts = _parts(bytes(range(256)) * 10, 1000)
    assert [assembly.add(p, "n1") for p in parts[:-1]] == [None, None]
    whole = assembly.add(parts[-1], "n1")
    assert whole is not None and b"".join(whole.parts) == bytes(range(256)) * 10
    assert whole.matches()
    assert whole.seq == 5 and assembly.held_bytes == 0


@pytest.mark.parametrize("fault", ["skipped", "repeated", "changed", "flipped", "oversized"])
def test_a_bad_sequence_of_parts_is_refused_and_forgotten(fault: str) -> None:
    assembly = SnapshotAssembly()
    parts = _parts(b"x" * 3000, 1000)
    if fault == "skipped":
        parts = [parts[0], parts[2]]
    elif fault == "repeated":
        parts = [parts[0], parts[1], parts[1]]
    elif fault == "changed":  # a later part announces another whole
        p = parts[1]
        parts[1] = SnapshotPart(p.tenant, p.seq, p.part, p.parts, p.size + 1, p.digest, p.data)
    elif fault == "flipped":
        p = parts[2]
        parts[2] = SnapshotPart(p.tenant, p.seq, p.part, p.parts, p.size, p.digest, b"y" * 1000)
    else:
        p = parts[1]
        parts[1] = SnapshotPart(p.tenant, p.seq, p.part, p.parts, p.size, p.digest, b"x" * 2500)
    if fault == "flipped":  # a whole of the right size, whose digest the handler checks
        wholes = [assembly.add(p, "n1") for p in parts]
        assert wholes[-1] is not None and not wholes[-1].matches()
    else:
        with pytest.raises(SnapshotRefused) as refused:
            for p in parts:
                assembly.add(p, "n1")
        assert refused.value.reason == "bad-request"
    assert assembly.held_bytes == 0


def test_held_bytes_are_bounded_and_stale_snapshots_dropped() -> None:
    """A snapshot that would not fit is refused at its first part, before the rest of it is
    sent: at once if it alone is over the bound, else while others take the room."""
    now = [0.0]
    assembly = SnapshotAssembly(max_bytes=5000, ttl=10, clock=lambda: now[0])
    a = _parts(b"a" * 3000, 1000, tenant="a")
    b = _parts(b"b" * 3000, 1000, tenant="b")
    assert assembly.add(a[0], "n1") is None
    assert assembly.held_bytes == 1000 and assembly.reserved_bytes == 3000
    with pytest.raises(SnapshotRefused) as refused:
        assembly.add(b[0], "n2")  # with a's rest to come, 6000 bytes
    assert refused.value.reason == "busy"
    with pytest.raises(SnapshotRefused) as refused:
        assembly.add(_parts(b"c" * 5001, 1000, tenant="c")[0], "n3")
    assert refused.value.reason == "too-large"
    now[0] = 11.0  # a's sender went quiet: its parts are dropped at the next heartbeat
    assembly.expire()
    assert assembly.held_bytes == 0 and assembly.reserved_bytes == 0
    assert assembly.add(b[0], "n2") is None and assembly.held_bytes == 1000
    with pytest.raises(SnapshotRefused):
        assembly.add(_parts(b"c", 1, seq=-1)[0], "n3")
    # A sender that starts a snapshot over is not refused for its own first try.
    assert assembly.add(b[0], "n2") is None and assembly.reserved_bytes == 3000
    # A whole snapshot counts until the caller is done with it (checked and stored).
    assert assembly.add(b[1], "n2") is None
    whole = assembly.add(b[2], "n2")
    assert whole is not None and assembly.held_bytes == 0 and assembly.reserved_bytes == 3000
    with pytest.raises(SnapshotRefused) as refused:
        assembly.add(_parts(b"d" * 2001, 1000, tenant="d")[0], "n4")
    assert refused.value.reason == "busy"
    assembly.done(whole)
    assert assembly.reserved_bytes == 0


def test_store_keeps_the_newest_two_and_the_first_of_a_seq(database_url: str) -> None:
    tenant, _ = make_tenant(database_url)

    async def run() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute("UPDATE tenants SET head_seq = 100 WHERE id = $1", tenant)
            for seq in (10, 20, 30):
                assert await snapshots.save(conn, tenant, seq, bytes(32), [b"p0", b"p1"])
            assert await snapshots.save(conn, tenant, 30, b"\x01" * 32, [b"other"])
            assert not await snapshots.save(conn, tenant, 101, bytes(32), [b"future"])
            assert not await snapshots.save(conn, "no-such-tenant", 1, bytes(32), [b"x"])
            newest = await snapshots.read_part(conn, tenant, 1)
            assert newest is not None and (newest.seq, newest.parts, newest.data) == (30, 2, b"p1")
            assert newest.digest == bytes(32)  # the first snapshot of seq 30 was kept
            older = await snapshots.read_part(conn, tenant, 0, seq=20)
            assert older is not None and older.data == b"p0"
            below = await snapshots.read_part(conn, tenant, 0, seq=29)  # the newest at or below
            assert below is not None and below.seq == 20
            assert await snapshots.read_part(conn, tenant, 0, seq=19) is None  # 10 was dropped
            assert await snapshots.read_part(conn, tenant, 2) is None
            await conn.execute("DELETE FROM tenants WHERE id = $1", tenant)
            assert await conn.fetchval("SELECT count(*) FROM model_snapshot_parts") == 0
        finally:
            await conn.close()

    anyio.run(run)
