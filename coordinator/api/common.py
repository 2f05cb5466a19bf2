"""Shared pieces of the endpoint modules."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from coordinator.jsonio import JSONResponse
from coordinator.state import AppState


def state_of(request: Request) -> AppState:
    """The app's shared state."""
    state: AppState = request.app.state.reckon
    return state


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None
                  ) -> JSONResponse:
    """A JSON response."""
    return JSONResponse(body, status_code=status, headers=headers)
