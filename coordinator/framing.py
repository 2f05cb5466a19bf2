"""Refusing requests whose body is framed two ways, before routing and authentication.

RFC 9112 section 6.3: a request with both ``Content-Length`` and ``Transfer-Encoding``
"ought to be handled as an error". A proxy in front of the coordinator may frame such a
body by one header while the server frames it by the other, so that part of one request is
read as the start of the next (request smuggling); h11 would read it as chunked. Such a
request gets a 400 and its connection is closed, whatever its route or credentials.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from coordinator.problems import MalformedBody, problem


class RefuseAmbiguousFraming:
    """ASGI middleware: a 400 for any HTTP request carrying both framing headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            length = chunked = False
            for name, _ in scope["headers"]:
                if name == b"content-length":
                    length = True
                elif name == b"transfer-encoding":
                    chunked = True
            if length and chunked:
                response = problem(
                    MalformedBody.status, MalformedBody.slug, MalformedBody.title,
                    "send either Content-Length or Transfer-Encoding, not both",
                    scope.get("path", ""), headers={"Connection": "close"})  # fmt: skip
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
