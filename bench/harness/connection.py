"""One HTTP/1.1 keep-alive client connection on raw asyncio streams.

The load generator needs to send thousands of requests a second from one process, so it
writes pre-built request bytes (see :func:`bench.loadgen.build_request`) and parses only what
it needs from each response: the status, ``Content-Length`` or chunked framing, and whether
the server will close the connection.
"""

from __future__ import annotations

import asyncio


class ProtocolError(Exception):
    """The server's response could not be parsed as HTTP/1.1."""


#: How much of an error response's body is kept to say what went wrong.
ERROR_BODY_BYTES = 300


class Connection:
    """A lazily opened keep-alive connection to ``host:port``; reopened when the server closes.

    Not safe for concurrent use: one exchange at a time (the pool hands it to one worker).
    """

    #: The start of the last response's body when it was an error (4xx, 5xx) with a length.
    error_body = b""

    def __init__(self, host: str, port: int, connect_timeout: float = 2.0) -> None:
        self.host = host
        self.port = port
        self.connect_timeout = connect_timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self.opened = 0

    async def open(self) -> bool:
        """Connect now (before a measurement starts); False when that fails (the first
        exchange then tries again and reports the error)."""
        try:
            await self._ensure_open()
        except (OSError, TimeoutError):
            self.close()
            return False
        return True

    async def _ensure_open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._reader is not None and self._writer is not None and not self._reader.at_eof():
            return self._reader, self._writer
        self.close()
        async with asyncio.timeout(self.connect_timeout):
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        self.opened += 1
        return self._reader, self._writer

    async def exchange(self, request: bytes) -> int:
        """Send one request and read its whole response; return the status code.

        Raises :class:`ProtocolError`, :class:`ConnectionError`, :class:`OSError` or
        :class:`asyncio.IncompleteReadError` on failure; the caller should then :meth:`close`.
        Cancellation (e.g. a timeout) leaves the connection unusable: close it.
        """
        reader, writer = await self._ensure_open()
        self.error_body = b""
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1."):
            raise ProtocolError(f"not an HTTP/1.x response: {head[:40]!r}")
        try:
            status = int(head[9:12])
        except ValueError as e:
            raise ProtocolError(f"bad status line: {head[:40]!r}") from e
        length = -1
        chunked = close = False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif name == b"connection" and b"close" in value.lower():
                close = True
        if chunked:
            await _read_chunked(reader)
        elif length >= 0:
            body = await reader.readexactly(length)
            if status >= 400:
                self.error_body = body[:ERROR_BODY_BYTES]
        elif status not in (204, 304) and not 100 <= status < 200:
            await reader.read()  # body delimited by the server closing
            close = True
        if close:
            self.close()
        return status

    def close(self) -> None:
        """Drop the connection (the next exchange opens a new one)."""
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


async def _read_chunked(reader: asyncio.StreamReader) -> None:
    # A chunked body is bounded by the response itself; the caller's timeout bounds the wait.
    for _ in range(1_000_000):
        size_line = await reader.readuntil(b"\r\n")
        try:
            size = int(size_line.split(b";")[0], 16)
        except ValueError as e:
            raise ProtocolError(f"bad chunk size: {size_line[:20]!r}") from e
        if size == 0:
            await _skip_trailers(reader)
            return
        await reader.readexactly(size + 2)
    raise ProtocolError("too many chunks")


async def _skip_trailers(reader: asyncio.StreamReader) -> None:
    for _ in range(1000):
        if await reader.readuntil(b"\r\n") == b"\r\n":
            return
    raise ProtocolError("too many trailer lines")
