"""API keys against a real database: verified keys are cached, and a key verified recently
enough keeps working while the database cannot be reached; other keys then get a 503."""

from __future__ import annotations

import anyio
import pytest
from starlette.requests import Request

from coordinator.auth import KeyVerifier
from coordinator.problems import ServiceUnavailable, Unauthorized
from coordinator.store import create_pool
from tests.conftest import make_tenant


def _request(key: str) -> Request:
    return Request({"type": "http", "headers": [(b"authorization", f"Bearer {key}".encode())]})


def test_recently_verified_keys_outlast_a_database_outage(database_url: str) -> None:
    tenant, key = make_tenant(database_url)
    _, other = make_tenant(database_url)

    async def run() -> None:
        pool = await create_pool(database_url, min_size=1, max_size=1)
        fresh = KeyVerifier(pool, cache_seconds=0.05, stale_seconds=60.0)
        strict = KeyVerifier(pool, cache_seconds=0.05, stale_seconds=0.0)
        try:
            for verifier in (fresh, strict):
                assert (await verifier.verify(_request(key), "read")).tenant_id == tenant
            with pytest.raises(Unauthorized):
                await fresh.verify(_request("rk_not-a-key"), "read")
        finally:
            await pool.close()  # from here on, every lookup fails: the store is unreachable
        await anyio.sleep(0.1)  # past the cache time: each verify asks the database again
        assert (await fresh.verify(_request(key), "read")).tenant_id == tenant
        with pytest.raises(ServiceUnavailable):  # never verified: cannot be let in
            await fresh.verify(_request(other), "read")
        with pytest.raises(ServiceUnavailable):  # verified longer ago than allowed
            await strict.verify(_request(key), "read")

    anyio.run(run)
