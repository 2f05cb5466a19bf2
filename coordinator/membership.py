"""Cluster membership from node heartbeats, and the ring built from it.

A node is live while its last heartbeat is younger than ``heartbeat_timeout`` and it has not
said it is leaving (draining). Every coordinator applies the same rule to the same beats, so
coordinators agree on the ring without talking to each other (up to one timeout of skew).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from actors.ring import Ring


@dataclass
class NodeInfo:
    """What the coordinator knows of one node."""

    node_id: str
    address: str
    last_seen: float
    draining: bool = False
    stats: dict[str, Any] | None = None


@dataclass(frozen=True)
class MembershipStatistics:
    """A snapshot of membership."""

    known: int
    live: int
    draining: int
    ring_changes: int


#: A node not heard from for this long is forgotten (and leaves ``/v1/cluster``), at the
#: latest a minute later; a cluster that knows this many nodes refuses new ones until then.
FORGET_AFTER = 3600.0
_FORGET_CHECK_EVERY = 60.0
MAX_NODES = 1024


class TooManyNodes(Exception):
    """A join refused: :data:`MAX_NODES` nodes heard from within :data:`FORGET_AFTER`."""


class Membership:
    """Tracks nodes and hands out the current :class:`Ring` of live, non-draining nodes."""

    def __init__(self, heartbeat_timeout: float, replication: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.heartbeat_timeout = heartbeat_timeout
        self.replication = replication
        self._clock = clock
        self._nodes: dict[str, NodeInfo] = {}
        self._ring = Ring([], replication)
        self._ring_changes = 0
        self._speaks: dict[str, frozenset[str]] = {}  # address -> announced message types
        self._next_forget = clock() + _FORGET_CHECK_EVERY

    def beat(self, node_id: str, address: str, draining: bool,
             stats: dict[str, Any] | None) -> None:
        """Record a heartbeat (the first one is the node joining).

        Raises :class:`TooManyNodes` for a join when :data:`MAX_NODES` are known."""
        if node_id not in self._nodes or self._clock() >= self._next_forget:
            self._forget_silent()
        info = self._nodes.get(node_id)
        if info is None:
            if len(self._nodes) >= MAX_NODES:
                raise TooManyNodes(f"{len(self._nodes)} nodes are known already")
            self._nodes[node_id] = NodeInfo(node_id, address, self._clock(), draining, stats)
        else:
            info.address, info.last_seen = address, self._clock()
            info.draining, info.stats = draining, stats
        speaks = (stats or {}).get("speaks")
        self._speaks[address] = frozenset(
            t for t in (speaks if isinstance(speaks, list) else []) if isinstance(t, str))

    def _forget_silent(self) -> None:
        """Drop nodes not heard from for :data:`FORGET_AFTER` seconds."""
        now = self._clock()
        self._next_forget = now + _FORGET_CHECK_EVERY
        deadline = now - FORGET_AFTER
        gone = [k for k, n in self._nodes.items() if n.last_seen < deadline]
        for k in gone:
            del self._nodes[k]
        if gone:
            used = {n.address for n in self._nodes.values()}
            self._speaks = {a: t for a, t in self._speaks.items() if a in used}

    def leave(self, node_id: str) -> None:
        """A node said it is going: stop routing to it now."""
        info = self._nodes.get(node_id)
        if info is not None:
            info.draining = True

    def state(self, info: NodeInfo) -> str:
        """``live``; ``draining`` (said it is leaving, still beating while it finishes its
        work); or ``dead`` (silent for ``heartbeat_timeout``, whether it left or failed)."""
        if info.last_seen < self._clock() - self.heartbeat_timeout:
            return "dead"
        return "draining" if info.draining else "live"

    def live(self) -> list[NodeInfo]:
        """Nodes that beat recently and are not draining."""
        deadline = self._clock() - self.heartbeat_timeout
        return [n for n in self._nodes.values() if n.last_seen >= deadline and not n.draining]

    def ring(self) -> Ring:
        """The ring of live nodes (rebuilt only when the live set changes)."""
        live = sorted(n.node_id for n in self.live())
        if tuple(live) != self._ring.members:
            self._ring = Ring(live, self.replication)
            self._ring_changes += 1
        return self._ring

    def address_of(self, node_id: str) -> str | None:
        """A node's inbox address."""
        info = self._nodes.get(node_id)
        return info.address if info else None

    def speaks(self, address: str, type_name: str) -> bool:
        """Whether the node at ``address`` announced (``stats["speaks"]`` in its heartbeat)
        that it handles the message type ``type_name``."""
        return type_name in self._speaks.get(address, ())

    def nodes(self) -> list[NodeInfo]:
        """Every known node, live or not (but for those forgotten)."""
        if self._clock() >= self._next_forget:
            self._forget_silent()
        return list(self._nodes.values())

    def statistics(self) -> MembershipStatistics:
        """A frozen snapshot."""
        live = self.live()
        return MembershipStatistics(
            known=len(self._nodes),
            live=len(live),
            draining=sum(1 for n in self._nodes.values() if self.state(n) == "draining"),
            ring_changes=self._ring_changes,
        )
