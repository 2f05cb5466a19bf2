"""The actor base: handlers chosen by message type, one message at a time by default.

Subclass :class:`Actor` and mark async methods with :func:`handles`::

    class Greeter(Actor):
        @handles(Ping)
        async def ping(self, msg: Ping, sender: str) -> Pong:
            return Pong(msg.payload)

A handler's return value is the reply to an ask (``None`` replies an empty acknowledgement);
for a tell it is discarded. A handler that raises makes the runtime reply an error to the
asker and restart the actor (see :mod:`actors.supervision`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from actors.message import Message
from actors.wire import Kind

if TYPE_CHECKING:
    from actors.system import ActorRef, ActorSystem

H = TypeVar("H", bound=Callable[..., Awaitable[Any]])


def handles(message_type: type[Message]) -> Callable[[H], H]:
    """Mark an async method as the handler of ``message_type``."""

    def mark(fn: H) -> H:
        fn._reckon_handles = message_type  # type: ignore[attr-defined]
        return fn

    return mark


@dataclass(frozen=True, slots=True)
class Delivery:
    """A message in a mailbox, with what is needed to answer it."""

    kind: Kind
    correlation_id: int
    sender: str
    message: Message


class Actor:
    """Base class of every actor.

    Class attributes tune the runtime: ``mailbox_size`` bounds the mailbox (a full mailbox is
    backpressure: asks get an ``overloaded`` error, tells are dropped and counted);
    ``max_concurrency`` > 1 lets a stateless actor run several handlers at once (a failing
    handler then answers an error but does not restart the actor).
    """

    mailbox_size: ClassVar[int] = 1024
    max_concurrency: ClassVar[int] = 1
    _handlers: ClassVar[dict[str, str]] = {}

    system: ActorSystem
    name: str

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        handlers: dict[str, str] = {}
        for klass in reversed(cls.__mro__):
            for attr, value in vars(klass).items():
                mtype = getattr(value, "_reckon_handles", None)
                if mtype is not None:
                    handlers[mtype.TYPE] = attr
        cls._handlers = handlers

    def bind(self, system: ActorSystem, name: str) -> None:
        """Called by the runtime before :meth:`started`."""
        self.system = system
        self.name = name

    @property
    def ref(self) -> ActorRef:
        """A reference to this actor, usable from anywhere in the cluster."""
        return self.system.ref(self.system.address, self.name)

    async def started(self) -> None:
        """Runs before the first message (and again after each restart)."""

    async def stopping(self) -> None:
        """Runs once after the mailbox is drained on a graceful stop."""

    def handler_for(self, type_name: str) -> Callable[[Message, str], Awaitable[Any]] | None:
        """The bound handler for a message type, or None."""
        attr = self._handlers.get(type_name)
        return getattr(self, attr) if attr else None
