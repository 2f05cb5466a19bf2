"""Which database failures mean "PostgreSQL cannot be reached right now" (retry later)
rather than "this statement is wrong"."""

from __future__ import annotations

import asyncpg

#: Down, starting up or shutting down (``CannotConnectNowError``, ``AdminShutdownError``:
#: operator intervention), out of connections (insufficient resources), a connection
#: that broke or closed, or one left in a broken state by that (``InternalClientError``,
#: "cannot switch to state ...", when a connection is reset on its way back to the pool
#: as the server goes away), or a statement or connection attempt that timed out. Note
#: that asyncpg's client-side ``DataError`` (a value it cannot encode) is an
#: ``InterfaceError`` too: callers that can meet one must catch it first.
UNREACHABLE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
    asyncpg.exceptions.InternalClientError,
)
#: Any database failure, reachable or not: for callers that answer every one the same way
#: (unavailable now, or a one-line error), not telling a bad statement from an outage.
DATABASE_FAILURES: tuple[type[BaseException], ...] = (*UNREACHABLE, asyncpg.PostgresError)
