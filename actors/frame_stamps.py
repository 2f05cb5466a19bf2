"""Frame stamps: each authenticated frame is accepted once, and only while it is fresh.

A sender keeps one :class:`FrameStream` per peer it sends to: a random 8-byte id and a
counter, so every frame it sends carries ``(stream, number, send time)`` inside the part
the frame's HMAC covers. A receiver's :class:`ReplayGuard` refuses a frame whose send time
is further than ``max_age_s`` from its own clock either way, or whose number it has already
seen in that stream (or that falls more than :data:`WINDOW` numbers behind the newest it
has seen: nng keeps a socket's frames in order, so only a replay arrives that late). A
captured frame resent later is therefore refused: within ``max_age_s`` by its number,
after that by its age. A stream is forgotten once it has been quiet for three times
``max_age_s``; any frame of it is stale by then.

What this does not stop: a frame captured on its way to one member and sent to another
member within ``max_age_s`` (stamps do not name the receiver, since a member does not
always know the address others reach it by). Members' clocks must agree within
``max_age_s`` (run NTP); frames refused for their age are logged with the offset.
"""

from __future__ import annotations

import os
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass

from actors.errors import ProtocolError

#: How far behind the newest number of a stream a frame may still arrive (reordering).
WINDOW = 64
_MASK = (1 << WINDOW) - 1
_LAYOUT = struct.Struct(">2s8sQq")  # prefix, stream, number, send time (ms since the epoch)
PREFIX = b"RS"
#: Bytes of an encoded stamp.
STAMP_BYTES = _LAYOUT.size


@dataclass(frozen=True, slots=True)
class FrameStamp:
    """Which stream a frame belongs to, its number in it (from 1) and when it was sent."""

    stream: bytes
    number: int
    sent_ms: int

    def encode(self) -> bytes:
        """The stamp as bytes (:data:`STAMP_BYTES` of them, starting with :data:`PREFIX`)."""
        return _LAYOUT.pack(PREFIX, self.stream, self.number, self.sent_ms)

    @staticmethod
    def decode(data: bytes) -> FrameStamp | None:
        """The stamp in ``data``, or None if ``data`` is not one."""
        if len(data) != STAMP_BYTES or data[:2] != PREFIX:
            return None
        _, stream, number, sent_ms = _LAYOUT.unpack(data)
        return FrameStamp(stream, number, sent_ms)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class FrameStream:
    """The stamps of one sender's frames to one peer, numbered from 1."""

    def __init__(self, clock_ms: Callable[[], int] = _now_ms) -> None:
        self.id = os.urandom(8)
        self._number = 0
        self._clock_ms = clock_ms

    def next(self) -> FrameStamp:
        """The stamp of the next frame."""
        self._number += 1
        return FrameStamp(self.id, self._number, self._clock_ms())


class ReplayGuard:
    """Accepts each stamped frame once while it is fresh (see the module docstring).

    ``accept_unstamped`` lets frames without a stamp through (from members of a release
    before stamps, during a rolling upgrade); replays of those cannot be told apart.
    At most ``max_streams`` streams are tracked; a frame of a new stream beyond that is
    refused (members open a few streams each; only a flood of new ones reaches it).
    """

    def __init__(
        self,
        max_age_s: float = 60.0,
        accept_unstamped: bool = False,
        max_streams: int = 65536,
        clock_ms: Callable[[], int] = _now_ms,
    ) -> None:
        if not max_age_s > 0:
            raise ValueError("max_age_s must be > 0")
        self.max_age_ms = int(max_age_s * 1000)
        self.accept_unstamped = accept_unstamped
        self.max_streams = max_streams
        self._clock_ms = clock_ms
        self._streams: dict[bytes, list[int]] = {}  # stream -> [newest, seen bits, last used]
        self._next_sweep = clock_ms() + self.max_age_ms

    @property
    def streams(self) -> int:
        """Streams tracked now."""
        return len(self._streams)

    def admit(self, stamp: FrameStamp | None) -> None:
        """Record a frame as seen; raise :class:`ProtocolError` (saying why) to refuse it."""
        if stamp is None:
            if self.accept_unstamped:
                return
            raise ProtocolError(
                "unstamped frame: a member of a release before frame stamps? (allow such "
                "frames during a rolling upgrade with RECKON_ACCEPT_UNSTAMPED_FRAMES=1)"
            )
        now = self._clock_ms()
        age = now - stamp.sent_ms
        if abs(age) > self.max_age_ms:
            raise ProtocolError(
                f"stale frame: sent {age / 1000:+.1f} s from this host's clock, more than "
                f"{self.max_age_ms / 1000:g} s (a replay, or the members' clocks disagree)"
            )
        if now >= self._next_sweep:
            self._sweep(now)
        state = self._streams.get(stamp.stream)
        number = stamp.number
        if state is None:
            if len(self._streams) >= self.max_streams:
                self._sweep(now)
                if len(self._streams) >= self.max_streams:
                    raise ProtocolError(f"more than {self.max_streams} frame streams")
            self._streams[stamp.stream] = [number, 1, now]
            return
        newest, seen, _ = state
        if number > newest:
            shift = number - newest
            state[0] = number
            state[1] = ((seen << shift) | 1) & _MASK if shift < WINDOW else 1
        else:
            behind = newest - number
            if behind >= WINDOW or (seen >> behind) & 1:
                raise ProtocolError(f"replayed frame (number {number} of its stream)")
            state[1] = seen | (1 << behind)
        state[2] = now

    def _sweep(self, now: int) -> None:
        """Forget streams quiet for three times the age limit: every frame of theirs that
        was accepted is stale by then, so none can come back through."""
        cutoff = now - 3 * self.max_age_ms
        for stream in [s for s, state in self._streams.items() if state[2] < cutoff]:
            del self._streams[stream]
        self._next_sweep = now + self.max_age_ms
