"""Sends that do not wait: nng's asynchronous send with no completion callback.

A synchronous nng send (``Socket.send``, blocking or not) hands the message to nng and then
sleeps until one of nng's threads reports it done: a thread hop and two context switches
per frame, tens of microseconds during which the event loop is stopped. ``pynng``'s
``asend`` avoids the wait but runs a Python callback on an nng thread per frame, which must
take the GIL from the event loop. Here each frame goes out on an nng aio object that has no
callback at all; the sender looks at its aio objects later (``nng_aio_busy`` does not
block), frees the message of any send that failed (timeout, socket closed) and reuses the
objects. Frames on one socket keep their order: nng queues sends in the order they come.

All calls happen on the event loop's thread; nng completes the aio objects on its own.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import pynng
from pynng._nng import ffi, lib


class DetachedSender:
    """Frames sent on ``socket`` without waiting; at most ``limit`` in flight."""

    def __init__(self, socket: pynng.Socket, timeout_ms: int, limit: int = 1024) -> None:
        self._socket = socket
        self._timeout_ms = timeout_ms
        self._limit = limit
        self._in_flight: deque[tuple[Any, int]] = deque()  # (aio, envelopes), oldest first
        self._spare: list[Any] = []

    @property
    def in_flight(self) -> int:
        """Sends handed to nng and not yet seen finished."""
        return len(self._in_flight)

    def reclaim(self) -> int:
        """Collect finished sends, oldest first; return the envelopes of those that failed."""
        failed = 0
        queue = self._in_flight
        while queue and not lib.nng_aio_busy(queue[0][0]):
            aio, envelopes = queue.popleft()
            if lib.nng_aio_result(aio) != 0:
                failed += envelopes
                msg = lib.nng_aio_get_msg(aio)
                if msg != ffi.NULL:  # not taken by nng: still ours to free
                    lib.nng_msg_free(msg)
                lib.nng_aio_set_msg(aio, ffi.NULL)
            self._spare.append(aio)
        return failed

    def submit(self, frame: bytes, envelopes: int) -> bool:
        """Hand ``frame`` to nng; False (nothing sent) when ``limit`` sends are in flight
        or nng cannot allocate the message."""
        if len(self._in_flight) >= self._limit:
            return False
        if self._spare:
            aio = self._spare.pop()
        else:
            box = ffi.new("nng_aio **")
            if lib.nng_aio_alloc(box, ffi.NULL, ffi.NULL) != 0:
                return False
            aio = box[0]
            lib.nng_aio_set_timeout(aio, self._timeout_ms)
        msg_box = ffi.new("nng_msg **")
        if lib.nng_msg_alloc(msg_box, len(frame)) != 0:
            self._spare.append(aio)
            return False
        msg = msg_box[0]
        ffi.memmove(lib.nng_msg_body(msg), frame, len(frame))
        lib.nng_aio_set_msg(aio, msg)
        lib.nng_send_aio(self._socket.socket, aio)
        self._in_flight.append((aio, envelopes))
        return True

    def close(self) -> int:
        """After the socket is closed (which ends every send): wait for the aio objects,
        free what nng did not take and the objects themselves. Returns the envelopes lost."""
        failed = 0
        while self._in_flight:
            aio, envelopes = self._in_flight.popleft()
            lib.nng_aio_wait(aio)
            if lib.nng_aio_result(aio) != 0:
                failed += envelopes
                msg = lib.nng_aio_get_msg(aio)
                if msg != ffi.NULL:
                    lib.nng_msg_free(msg)
            lib.nng_aio_free(aio)
        for aio in self._spare:
            lib.nng_aio_free(aio)
        self._spare.clear()
        return failed
