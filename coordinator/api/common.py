"""Shared pieces of the endpoint modules."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

import anyio
from starlette.requests import Request

from coordinator.jsonio import JSONResponse
from coordinator.problems import ClientClosedRequest, InvalidInput
from coordinator.racing import run_unless
from coordinator.state import AppState
from coordinator.store import events as event_log
from coordinator.store.outage import UNREACHABLE

#: Seconds the check of a ``min_seq`` waits for the database before leaving it to the owners.
HEAD_TIMEOUT = 2.0


def state_of(request: Request) -> AppState:
    """The app's shared state."""
    state: AppState = request.app.state.reckon
    return state


T = TypeVar("T")


async def unless_client_leaves(request: Request, work: Callable[[], Awaitable[T]],
                               what: str) -> T:
    """The result of ``work()``, cancelled if the client disconnects first (once its body has
    been read, the next ASGI message a client can send is its disconnect): long work that
    nobody will read stops, and the request ends as a 499."""

    async def disconnected() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    done, result = await run_unless(work, disconnected)
    if not done:
        raise ClientClosedRequest(f"the client closed the connection before the {what} was done")
    return cast(T, result)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None
                  ) -> JSONResponse:
    """A JSON response."""
    return JSONResponse(body, status_code=status, headers=headers)


async def check_min_seq(st: AppState, tenant: str, min_seq: int) -> None:
    """Refuse a ``min_seq`` past the tenant's last committed write (no owner could ever
    reach it); when the database cannot say, the owners wait for it as usual. Only a
    ``min_seq`` beyond what this coordinator has seen committed costs a query."""
    if min_seq <= st.router.known_head(tenant):
        return
    try:
        with anyio.fail_after(HEAD_TIMEOUT):
            head = await event_log.head_seq(st.pool, tenant)
    except UNREACHABLE:
        return
    if min_seq > head:
        raise InvalidInput(f"min_seq {min_seq} is past the last write ({head}); pass the seq a "
                           "write answered", field="min_seq", head_seq=head)
