"""The write path against a real database: a transaction that committed is answered and
published even when its connection breaks on the way back to the pool."""

from __future__ import annotations

from typing import Any

import anyio
import asyncpg
import pytest

from coordinator.store import create_pool
from coordinator.store import events as event_log
from coordinator.store.events import Event
from coordinator.writes import idempotent_write
from tests.conftest import make_tenant


class _Published:
    """Stands in for the router's fan-out (the part under test is the store's side)."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def publish(self, tenant: str, events: list[Event]) -> None:
        self.events += events


def test_a_connection_that_breaks_after_the_commit_loses_no_acknowledgement(
        database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    tenant, _ = make_tenant(database_url)

    async def body(conn: asyncpg.Connection) -> tuple[int, dict[str, Any], list[Event]]:
        appended = await event_log.append(conn, tenant, [("item", {"id": "a", "title": "a"})])
        return 201, {"seq": appended[-1].seq}, appended

    async def run() -> tuple[int, dict[str, Any], bool, int]:
        pool = await create_pool(database_url, min_size=1, max_size=1)
        real_release = asyncpg.Pool.release

        async def release_then_break(self: asyncpg.Pool, conn: asyncpg.Connection, *,
                                     timeout: float | None = None) -> None:
            # What asyncpg raises when the server goes away as the connection is reset.
            await real_release(self, conn, timeout=timeout)
            raise asyncpg.exceptions.InternalClientError(
                "cannot switch to state 15; another operation (2) is in progress")

        monkeypatch.setattr(asyncpg.Pool, "release", release_then_break)
        published = _Published()
        try:
            try:
                status, response, replayed = await idempotent_write(
                    pool, published, tenant, "key-1", b"fingerprint",  # type: ignore[arg-type]
                    body)
            finally:
                monkeypatch.undo()
            head = await event_log.head_seq(pool, tenant)
        finally:
            await pool.close()
        assert [e.seq for e in published.events] == [response["seq"]]
        return status, response, replayed, head

    status, response, replayed, head = anyio.run(run)
    assert (status, replayed) == (201, False)
    assert response["seq"] == head == 1

