"""The node's membership agent: heartbeats to every coordinator, ownership-driven eviction.

Each heartbeat is an ask; the reply is the coordinator's cluster view. A tenant estimator
whose tenant this node no longer owns in any coordinator's view (for two beats in a row) is
stopped, so memory follows the ring.
"""

from __future__ import annotations

import logging

import anyio

from actors import ActorSystem, AskTimeout, RemoteError, Ring
from actors.messages import ClusterView, EstimateJSONRequest, Heartbeat, Leave
from node import snapshots
from node.config import NodeConfig
from node.event_fetch import COORDINATOR_ACTOR

log = logging.getLogger("reckon.node.agent")

ESTIMATOR_PREFIX = "estimator:"
#: Message types a coordinator may send only to nodes that announce them (see Heartbeat).
SPEAKS = [EstimateJSONRequest.TYPE]


class NodeAgent:
    """Keeps this node known to the coordinators and its actors in line with the ring."""

    def __init__(self, system: ActorSystem, config: NodeConfig) -> None:
        self.system = system
        self.config = config
        self.draining = False
        self.views: dict[str, ClusterView] = {}
        self._strikes: dict[str, int] = {}

    async def run(self) -> None:
        """Beat every ``heartbeat_interval`` until cancelled, to each coordinator on its own
        schedule: a coordinator that does not answer (each beat waits up to two intervals)
        delays only its own beats, never those to the others, which would otherwise come
        about every three intervals, close to their ``heartbeat_timeout``. Ownership is
        checked once an interval."""
        interval = self.config.heartbeat_interval
        async with anyio.create_task_group() as tg:
            for address in self.config.coordinators:
                tg.start_soon(self._beat_every, address, interval)
            while True:
                await anyio.sleep(interval)
                self._evict_unowned()

    async def _beat_every(self, address: str, interval: float) -> None:
        while True:
            started = anyio.current_time()
            await self._beat(address)
            await anyio.sleep(max(0.0, started + interval - anyio.current_time()))

    async def _beat(self, address: str) -> None:
        stats = self.system.statistics()
        beat = Heartbeat(
            node_id=self.config.node_id,
            address=self.system.address,
            draining=self.draining,
            stats={
                "actors": stats.actors,
                "restarts": stats.restarts,
                "handled": stats.handled,
                "overloaded": stats.overloaded,
                "bad_messages": stats.bad_messages,
                "frames_dropped": stats.transport.frames_dropped,
                "envelopes_dropped": stats.transport.envelopes_dropped,
                "snapshots_saved": snapshots.COUNTERS.saved,
                "snapshots_loaded": snapshots.COUNTERS.loaded,
                "snapshots_failed": snapshots.COUNTERS.failed,
                # Message types beyond the first protocol that this node handles: a
                # coordinator sends them only to nodes that list them (rolling upgrades).
                "speaks": SPEAKS,
            },
        )
        try:
            reply = await self.system.ask(
                address, COORDINATOR_ACTOR, beat, self.config.heartbeat_interval * 2
            )
        except (AskTimeout, RemoteError) as e:
            if address in self.views:
                log.warning("coordinator not answering coordinator=%s error=%s", address, e)
            self.views.pop(address, None)
            return
        if isinstance(reply, ClusterView):
            if address not in self.views:
                log.info("joined coordinator=%s members=%d", address, len(reply.members))
            self.views[address] = reply

    def answering(self, coordinator: str) -> bool:
        """Whether ``coordinator`` answered this node's last heartbeat to it."""
        return coordinator in self.views

    def _rings(self, extra: int) -> list[Ring]:
        """Each coordinator's ring, with ``extra`` owners beyond its replication."""
        return [Ring([m[0] for m in v.members], v.replication + extra)
                for v in self.views.values()]

    def first_owner(self, tenant: str) -> bool:
        """Whether this node comes first among ``tenant``'s owners in some coordinator's
        view (or knows no view yet): the one node that saves the tenant's snapshots."""
        rings = self._rings(0)
        return not rings or any(r.owners(tenant)[:1] == [self.config.node_id] for r in rings)

    def _evict_unowned(self) -> None:
        if not self.views or self.draining:
            return
        # Kept: the tenants this node owns, and those it is the spare for (the next in line,
        # which coordinators ask when both owners are slow): dropping a spare copy made every
        # such read replay the tenant's whole log again.
        rings = self._rings(1)
        for name in self.system.actor_names():
            if not name.startswith(ESTIMATOR_PREFIX):
                continue
            tenant = name[len(ESTIMATOR_PREFIX) :]
            owned = any(self.config.node_id in ring.owners(tenant) for ring in rings)
            if owned:
                self._strikes.pop(name, None)
                continue
            self._strikes[name] = self._strikes.get(name, 0) + 1
            if self._strikes[name] >= 2:
                log.info("evicting tenant no longer owned tenant=%s", tenant)
                self.system.stop(name)
                del self._strikes[name]

    async def leave(self) -> None:
        """Tell every coordinator this node is going (graceful shutdown)."""
        self.draining = True
        for address in self.config.coordinators:
            self.system.tell(address, COORDINATOR_ACTOR, Leave(self.config.node_id))
        # Give the frames a moment to leave, and coordinators a moment to stop routing here.
        await anyio.sleep(self.config.leave_grace)
