"""Fetching a tenant's committed events from the coordinators (a tenant actor's catch-up)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from actors import ActorSystem, AskTimeout, RemoteError
from actors.messages import FetchEvents, TenantEvents

COORDINATOR_ACTOR = "coordinator"


class CatchUpFailed(Exception):
    """No coordinator could supply the missing events."""


def coordinator_order(system: ActorSystem, coordinators: Sequence[str], preferred: str | None,
                      answering: Callable[[str], bool] | None = None) -> list[str]:
    """The coordinators to ask: ``preferred`` (the one that last pushed events) first, and
    those without a live nng link last (an ask of a dead one waits its whole timeout);
    among the linked ones, those that do not answer heartbeats (``answering``: a stopped
    or partitioned coordinator keeps its TCP link up) after those that do."""
    candidates = [c for c in coordinators if c != preferred]
    if preferred:
        candidates.insert(0, preferred)
    linked = system.transport.is_connected
    if answering is None:
        return sorted(candidates, key=lambda address: not linked(address))
    return sorted(candidates, key=lambda address: (not linked(address), not answering(address)))


async def fetch_events(system: ActorSystem, coordinators: Sequence[str], tenant: str,
                       after_seq: int, limit: int, timeout: float) -> TenantEvents:
    """A page of the tenant's events after ``after_seq`` from the first coordinator of
    ``coordinators`` that serves it; :class:`CatchUpFailed` when none does."""
    errors = []
    for address in coordinators:
        try:
            reply = await system.ask(address, COORDINATOR_ACTOR,
                                     FetchEvents(tenant, after_seq, limit), timeout)
        except (AskTimeout, RemoteError) as e:
            errors.append(f"{address}: {e}")
            continue
        if isinstance(reply, TenantEvents):
            return reply
        errors.append(f"{address}: unexpected reply {reply.TYPE}")
    raise CatchUpFailed(f"tenant {tenant}: no coordinator served events: {errors}")
