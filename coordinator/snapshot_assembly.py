"""Model snapshots arriving part by part from nodes, held until whole.

A node sends the parts of one snapshot in order, each in its own message; the coordinator
keeps them in memory and stores the snapshot once the last part arrives and the digest of
the whole matches (:mod:`coordinator.store.snapshots`). Bounded: a snapshot that stops
arriving is dropped after ``ttl`` seconds, and the first part of one whose announced size
would take the snapshots arriving at once past ``max_bytes`` is refused (``busy``; or
``too-large`` when it alone is), before any more of it is sent; the node tries again with
its next snapshot.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from actors.messages import SnapshotPart, snapshot_digest

#: Most parts one snapshot may have (4 MB parts: 4 GB).
MAX_PARTS = 1024


class SnapshotRefused(Exception):
    """A part that cannot be taken; ``reason`` is ``bad-request``, ``busy`` or
    ``too-large``."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


@dataclass
class _Pending:
    parts: int
    size: int
    digest: bytes
    started: float
    data: list[bytes] = field(default_factory=list)

    @property
    def held(self) -> int:
        return sum(len(d) for d in self.data)


@dataclass(frozen=True)
class Snapshot:
    """A whole snapshot, its size checked (its digest by :meth:`matches`)."""

    tenant: str
    seq: int
    digest: bytes
    parts: list[bytes]

    def matches(self) -> bool:
        """Whether the parts hash to the announced digest (about 0.1 s for 87 MB: call it
        off the event loop)."""
        return snapshot_digest(self.parts) == self.digest


class SnapshotAssembly:
    """Pending snapshots keyed by (sender, tenant, seq)."""

    def __init__(self, max_bytes: int = 512 * 1024 * 1024, ttl: float = 120.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_bytes = max_bytes
        self.ttl = ttl
        self._clock = clock
        self._pending: dict[tuple[str, str, int], _Pending] = {}
        self._storing = 0  # bytes of whole snapshots handed out and not yet done with

    @property
    def held_bytes(self) -> int:
        """Bytes of parts held for snapshots not yet whole."""
        return sum(p.held for p in self._pending.values())

    @property
    def reserved_bytes(self) -> int:
        """Bytes announced by the snapshots not yet whole (what they will hold), and of
        those whole but still being checked and stored (see :meth:`done`)."""
        return sum(p.size for p in self._pending.values()) + self._storing

    def done(self, whole: Snapshot) -> None:
        """The caller is done with a whole snapshot from :meth:`add` (stored or not): its
        bytes no longer count against ``max_bytes``."""
        self._storing -= sum(len(p) for p in whole.parts)

    def add(self, msg: SnapshotPart, sender: str) -> Snapshot | None:
        """Take one part; the whole snapshot when this was its last part, else None (the
        caller hands it back to :meth:`done` once it is stored or dropped).

        Raises :class:`SnapshotRefused` for a part out of order, one that does not agree with
        the first, a whole of another size than announced, or no room.
        """
        now = self.expire()
        if (not 0 < msg.parts <= MAX_PARTS or msg.size < 0 or len(msg.digest) != 32
                or not 0 <= msg.seq < 1 << 62):
            raise SnapshotRefused("bad-request", "malformed snapshot part")
        key = (sender, msg.tenant, msg.seq)
        if msg.part == 0:
            self._pending.pop(key, None)  # a sender starting this snapshot over
            if msg.size > self.max_bytes:
                raise SnapshotRefused("too-large", f"a snapshot of {msg.size} bytes is over "
                                      f"the {self.max_bytes} a coordinator holds")
            if self.reserved_bytes + msg.size > self.max_bytes:
                raise SnapshotRefused("busy", "too many snapshots arriving at once")
            self._pending[key] = _Pending(msg.parts, msg.size, msg.digest, now)
        pending = self._pending.get(key)
        if pending is None or msg.part != len(pending.data) or (
                (msg.parts, msg.size, msg.digest) != (pending.parts, pending.size, pending.digest)):
            self._pending.pop(key, None)
            raise SnapshotRefused("bad-request", f"snapshot part {msg.part} out of order")
        if pending.held + len(msg.data) > pending.size:
            del self._pending[key]
            raise SnapshotRefused("bad-request", "snapshot larger than announced")
        pending.data.append(msg.data)
        if len(pending.data) < pending.parts:
            return None
        del self._pending[key]
        if pending.held != pending.size:
            raise SnapshotRefused("bad-request", "snapshot smaller than announced")
        self._storing += pending.size
        return Snapshot(msg.tenant, msg.seq, pending.digest, pending.data)

    def expire(self) -> float:
        """Drop the parts of snapshots whose sender went quiet (the coordinator calls this
        with every heartbeat, so they go within ``ttl`` even if no other part arrives);
        return the clock's time."""
        now = self._clock()
        for key in [k for k, p in self._pending.items() if now - p.started > self.ttl]:
            del self._pending[key]
        return now
