"""The nng transport: one inbox per process, one batching sender per peer.

Each process listens on its inbox (a Pull0 socket). To reach a peer it dials the peer's inbox
with a Push0 socket; nng reconnects by itself when the peer restarts. Outbound envelopes wait in
a bounded per-peer queue; the peer's sender task takes whatever is queued (up to the frame size
and batch limits) and sends it as one frame, so a busy link amortises per-frame costs while a
quiet one sends each message at once: no message waits for a batch to fill. Frames leave on
nng sends the event loop does not wait for (:mod:`actors.nng_send`).

Inbound frames are untrusted: anything that fails to decode or authenticate, or whose stamp
says it was seen before or is stale (:mod:`actors.frame_stamps`), is dropped and counted, and
never stops the receive loop. Each peer's frames go out stamped in a stream of their own.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.lowlevel
import pynng
from anyio.abc import TaskGroup, TaskStatus
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from actors.errors import ProtocolError
from actors.frame_stamps import FrameStamp, FrameStream, ReplayGuard
from actors.nng_send import DetachedSender
from actors.wire import (
    ENTRY_OVERHEAD,
    FRAME_OVERHEAD,
    Envelope,
    decode_frame,
    encode_envelope,
    encode_frame,
)

log = logging.getLogger("reckon.transport")

_DRAIN_LIMIT = 64
_RECEIVE_POLL = 0.25


@dataclass(frozen=True)
class TransportConfig:
    """Limits and timings of the transport (all bounded, all from configuration)."""

    max_frame_bytes: int = 8 * 1024 * 1024
    max_batch: int = 256
    peer_queue: int = 4096
    send_timeout_ms: int = 2000
    #: Frames nng may hold per peer while the connection is busy; sends beyond it wait in
    #: nng (see :mod:`actors.nng_send`) until they go out or ``send_timeout_ms`` passes.
    send_buffer: int = 64
    reconnect_min_ms: int = 50
    reconnect_max_ms: int = 1000
    #: A frame is accepted once, and only if sent at most this long ago by this host's
    #: clock, either way (:mod:`actors.frame_stamps`): members' clocks must agree that well.
    max_frame_age_s: float = 60.0
    #: Accept frames without a stamp, from a release before stamps (a rolling upgrade).
    accept_unstamped: bool = False
    #: An outgoing socket that has sent nothing for this long, and has nothing queued or in
    #: flight, is closed (a later send dials again). Live members talk every heartbeat, so
    #: this only closes sockets to peers that are gone or to one-off reply addresses.
    idle_close_s: float = 300.0

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> TransportConfig:
        """The defaults, with ``RECKON_MAX_FRAME_AGE`` (seconds) and
        ``RECKON_ACCEPT_UNSTAMPED_FRAMES`` (1 or 0) when set; ValueError on a bad value."""
        settings: dict[str, Any] = {}
        age = environ.get("RECKON_MAX_FRAME_AGE", "").strip()
        if age:
            try:
                settings["max_frame_age_s"] = float(age)
            except ValueError:
                settings["max_frame_age_s"] = math.nan
            if not 1 <= settings["max_frame_age_s"] <= 86400:
                raise ValueError(f"RECKON_MAX_FRAME_AGE must be seconds in [1, 86400], not {age!r}")
        unstamped = environ.get("RECKON_ACCEPT_UNSTAMPED_FRAMES", "").strip().lower()
        if unstamped:
            if unstamped not in ("1", "0", "true", "false", "yes", "no"):
                raise ValueError(
                    f"RECKON_ACCEPT_UNSTAMPED_FRAMES must be 1 or 0, not {unstamped!r}")
            settings["accept_unstamped"] = unstamped in ("1", "true", "yes")
        return cls(**settings)


@dataclass(frozen=True)
class TransportStatistics:
    """A snapshot of the transport's counters."""

    frames_in: int
    frames_out: int
    envelopes_in: int
    envelopes_out: int
    bytes_in: int
    bytes_out: int
    frames_dropped: int
    #: Of the frames dropped, those refused by their stamp (replayed, stale or unstamped).
    frames_refused: int
    envelopes_dropped: int
    send_dropped: int
    peers: int
    peers_connected: int


@dataclass
class _Counters:
    frames_in: int = 0
    frames_out: int = 0
    envelopes_in: int = 0
    envelopes_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    frames_dropped: int = 0
    frames_refused: int = 0
    envelopes_dropped: int = 0
    send_dropped: int = 0


@dataclass
class _Peer:
    address: str
    socket: pynng.Socket
    send: MemoryObjectSendStream[bytes]
    receive: MemoryObjectReceiveStream[bytes]
    sender: DetachedSender
    stream: FrameStream
    pipes: set[int] = field(default_factory=set)
    last_used: float = 0.0


