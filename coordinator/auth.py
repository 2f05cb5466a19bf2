"""Bearer API keys: each bound to one tenant with scopes; verified hashes cached briefly."""

from __future__ import annotations

import time

import asyncpg
from starlette.requests import Request

from coordinator.problems import Forbidden, ServiceUnavailable, Unauthorized
from coordinator.store.tenants import ApiKeyRecord, lookup_key


class KeyVerifier:
    """Verifies presented keys against the database, caching positive answers for a while."""

    def __init__(self, pool: asyncpg.Pool, cache_seconds: float) -> None:
        self._pool = pool
        self._ttl = cache_seconds
        self._cache: dict[str, tuple[float, ApiKeyRecord]] = {}

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
        if hit is not None and hit[0] > now:
            record = hit[1]
        else:
            try:
                found = await lookup_key(self._pool, key)
            except (asyncpg.PostgresError, OSError) as e:
                raise ServiceUnavailable("the key store is unreachable; retry shortly",
                                         headers={"Retry-After": "1"}) from e
            if found is None:
                raise Unauthorized("unknown or revoked API key",
                                   headers={"WWW-Authenticate": "Bearer"})
            record = found
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key] = (now + self._ttl, record)
        if scope not in record.scopes:
            raise Forbidden(f"this API key lacks the '{scope}' scope")
        return record
