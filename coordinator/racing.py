"""Running work until something else happens first."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio

T = TypeVar("T")


async def run_unless(work: Callable[[], Awaitable[T]],
                     stop_when: Callable[[], Awaitable[None]]) -> tuple[bool, T | None]:
    """Run ``work()`` until it finishes or ``stop_when()`` returns, whichever comes first;
    the other is cancelled. Returns ``(True, result)``, or ``(False, None)`` when
    ``stop_when`` came first. An exception from ``work`` is raised as it is (not wrapped in
    an ExceptionGroup)."""
    outcome: list[T] = []
    failure: list[Exception] = []

    async def run(scope: anyio.CancelScope) -> None:
        try:
            outcome.append(await work())
        except Exception as e:  # noqa: BLE001 (raised below as it is, not in an ExceptionGroup)
            failure.append(e)
        scope.cancel()

    async def watch(scope: anyio.CancelScope) -> None:
        await stop_when()
        scope.cancel()

    async with anyio.create_task_group() as tg:
        tg.start_soon(run, tg.cancel_scope)
        tg.start_soon(watch, tg.cancel_scope)
    if failure:
        raise failure[0]
    return (True, outcome[0]) if outcome else (False, None)
