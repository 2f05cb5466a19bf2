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


#: Seconds to open a connection: a server that neither answers nor refuses (frozen, or
#: behind a partition that drops packets) counts as unreachable after this.
CONNECT_TIMEOUT = 5.0
#: Seconds a statement may take unless it passes its own ``timeout``: past it the statement
#: is cancelled and the database counts as unreachable (a 503), instead of a request
#: waiting for ever on a server that has stopped answering. A write may spend part of it
#: waiting for another write's lock on its tenant: a 50,000-item import, the largest
#: allowed, holds it for about 1.5 s.
STATEMENT_TIMEOUT = 10.0
#: Seconds to wait for a pooled connection before answering 503.
ACQUIRE_TIMEOUT = 10.0
#: Extra statement seconds per row of a bulk statement (1,000 rows a second at the least).
SECONDS_PER_ROW = 1e-3


def bulk_timeout(rows: int) -> float:
    """The statement timeout of a bulk statement of ``rows`` rows."""
    return STATEMENT_TIMEOUT + rows * SECONDS_PER_ROW


#: Bytes a second a large transfer (a model snapshot) is given at the least.
BYTES_PER_SECOND = 5e6


def transfer_timeout(n_bytes: int) -> float:
    """The statement timeout of a statement that moves ``n_bytes`` bytes."""
    return STATEMENT_TIMEOUT + n_bytes / BYTES_PER_SECOND


async def create_pool(dsn: str, *, min_size: int = 2, max_size: int = 10) -> asyncpg.Pool:
    """A connection pool with the project's codecs and timeouts (see the constants above)."""
    pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size,
                                     init=init_connection, timeout=CONNECT_TIMEOUT,
                                     command_timeout=STATEMENT_TIMEOUT)
    assert pool is not None
    return pool
