"""The actor base: handlers chosen by message type, one message at a time by default.

Subclass :class:`Actor` and mark async methods with :func:`handles`::

    class Greeter(Actor):
        @handles(Ping)
        async def ping(self, msg: Ping, sender: str) -> Pong:
            return Pong(msg.payload)

A handler's return value is the reply to an ask (``None`` replies an empty acknowledgement);
for a tell it is discarded. A handler that raises makes the runtime reply an error to the
asker and restart the actor (see :mod:`actors.supervision`).

A read-only message type that is cheaper to answer many at a time can have a batch handler
instead, marked with :func:`handles_batch`: when several such messages wait in the mailbox
one after another, the runtime hands them over together (see :class:`BatchHandler`).
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


def handles_batch(message_type: type[Message], max_batch: int = 64, *,
                  size: Callable[[Any], int] | None = None,
                  max_size: int = 0) -> Callable[[H], H]:
    """Mark an async method as the batch handler of ``message_type``.

    The method takes ``list[tuple[message, sender]]`` (at least one entry, at most
    ``max_batch``, in mailbox order, all of ``message_type``) and returns one result per
    entry, in the same order: a reply message (``None`` for an empty acknowledgement), a
    :class:`~actors.errors.Refused` to answer that entry with an error, or another exception
    instance to answer it as a failed handler (without restarting the actor). If the method
    itself raises, every entry is answered with an error and the actor restarts.

    With ``size`` (a message's weight, e.g. its item count) a batch also stops growing
    before its total weight would pass ``max_size``; a message heavier than that alone is a
    batch of its own. Replies go out when the handler returns, so this bounds how long the
    first message of a batch waits for the last: big messages are answered one by one,
    and the asker can work on one answer while the next is computed.
    """
    if max_batch < 1:
        raise ValueError("max_batch must be at least 1")
    if size is not None and max_size < 1:
        raise ValueError("max_size must be at least 1 when size is given")

    def mark(fn: H) -> H:
        fn._reckon_handles_batch = BatchLimits(message_type, max_batch, size, max_size)  # type: ignore[attr-defined]
        return fn

    return mark


@dataclass(frozen=True, slots=True)
class BatchLimits:
    """How many messages (and how much weight) one call of a batch handler takes."""

    message_type: type[Message]
    max_batch: int
    size: Callable[[Any], int] | None = None
    max_size: int = 0


@dataclass(frozen=True, slots=True)
class BatchHandler:
    """A batch handler bound to its actor, with its limits."""

    handler: Callable[[list[tuple[Message, str]]], Awaitable[list[Any]]]
    limits: BatchLimits


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
    _batch_handlers: ClassVar[dict[str, tuple[str, BatchLimits]]] = {}

    system: ActorSystem
    name: str

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        handlers: dict[str, str] = {}
        batch_handlers: dict[str, tuple[str, BatchLimits]] = {}
        for klass in reversed(cls.__mro__):
            for attr, value in vars(klass).items():
                mtype = getattr(value, "_reckon_handles", None)
                if mtype is not None:
                    handlers[mtype.TYPE] = attr
                    batch_handlers.pop(mtype.TYPE, None)
                batch = getattr(value, "_reckon_handles_batch", None)
                if batch is not None:
                    batch_handlers[batch.message_type.TYPE] = (attr, batch)
                    handlers.pop(batch.message_type.TYPE, None)
        cls._handlers = handlers
        cls._batch_handlers = batch_handlers

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

    def batch_handler_for(self, type_name: str) -> BatchHandler | None:
        """The bound batch handler for a message type and its limits, or None."""
        entry = self._batch_handlers.get(type_name)
        return BatchHandler(getattr(self, entry[0]), entry[1]) if entry else None
