"""The coordinator's actor: what nodes ask of a coordinator over nng.

Heartbeats (membership), leave notices, event-log fetches (a node catching up on a tenant),
and model snapshots (stored for nodes that take a tenant over, read back part by part). It
holds the shared membership table and the parts of snapshots still arriving, and serves many
asks at once.
"""

from __future__ import annotations

import anyio
import asyncpg

from actors import Actor, Refused, handles
from actors.messages import (
    ClusterView,
    FetchEvents,
    FetchSnapshot,
    Heartbeat,
    Leave,
    SnapshotPart,
    TenantEvents,
)
from actors.wire import is_address, pack
from coordinator.membership import Membership, TooManyNodes
from coordinator.snapshot_assembly import SnapshotAssembly, SnapshotRefused
from coordinator.store import events, snapshots
from coordinator.store.outage import DATABASE_FAILURES

COORDINATOR_ACTOR = "coordinator"
#: Bounds on what a heartbeat may carry (a node's own stats are a few hundred bytes).
MAX_NODE_ID = 200
MAX_STATS_BYTES = 16 * 1024


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
        self.snapshots = SnapshotAssembly()

    @handles(Heartbeat)
    async def on_heartbeat(self, msg: Heartbeat, sender: str) -> ClusterView:
        if not is_address(msg.address):
            raise Refused("bad_request", f"address {msg.address[:80]!r} is not an nng address")
        if not 0 < len(msg.node_id) <= MAX_NODE_ID:
            raise Refused("bad_request", f"node_id must have 1 to {MAX_NODE_ID} characters")
        if msg.stats is not None and len(pack(msg.stats)) > MAX_STATS_BYTES:
            raise Refused("bad_request", f"stats over {MAX_STATS_BYTES} bytes")
        try:
            self.membership.beat(msg.node_id, msg.address, msg.draining, msg.stats)
        except TooManyNodes as e:
            raise Refused("unavailable", str(e)) from e
        self.snapshots.expire()
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
        except DATABASE_FAILURES as e:
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

    @handles(SnapshotPart)
    async def on_snapshot_part(self, msg: SnapshotPart, sender: str) -> None:
        try:
            whole = self.snapshots.add(msg, sender)
        except SnapshotRefused as e:
            raise Refused(e.reason, str(e)) from e
        if whole is None:
            return
        try:
            if not await anyio.to_thread.run_sync(whole.matches):
                raise Refused("bad-request", "snapshot digest does not match")
            try:
                async with self.pool.acquire() as conn:
                    stored = await snapshots.save(conn, whole.tenant, whole.seq, whole.digest,
                                                  whole.parts)
            except asyncpg.ForeignKeyViolationError:
                stored = False  # the tenant was deleted meanwhile
            except DATABASE_FAILURES as e:
                raise Refused("unavailable", f"snapshot store unavailable: {e}") from e
        finally:
            self.snapshots.done(whole)  # its memory counts until here
        if not stored:
            raise Refused("not-found", f"no tenant {whole.tenant!r} with seq {whole.seq}")

    @handles(FetchSnapshot)
    async def on_fetch_snapshot(self, msg: FetchSnapshot, sender: str) -> SnapshotPart:
        try:
            found = await snapshots.read_part(self.pool, msg.tenant, msg.part,
                                              None if msg.seq < 0 else msg.seq)
        except DATABASE_FAILURES as e:
            raise Refused("unavailable", f"snapshot store unavailable: {e}") from e
        return found or SnapshotPart(msg.tenant, msg.seq, msg.part, 0, 0, b"", b"")

    def view(self) -> ClusterView:
        """The current live membership as sent to nodes."""
        members = [[n.node_id, n.address] for n in self.membership.live()]
        return ClusterView(members, self.membership.replication, self.coordinator_id)
