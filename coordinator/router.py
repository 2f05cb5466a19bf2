"""Routing between the HTTP layer and the nodes: write fan-out and hedged reads.

Writes: after an event batch is committed, it is sent to every owner of the tenant. A lost
send is repaired by the owner itself (it fetches missing events on the next gap or read).

Reads: one owner is asked, the one with the fewest of this coordinator's reads in flight
(the first owner when they are even), so a tenant's reads spread over its R owners as soon as
one of them is busy, and a busy node's other tenants go to their other owners. If it has not
answered within ``hedge_delay``, or answers an error, the next candidate is asked too, and the
first good answer wins (without a task per attempt: the asks share one wake-up event). Owners
whose link is known to be down are tried last.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import anyio

from actors import ActorSystem, Message, ProtocolError, RemoteError
from actors.messages import TenantEvents
from actors.system import PendingAsk
from coordinator.membership import Membership
from coordinator.store.events import Event

ESTIMATOR_PREFIX = "estimator:"
PUBLISH_CHUNK = 1000

log = logging.getLogger("reckon.router")


class NoNodesAvailable(Exception):
    """No live node could answer (none joined yet, or all candidates failed)."""


@dataclass(frozen=True)
class RouterStatistics:
    """Counters of the router."""

    reads: int
    hedged: int
    failed_reads: int
    events_published: int
    publish_dropped: int


#: Seconds added to the hedge delay for each item of a read beyond the first: about twice a
#: node's compute time per item in a large batch, so only a node that is really stalled
#: gets a big batch asked of another owner.
HEDGE_PER_ITEM = 100e-6


class Router:
    """Sends events to owners and reads from the first owner that answers."""

    def __init__(self, system: ActorSystem, membership: Membership, *, hedge_delay: float,
                 timeout: float, hedge_per_item: float = HEDGE_PER_ITEM) -> None:
        self.system = system
        self.membership = membership
        self.hedge_delay = hedge_delay
        self.hedge_per_item = hedge_per_item
        self.timeout = timeout
        self._heads: dict[str, int] = {}
        #: Reads in flight from this coordinator, by node address.
        self._in_flight: dict[str, int] = {}
        self._reads = self._hedged = self._failed = self._published = self._dropped = 0

    def known_head(self, tenant: str) -> int:
        """The highest seq this coordinator committed for the tenant (0 if none seen)."""
        return self._heads.get(tenant, 0)

    def publish(self, tenant: str, events: list[Event]) -> None:
        """Send committed events to every owner of the tenant; never raises.

        Events go in chunks so that no message outgrows a frame. A chunk that cannot be sent
        is counted and skipped: its owners fetch it when they notice the gap.
        """
        if not events:
            return
        head = events[-1].seq
        if head > self._heads.get(tenant, 0):
            self._heads[tenant] = head
        addresses = [a for a in (self.membership.address_of(n)
                                 for n in self.membership.ring().owners(tenant)) if a]
        wire = [e.to_wire() for e in events]
        for start in range(0, len(wire), PUBLISH_CHUNK):
            self._publish_chunk(tenant, wire[start:start + PUBLISH_CHUNK], head, addresses)

    def _publish_chunk(self, tenant: str, chunk: list[dict[str, Any]], head: int,
                       addresses: list[str]) -> None:
        msg = TenantEvents(tenant, chunk, head)
        for address in addresses:
            try:
                sent = self.system.tell(address, ESTIMATOR_PREFIX + tenant, msg)
            except ProtocolError:
                if len(chunk) > 1:  # too big for one frame: halve it
                    half = len(chunk) // 2
                    self._publish_chunk(tenant, chunk[:half], head, [address])
                    self._publish_chunk(tenant, chunk[half:], head, [address])
                    continue
                sent = False
            if sent:
                self._published += len(chunk)
            else:
                self._dropped += len(chunk)
                log.warning("events not sent tenant=%s count=%d owner=%s", tenant, len(chunk),
                            address)

    def candidates(self, tenant: str) -> list[str]:
        """Addresses to ask for a read, best first: the owners whose link is up, the least
        busy first (reads in flight from here; ties keep the ring's order), then one spare
        node; then the same again for those whose link is down."""
        ring = self.membership.ring()
        chosen = ring.preference(tenant)[: ring.replication + 1]
        ranked = []
        for place, node in enumerate(chosen):
            address = self.membership.address_of(node)
            if address:
                ranked.append(((not self.system.transport.is_connected(address),
                                place >= ring.replication, self._in_flight.get(address, 0)),
                               address))
        ranked.sort(key=lambda entry: entry[0])  # stable: ties keep the ring's order
        return [address for _, address in ranked]

    async def read(self, tenant: str, msg: Message, items: int = 1,
                   fallback: Message | None = None) -> Message:
        """Ask the tenant's owners with hedging; raise :class:`NoNodesAvailable` if none answer.

        The first candidate is asked; each later one is asked too once the hedge delay has
        passed without an answer, or at once when every ask so far has failed. The first
        good reply wins; the others are forgotten (their late replies are dropped). The
        hedge delay is ``hedge_delay`` plus ``hedge_per_item`` for each item beyond the
        first: a big batch is not asked twice just because it takes longer to compute.
        A node that has not announced that it handles ``msg``'s type is sent ``fallback``
        instead, if given (an older node during a rolling upgrade).
        """
        self._reads += 1
        candidates = self.candidates(tenant)
        if not candidates:
            self._failed += 1
            raise NoNodesAvailable("no node has joined the cluster yet")
        target = ESTIMATOR_PREFIX + tenant
        errors: list[str] = []
        waiting: list[tuple[str, PendingAsk]] = []
        asked: list[str] = []
        deadline = anyio.current_time() + self.timeout
        hedge_after = self.hedge_delay + max(0, items - 1) * self.hedge_per_item
        try:
            for i, address in enumerate(candidates):
                if i > 0:
                    self._hedged += 1
                try:
                    ask = msg
                    if fallback is not None and not self.membership.speaks(address, msg.TYPE):
                        ask = fallback
                    waiting.append((address, self.system.start_ask(address, target, ask)))
                    asked.append(address)
                    self._in_flight[address] = self._in_flight.get(address, 0) + 1
                except RemoteError as e:
                    errors.append(f"{address}: {e}")
                    continue
                last = i == len(candidates) - 1
                until = deadline if last else min(deadline,
                                                  anyio.current_time() + hedge_after)
                reply = await self._first_reply(waiting, errors, until)
                if reply is not None:
                    return reply
                if anyio.current_time() >= deadline:
                    break
        finally:
            for _, pending in waiting:
                self.system.forget(pending)
            for address in asked:
                left = self._in_flight.get(address, 0) - 1
                if left > 0:
                    self._in_flight[address] = left
                else:
                    self._in_flight.pop(address, None)
        self._failed += 1
        detail = "; ".join(errors) or (
            f"no answer within {self.timeout:g} s (an owner that has just started may still "
            "be loading the tenant's history; retry shortly)")
        raise NoNodesAvailable(f"no owner of the tenant answered: {detail}")

    async def _first_reply(self, waiting: list[tuple[str, PendingAsk]], errors: list[str],
                           until: float) -> Message | None:
        """The first good reply among ``waiting``, or None once all of them failed (their
        errors go to ``errors`` and they leave ``waiting``) or ``until`` has passed."""
        while True:
            for entry in list(waiting):
                address, pending = entry
                if pending.done:
                    if pending.error is None and pending.message is not None:
                        return pending.message
                    errors.append(f"{address}: {pending.error}")
                    waiting.remove(entry)
                    self.system.forget(pending)
            remaining = until - anyio.current_time()
            if not waiting or remaining <= 0:
                return None
            wake = anyio.Event()
            for _, pending in waiting:
                pending.wake = wake
            with anyio.move_on_after(remaining):
                await wake.wait()

    def statistics(self) -> RouterStatistics:
        """A frozen snapshot."""
        return RouterStatistics(self._reads, self._hedged, self._failed, self._published,
                                self._dropped)
