"""``reckon tenant create NAME``: a tenant and an API key, straight in the database."""

from __future__ import annotations

import argparse
import os
import re
import sys

import anyio

from coordinator.store import create_pool
from coordinator.store.migrate import migrate
from coordinator.store.tenants import SCOPES, create_api_key, create_tenant

TENANT_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


async def create(url: str, tenant: str, name: str, scopes: tuple[str, ...]) -> tuple[bool, str]:
    """Create the tenant if new and a key; return (created, key)."""
    pool = await create_pool(url, min_size=1, max_size=2)
    try:
        async with pool.acquire() as conn:
            await migrate(conn)
            async with conn.transaction():
                created = await create_tenant(conn, tenant, name)
                key = await create_api_key(conn, tenant, scopes, label="cli")
        return created, key
    finally:
        await pool.close()


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``reckon tenant``."""
    p = argparse.ArgumentParser(prog="reckon tenant")
    sub = p.add_subparsers(dest="action", required=True)
    c = sub.add_parser("create", help="create a tenant (if new) and print a new API key")
    c.add_argument("tenant", help="tenant id: lowercase letters, digits, '-' and '_'")
    c.add_argument("--name", default=None)
    c.add_argument("--scopes", default=",".join(SCOPES))
    c.add_argument("--database-url", default=None)
    args = p.parse_args(argv)
    if not TENANT_ID.match(args.tenant):
        print("reckon tenant: the id must be 1-63 of a-z, 0-9, '-', '_'", file=sys.stderr)
        return 2
    url = args.database_url or os.environ.get("RECKON_DATABASE_URL")
    if not url:
        print("reckon tenant: give --database-url or set RECKON_DATABASE_URL", file=sys.stderr)
        return 2
    scopes = tuple(s.strip() for s in args.scopes.split(",") if s.strip())
    bad = set(scopes) - set(SCOPES)
    if bad:
        print(f"reckon tenant: unknown scopes {sorted(bad)}; use {','.join(SCOPES)}",
              file=sys.stderr)
        return 2
    created, key = anyio.run(create, url, args.tenant, args.name or args.tenant, scopes)
    print(f"{'created' if created else 'exists'} tenant={args.tenant}", file=sys.stderr)
    print(key)
    return 0
