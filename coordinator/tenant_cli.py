"""``reckon tenant create NAME``: a tenant and an API key, straight in the database."""

from __future__ import annotations

import argparse
import os
import re
import sys

import anyio
import asyncpg

from coordinator.store import create_pool
from coordinator.store.migrate import migrate
from coordinator.store.outage import DATABASE_FAILURES
from coordinator.store.tenants import SCOPES, create_api_key, create_tenant

TENANT_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
PROG = "reckon tenant"

#: What connecting can raise: a URL asyncpg cannot parse (ClientConfigurationError is a
#: ValueError) or with a port past 65535 (OverflowError), a refused or unresolvable
#: address, a server that refuses the login.
BAD_URL_ERRORS = (ValueError, OverflowError)
CONNECT_ERRORS: tuple[type[BaseException], ...] = (*BAD_URL_ERRORS, *DATABASE_FAILURES)


class CannotConnect(Exception):
    """The database could not be reached; the message is the reason, one line."""

    def __init__(self, reason: str, exit_code: int) -> None:
        super().__init__(reason)
        self.exit_code = exit_code


def _reason(e: BaseException) -> str:
    if isinstance(e, TimeoutError):
        return "timed out"
    return " ".join(str(e).split()) or type(e).__name__


async def _connect(url: str) -> asyncpg.Pool:
    try:
        return await create_pool(url, min_size=1, max_size=2)
    except CONNECT_ERRORS as e:
        bad_url = isinstance(e, BAD_URL_ERRORS)  # the user's input: exit 2, as usage errors
        raise CannotConnect(_reason(e), exit_code=2 if bad_url else 1) from e


async def create(url: str, tenant: str, name: str, scopes: tuple[str, ...]) -> tuple[bool, str]:
    """Create the tenant if new and a key; return (created, key)."""
    pool = await _connect(url)
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
        print(f"{PROG}: unknown scopes {sorted(bad)}; use {','.join(SCOPES)}", file=sys.stderr)
        return 2
    if not scopes:
        print(f"{PROG}: --scopes must name at least one of {', '.join(SCOPES)}", file=sys.stderr)
        return 2
    try:
        created, key = anyio.run(create, url, args.tenant, args.name or args.tenant, scopes)
    except CannotConnect as e:
        print(f"{PROG}: cannot connect to the database: {e}", file=sys.stderr)
        return e.exit_code
    except DATABASE_FAILURES as e:
        print(f"{PROG}: database error: {_reason(e)}", file=sys.stderr)
        return 1
    print(f"{'created' if created else 'exists'} tenant={args.tenant}", file=sys.stderr)
    print(key)
    return 0
