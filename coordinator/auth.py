"""Bearer API keys: each bound to one tenant with scopes; verified hashes cached briefly.

A verified key is trusted for ``cache_seconds`` without asking the database again. When the
database cannot be reached, a key verified within the last ``stale_seconds`` is still
accepted, so estimates (served from the nodes' models) go on through an outage; a key that
was never verified, or not for that long, gets a 503. Revoking a key takes effect within
``cache_seconds`` while the database is up.
"""

from __future__ import annotations

import time

import anyio
import asyncpg
from starlette.requests import Request

from coordinator.problems import Forbidden, ServiceUnavailable, Unauthorized
from coordinator.store.outage import DATABASE_FAILURES
from coordinator.store.tenants import ApiKeyRecord, lookup_key

#: Seconds a key lookup may take before the database counts as unreachable for it.
LOOKUP_TIMEOUT = 2.0
#: After a lookup found the database unreachable, keys verified recently enough are
#: accepted without asking it again for this many seconds (so that a database that hangs
#: rather than refuses costs one request a wait, not every request).
DOWN_SECONDS = 1.0


class KeyVerifier:
    """Verifies presented keys against the database, caching positive answers for a while
    (see the module docstring)."""

    def __init__(self, pool: asyncpg.Pool, cache_seconds: float,
                 stale_seconds: float = 900.0) -> None:
        self._pool = pool
        self._ttl = cache_seconds
        self._stale = stale_seconds
        # key -> (verified at, record)
        self._cache: dict[str, tuple[float, ApiKeyRecord]] = {}
        self._down_until = 0.0  # monotonic time before which the database is not asked

    async def verify(self, request: Request, scope: str) -> ApiKeyRecord:
        """The grant behind the request's bearer key; 401/403 problems otherwise."""
        header = request.headers.get("authorization", "")
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise Unauthorized("send an API key as 'Authorization: Bearer <key>'",
                               headers={"WWW-Authenticate": "Bearer"})
        key = key.strip()
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None and (now - hit[0] < self._ttl
                                or (now < self._down_until and now - hit[0] <= self._stale)):
            record = hit[1]
        else:
            try:
                with anyio.fail_after(LOOKUP_TIMEOUT):
                    found = await lookup_key(self._pool, key)
            except DATABASE_FAILURES as e:  # it cannot say, not that the key is bad
                self._down_until = time.monotonic() + DOWN_SECONDS
                if hit is None or now - hit[0] > self._stale:
                    raise ServiceUnavailable("the key store is unreachable; retry shortly",
                                             headers={"Retry-After": "1"}) from e
                found = hit[1]  # verified recently enough: the outage does not lock it out
            else:
                if found is None:
                    self._cache.pop(key, None)
                    raise Unauthorized("unknown or revoked API key",
                                       headers={"WWW-Authenticate": "Bearer"})
                if len(self._cache) > 10_000:
                    self._cache.clear()
                self._cache[key] = (now, found)
            record = found
        if scope not in record.scopes:
            raise Forbidden(f"this API key lacks the '{scope}' scope")
        return record
