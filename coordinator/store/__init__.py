"""PostgreSQL access: one module per table group, parameterised SQL only."""

from __future__ import annotations

import asyncpg

from coordinator.jsonio import dumps, loads


def _encode_jsonb(value: object) -> bytes:
    # jsonb's binary form is a version byte (1) followed by the JSON text.
    return b"\x01" + dumps(value)


def _decode_jsonb(data: bytes) -> object:
    return loads(data[1:])


async def init_connection(conn: asyncpg.Connection) -> None:
    """Per-connection setup: jsonb <-> Python values (binary, so COPY works too)."""
    await conn.set_type_codec("jsonb", encoder=_encode_jsonb, decoder=_decode_jsonb,
                              schema="pg_catalog", format="binary")


async def create_pool(dsn: str, *, min_size: int = 2, max_size: int = 10) -> asyncpg.Pool:
    """A connection pool with the project's codecs."""
    pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size,
                                     init=init_connection)
    assert pool is not None
    return pool
