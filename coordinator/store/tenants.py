"""Tenants and their API keys (stored hashed)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import asyncpg

SCOPES = ("read", "write", "admin")


@dataclass(frozen=True)
class ApiKeyRecord:
    """What an API key grants."""

    key_id: str
    tenant_id: str
    scopes: frozenset[str]


def hash_key(key: str) -> bytes:
    """The stored form of an API key."""
    return hashlib.sha256(key.encode()).digest()


def split_key(key: str) -> str | None:
    """The key id of a well-formed key ``rk_<id>_<secret>``, else None."""
    parts = key.split("_")
    if len(parts) != 3 or parts[0] != "rk" or not parts[1] or not parts[2]:
        return None
    return parts[1]


async def create_tenant(conn: asyncpg.Connection, tenant_id: str, name: str) -> bool:
    """Create a tenant; False if it exists already."""
    status = await conn.execute(
        "INSERT INTO tenants (id, name) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
        tenant_id,
        name,
    )
    return status.endswith(" 1")


async def create_api_key(
    conn: asyncpg.Connection, tenant_id: str, scopes: tuple[str, ...] = SCOPES, label: str = ""
) -> str:
    """Issue a new key for the tenant and return it (the only time it is ever visible)."""
    bad = set(scopes) - set(SCOPES)
    if bad:
        raise ValueError(f"unknown scopes {sorted(bad)}")
    key_id = secrets.token_hex(6)
    key = f"rk_{key_id}_{secrets.token_urlsafe(24).replace('_', '-')}"
    await conn.execute(
        "INSERT INTO api_keys (key_id, tenant_id, secret_hash, scopes, label)"
        " VALUES ($1, $2, $3, $4, $5)",
        key_id,
        tenant_id,
        hash_key(key),
        list(scopes),
        label,
    )
    return key


async def lookup_key(conn: asyncpg.Connection | asyncpg.Pool, key: str) -> ApiKeyRecord | None:
    """The grant of a presented key, or None if unknown, revoked or wrong."""
    key_id = split_key(key)
    if key_id is None:
        return None
    row = await conn.fetchrow(
        "SELECT tenant_id, secret_hash, scopes FROM api_keys"
        " WHERE key_id = $1 AND revoked_at IS NULL",
        key_id,
    )
    if row is None or not secrets.compare_digest(bytes(row["secret_hash"]), hash_key(key)):
        return None
    return ApiKeyRecord(key_id, row["tenant_id"], frozenset(row["scopes"]))

