"""Problem+json bodies for the errors Hypercorn answers itself.

A request whose line or headers are not valid HTTP/1.1 (400), or whose headers pass
Hypercorn's limit (431), never reaches the app: Hypercorn answers it and closes the
connection, with an empty body. :func:`install` makes those answers problem+json like every
other error of the API. It replaces one method of Hypercorn's HTTP/1.1 protocol, and does
nothing (with a warning) on a Hypercorn that lacks it.
"""

from __future__ import annotations

import logging
from itertools import chain
from typing import Any

import h11
from hypercorn.protocol import h11 as hypercorn_h11

from coordinator.jsonio import dumps
from coordinator.problems import problem_document

log = logging.getLogger("reckon.http")

_PROBLEMS = {
    400: ("malformed-request", "Malformed request",
          "the request line or headers are not valid HTTP/1.1"),
    431: ("headers-too-large", "Request header fields too large",
          "the request line and headers are larger than the server accepts "
          "({limit} bytes in all)"),
}


def problem_body(status: int, header_limit: int) -> bytes:
    """The problem+json body of a protocol error answered with ``status``."""
    slug, title, detail = _PROBLEMS.get(
        status, ("http-error", "HTTP error", "the request is not valid HTTP/1.1"))
    return dumps(problem_document(status, slug, title, detail.format(limit=header_limit)))


async def _send_error_response(self: Any, status_code: int) -> None:
    body = problem_body(status_code, self.config.h11_max_incomplete_size)
    headers = chain(
        [(b"content-type", b"application/problem+json"),
         (b"content-length", str(len(body)).encode()), (b"connection", b"close")],
        self.config.response_headers("h11"),
    )
    await self._send_h11_event(h11.Response(status_code=status_code, headers=list(headers)))
    await self._send_h11_event(h11.Data(data=body))
    await self._send_h11_event(h11.EndOfMessage())


def install() -> bool:
    """Answer Hypercorn's own protocol errors with problem+json; True if installed."""
    protocol = hypercorn_h11.H11Protocol
    if protocol.__dict__.get("_send_error_response") is _send_error_response:
        return True
    if not callable(protocol.__dict__.get("_send_error_response")):
        log.warning("this Hypercorn has no H11Protocol._send_error_response; its own 400 and "
                    "431 answers keep their empty bodies")
        return False
    protocol._send_error_response = _send_error_response  # type: ignore[method-assign]
    return True
