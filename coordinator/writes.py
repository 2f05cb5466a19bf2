"""The write path: idempotent, transactional appends to the event log, then fan-out.

A write is acknowledged only after its transaction commits. The Idempotency-Key (optional) is
claimed in the same transaction as the events, so a retried request either finds the stored
response of the committed original or runs as if for the first time.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from starlette.requests import Request
from starlette.responses import Response

from coordinator.jsonio import JSONResponse
from coordinator.problems import Conflict, InvalidInput, ServiceUnavailable
from coordinator.router import Router
from coordinator.store import ACQUIRE_TIMEOUT
from coordinator.store import events as event_log
from coordinator.store.events import Event
from coordinator.store.outage import UNREACHABLE

log = logging.getLogger("reckon.coordinator")

#: Seconds the reset of a connection on its way back to the pool may take (it is closed
#: instead): on a server that stopped answering it would wait a statement timeout again.
RELEASE_TIMEOUT = 2.0

WriteBody = Callable[[asyncpg.Connection], Awaitable[tuple[int, dict[str, Any], list[Event]]]]


def request_fingerprint(method: str, path: str, body: bytes) -> bytes:
    """What makes two requests 'the same' for an Idempotency-Key."""
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).digest()


def check_idempotency_key(value: str | None) -> str | None:
    """Validate the header value."""
    if value is None:
        return None
    if not 1 <= len(value) <= 200 or not value.isprintable():
        raise InvalidInput("Idempotency-Key must be 1-200 printable characters",
                           field="Idempotency-Key")
    return value


async def respond_to_write(
    request: Request, pool: asyncpg.Pool, router: Router, tenant: str, body: bytes,
    write: WriteBody,
) -> Response:
    """Run an endpoint's write under the request's Idempotency-Key and answer it."""
    key = check_idempotency_key(request.headers.get("idempotency-key"))
    fingerprint = request_fingerprint(request.method, request.url.path, body)
    status, response, replayed = await idempotent_write(pool, router, tenant, key,
                                                        fingerprint, write)
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return JSONResponse(response, status_code=status, headers=headers)


async def idempotent_write(
    pool: asyncpg.Pool,
    router: Router,
    tenant: str,
    key: str | None,
    fingerprint: bytes,
    body: WriteBody,
) -> tuple[int, dict[str, Any], bool]:
    """Run ``body`` in a transaction under the Idempotency-Key; publish what it appended.

    Returns (status, response, replayed). ``body`` returns (status, response, events).
    """
    try:
        conn = await pool.acquire(timeout=ACQUIRE_TIMEOUT)
    except UNREACHABLE as e:
        raise _unavailable() from e
    try:
        async with conn.transaction():
            if key is not None and not await event_log.claim_idempotency_key(
                conn, tenant, key, fingerprint
            ):
                stored = await event_log.find_idempotent(conn, tenant, key)
                assert stored is not None
                stored_hash, status, response = stored
                if stored_hash != fingerprint:
                    raise Conflict("this Idempotency-Key was used for a different request",
                                   field="Idempotency-Key")
                return status, response, True
            status, response, appended = await body(conn)
            if key is not None:
                await event_log.store_idempotent_response(conn, tenant, key, status, response)
    except UNREACHABLE as e:
        raise _unavailable() from e
    finally:
        await _release(pool, conn)
    router.publish(tenant, appended)
    return status, response, False


def _unavailable() -> ServiceUnavailable:
    return ServiceUnavailable("the database is unreachable; the write may not have been "
                              "applied: retry it with the same Idempotency-Key, which never "
                              "applies it twice", headers={"Retry-After": "1"})


async def _release(pool: asyncpg.Pool, conn: asyncpg.Connection) -> None:
    """Give the connection back. A connection that breaks on its way back (the database
    went away just after the commit) is closed by the pool; the write it carried stands,
    so it is answered and published all the same."""
    try:
        await pool.release(conn, timeout=RELEASE_TIMEOUT)
    except UNREACHABLE as e:
        log.warning("connection lost on release after the transaction ended: %r", e)