class Transport:
    """Sends envelopes to peers' inboxes and hands envelopes arriving at ours to ``deliver``."""

    def __init__(self, listen: str, secret: bytes, config: TransportConfig | None = None) -> None:
        if not secret:
            raise ValueError("a cluster secret is required")
        self.address = listen
        self._secret = secret
        self._config = config or TransportConfig()
        self._peers: dict[str, _Peer] = {}
        self._counters = _Counters()
        self._tg: TaskGroup | None = None
        self._inbox: pynng.Socket | None = None
        self._guard = ReplayGuard(self._config.max_frame_age_s, self._config.accept_unstamped)

    async def run(
        self,
        deliver: Callable[[Envelope], None],
        *,
        task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Listen on the inbox and run the peer senders until cancelled.

        ``deliver`` is called synchronously for every good inbound envelope. On cancellation
        all sockets are closed; envelopes still queued for peers are dropped.
        """
        cfg = self._config
        inbox = pynng.Pull0(recv_max_size=cfg.max_frame_bytes + (1 << 20))
        try:
            inbox.listen(self.address)
        except pynng.NNGException as e:
            inbox.close()
            raise OSError(f"cannot listen on {self.address}: {e}") from e
        self._inbox = inbox
        try:
            async with anyio.create_task_group() as tg:
                self._tg = tg
                for peer in self._peers.values():
                    tg.start_soon(self._sender, peer)
                tg.start_soon(self._close_idle_peers)
                task_status.started()
                await self._receive_loop(inbox, deliver)
        finally:
            self._tg = None
            inbox.close()
            for peer in self._peers.values():
                peer.socket.close()
                self._counters.send_dropped += peer.sender.close()
            self._peers.clear()

    async def _receive_loop(self, inbox: pynng.Socket, deliver: Callable[[Envelope], None]) -> None:
        # Driven by nng's receive descriptor, which is readable while frames wait, and
        # non-blocking receives: one wake-up drains every waiting frame, and no Python code
        # runs on nng's threads. (``arecv`` would run a callback on an nng thread per frame,
        # which must take the GIL from the event loop and then wake it: measured at 1,600
        # requests/s, the node's CPU per request was 0.34 ms that way and 0.18 ms this way.)
        # nng's descriptor has missed wake-ups in the past (nng #1368), so the loop also
        # looks every ``_RECEIVE_POLL`` seconds. A checkpoint every ``_DRAIN_LIMIT`` frames
        # keeps a flood from starving the process's other tasks.
        c = self._counters
        fd = inbox.recv_fd
        drained = 0
        while True:
            try:
                frame = inbox.recv(block=False)
            except pynng.TryAgain:
                drained = 0
                with anyio.move_on_after(_RECEIVE_POLL):
                    await anyio.wait_readable(fd)
                continue
            except RuntimeError:  # pynng cannot unpack an empty message (NULL data)
                frame = b""
            drained += 1
            if drained >= _DRAIN_LIMIT:
                drained = 0
                await anyio.lowlevel.checkpoint()
            c.frames_in += 1
            c.bytes_in += len(frame)
            try:
                decoded = decode_frame(frame, self._secret, self._config.max_frame_bytes,
                                       self._admit)  # fmt: skip
            except ProtocolError as e:
                c.frames_dropped += 1
                log.warning("dropped frame: %s", e)
                continue
            c.envelopes_dropped += decoded.dropped
            c.envelopes_in += len(decoded.envelopes)
            for env in decoded.envelopes:
                try:
                    deliver(env)
                except Exception:  # one envelope must never end the receive loop
                    c.envelopes_dropped += 1
                    log.exception("delivering %s to %r failed", env.type, env.target[:200])

    def _admit(self, stamp: FrameStamp | None) -> None:
        try:
            self._guard.admit(stamp)
        except ProtocolError:
            self._counters.frames_refused += 1
            raise

    def send(self, address: str, env: Envelope) -> bool:
        """Queue ``env`` for the peer at ``address``; False if dropped (queue full, or an
        address nng cannot dial).

        Encoding happens here, in the caller's task, so an unencodable or oversized message
        fails for its sender (``TypeError`` / :class:`ProtocolError`) instead of a whole batch.
        """
        data = encode_envelope(env)
        if len(data) + FRAME_OVERHEAD + ENTRY_OVERHEAD > self._config.max_frame_bytes:
            raise ProtocolError(
                f"message of {len(data)} bytes exceeds the frame limit "
                f"{self._config.max_frame_bytes}"
            )
        peer = self._peers.get(address) or self._open_peer(address)
        if peer is None:
            self._counters.send_dropped += 1
            return False
        peer.last_used = time.monotonic()
        try:
            peer.send.send_nowait(data)
        except anyio.WouldBlock:
            self._counters.send_dropped += 1
            return False
        return True

    def is_connected(self, address: str) -> bool:
        """Whether an nng pipe to ``address`` is up right now (False if never dialled)."""
        peer = self._peers.get(address)
        return bool(peer and peer.pipes)

    def _open_peer(self, address: str) -> _Peer | None:
        """A sender to ``address``, or None if nng cannot dial it (not an address)."""
        cfg = self._config
        sock = pynng.Push0(
            send_timeout=cfg.send_timeout_ms,
            reconnect_time_min=cfg.reconnect_min_ms,
            reconnect_time_max=cfg.reconnect_max_ms,
        )
        if cfg.send_buffer:
            sock.send_buffer_size = cfg.send_buffer
        send, receive = anyio.create_memory_object_stream[bytes](cfg.peer_queue)
        peer = _Peer(address, sock, send, receive, DetachedSender(sock, cfg.send_timeout_ms),
                     FrameStream())
        # nng calls these from its own threads; a set add/discard is atomic under the GIL.
        # Keyed by nng's pipe id: the Python wrapper objects are not stable identities.
        sock.add_post_pipe_connect_cb(lambda pipe: peer.pipes.add(pipe.id))
        sock.add_post_pipe_remove_cb(lambda pipe: peer.pipes.discard(pipe.id))
        try:
            sock.dial(address, block=False)
        except pynng.NNGException as e:
            sock.close()
            log.warning("cannot dial %r: %s", address[:200], e)
            return None
        self._peers[address] = peer
        if self._tg is not None:
            self._tg.start_soon(self._sender, peer)
        return peer

    async def _close_idle_peers(self) -> None:
        idle = self._config.idle_close_s
        while True:
            await anyio.sleep(max(idle / 4, 0.01))
            self.close_idle_peers(time.monotonic() - idle)

    def close_idle_peers(self, unused_since: float) -> int:
        """Close the outgoing sockets that sent nothing after ``unused_since`` (a
        ``time.monotonic()`` reading) and hold no queued or unfinished send; returns how
        many were closed. Their sender tasks end; a later send opens a new socket."""
        closed = 0
        for address, peer in list(self._peers.items()):
            if peer.last_used > unused_since:
                continue
            self._count_failed(peer, peer.sender.reclaim())
            if peer.sender.in_flight or peer.receive.statistics().current_buffer_used:
                continue
            del self._peers[address]
            peer.send.close()
            peer.socket.close()
            self._counters.send_dropped += peer.sender.close()
            closed += 1
        if closed:
            log.info("closed idle peer sockets count=%d", closed)
        return closed

    async def _sender(self, peer: _Peer) -> None:
        cfg = self._config
        budget = cfg.max_frame_bytes - FRAME_OVERHEAD
        async with peer.receive:
            async for first in peer.receive:
                batch = [first]
                size = len(first) + ENTRY_OVERHEAD
                while len(batch) < cfg.max_batch:
                    try:
                        nxt = peer.receive.receive_nowait()
                    except (anyio.WouldBlock, anyio.EndOfStream):
                        break
                    if size + len(nxt) + ENTRY_OVERHEAD > budget:
                        # Too big to join this frame: it leads the next one.
                        await self._send_frame(peer, batch)
                        batch, size = [], 0
                    batch.append(nxt)
                    size += len(nxt) + ENTRY_OVERHEAD
                if batch:
                    await self._send_frame(peer, batch)

    async def _send_frame(self, peer: _Peer, batch: list[bytes]) -> None:
        c = self._counters
        frame = encode_frame(batch, self._secret, peer.stream.next())
        self._count_failed(peer, peer.sender.reclaim())
        if not peer.sender.submit(frame, len(batch)):
            # Too many sends in flight (the peer is slow or down): wait for nng to take it.
            try:
                await peer.socket.asend(frame)
            except pynng.Timeout:
                self._count_failed(peer, len(batch))
                return
            except pynng.Closed:
                c.send_dropped += len(batch)
                return
        c.frames_out += 1
        c.envelopes_out += len(batch)
        c.bytes_out += len(frame)

    def _count_failed(self, peer: _Peer, envelopes: int) -> None:
        if envelopes:
            self._counters.send_dropped += envelopes
            log.warning("peer did not take frames in time peer=%s dropped=%d", peer.address,
                        envelopes)

    def statistics(self) -> TransportStatistics:
        """A frozen snapshot of the counters."""
        c = self._counters
        return TransportStatistics(
            frames_in=c.frames_in,
            frames_out=c.frames_out,
            envelopes_in=c.envelopes_in,
            envelopes_out=c.envelopes_out,
            bytes_in=c.bytes_in,
            bytes_out=c.bytes_out,
            frames_dropped=c.frames_dropped,
            frames_refused=c.frames_refused,
            envelopes_dropped=c.envelopes_dropped,
            send_dropped=c.send_dropped,
            peers=len(self._peers),
            peers_connected=sum(1 for p in self._peers.values() if p.pipes),
        )
