"""A tiny HTTP/1.1 server that answers every request with ``{}``, optionally after a delay.

It measures the load generator itself (``reckon bench --echo-server`` runs it in its own
process so it has its own core), and the tests use a slow one to check that the generator
really is open-loop. Run it alone with ``python -m bench.harness.echo_server --port P``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


class EchoServer:
    """Answers ``{}`` to each request on a connection in turn, after ``delay`` seconds."""

    def __init__(self, delay: float = 0.0, idle_timeout: float = 30.0) -> None:
        self.delay = delay
        self.idle_timeout = idle_timeout
        self.requests = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one connection until the client closes it or it idles out."""
        try:
            while True:  # bounded by the idle timeout: a silent client is dropped
                async with asyncio.timeout(self.idle_timeout):
                    head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                if length:
                    await reader.readexactly(length)
                self.requests += 1
                if self.delay:
                    await asyncio.sleep(self.delay)
                writer.write(RESPONSE)
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError, ValueError):
            pass
        finally:
            writer.close()

    async def serve(self, port: int, started: asyncio.Event | None = None) -> None:
        """Listen on 127.0.0.1:``port`` until cancelled."""
        server = await asyncio.start_server(self.handle, "127.0.0.1", port, backlog=1024)
        async with server:
            if started is not None:
                started.set()
            await server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    """Serve until interrupted."""
    p = argparse.ArgumentParser(prog="python -m bench.harness.echo_server")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--delay", type=float, default=0.0, help="seconds before each response")
    args = p.parse_args(argv)
    try:
        asyncio.run(EchoServer(args.delay).serve(args.port))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
