"""Shared pieces of the endpoint modules."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from coordinator.jsonio import JSONResponse
from coordinator.problems import InvalidInput
from coordinator.state import AppState
from coordinator.store import events as event_log
from coordinator.store.outage import UNREACHABLE


def state_of(request: Request) -> AppState:
    """The app's shared state."""
    state: AppState = request.app.state.reckon
    return state


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
        head = await event_log.head_seq(st.pool, tenant)
    except UNREACHABLE:
        return
    if min_seq > head:
        raise InvalidInput(f"min_seq {min_seq} is past the last write ({head}); pass the seq a "
                           "write answered", field="min_seq", head_seq=head)
