"""The actor runtime's own exceptions.

Everything a peer can cause (a bad frame, an unknown actor, a timeout) is one of these, so
callers catch a small, known set instead of transport- or codec-specific errors.
"""

from __future__ import annotations


class ActorError(Exception):
    """Base class of the runtime's errors."""


class ProtocolError(ActorError):
    """A frame or envelope that cannot be decoded, authenticated or validated."""


class AskTimeout(ActorError):
    """No reply arrived within the ask's timeout."""


class RemoteError(ActorError):
    """The target answered an ask with an error reply.

    ``code`` is a short machine-readable reason (``"unknown_actor"``, ``"overloaded"``,
    ``"handler_failed"``, ``"bad_request"``, ``"unavailable"`` ...), ``message`` is for humans.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class Refused(ActorError):
    """Raised by a handler to answer an ask with an error without being a failure.

    The asker gets a :class:`RemoteError` with this ``code``; the actor is not restarted.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
