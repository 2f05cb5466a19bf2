"""The coordinator's actor: what nodes ask of a coordinator over nng.

Heartbeats (membership), leave notices, and event-log fetches (a node catching up on a tenant).
It is stateless apart from the shared membership table, so it serves many asks at once.
"""

from __future__ import annotations

import asyncpg

from actors import Actor, Refused, handles
from actors.messages import ClusterView, FetchEvents, Heartbeat, Leave, TenantEvents
from actors.wire import pack
from coordinator.membership import Membership
from coordinator.store import events

COORDINATOR_ACTOR = "coordinator"


class CoordinatorActor(Actor):
    """Serves node requests; one instance per coordinator process."""

    mailbox_size = 8192
    max_concurrency = 32

    def __init__(self, coordinator_id: str, pool: asyncpg.Pool, membership: Membership,
                 max_fetch: int = 5000, max_reply_bytes: int = 4 * 1024 * 1024) -> None:
        self.coordinator_id = coordinator_id
        self.pool = pool
        self.membership = membership
        self.max_fetch = max_fetch
        self.max_reply_bytes = max_reply_bytes

    @handles(Heartbeat)
    async def on_heartbeat(self, msg: Heartbeat, sender: str) -> ClusterView:
        self.membership.beat(msg.node_id, msg.address, msg.draining, msg.stats)
        return self.view()

    @handles(Leave)
    async def on_leave(self, msg: Leave, sender: str) -> None:
        self.membership.leave(msg.node_id)

    @handles(FetchEvents)
    async def on_fetch(self, msg: FetchEvents, sender: str) -> TenantEvents:
        limit = max(1, min(msg.limit, self.max_fetch))
        try:
            async with self.pool.acquire() as conn:
                batch = await events.fetch(conn, msg.tenant, msg.after_seq, limit)
                head = await events.head_seq(conn, msg.tenant)
        except (asyncpg.PostgresError, OSError) as e:
            raise Refused("unavailable", f"event log unavailable: {e}") from e
        # Stop before the reply outgrows a frame; the node asks again for the rest.
        wire: list[dict[str, object]] = []
        size = 0
        for event in batch:
            item = event.to_wire()
            size += len(pack(item))
            if wire and size > self.max_reply_bytes:
                break
            wire.append(item)
        return TenantEvents(msg.tenant, wire, head)

    def view(self) -> ClusterView:
        """The current live membership as sent to nodes."""
        members = [[n.node_id, n.address] for n in self.membership.live()]
        return ClusterView(members, self.membership.replication, self.coordinator_id)
