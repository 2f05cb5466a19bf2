"""Free loopback ports for tests."""

import socket


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_tcp_address() -> str:
    """An nng TCP address on loopback with a free port."""
    return f"tcp://127.0.0.1:{free_port()}"
