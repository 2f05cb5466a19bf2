"""The actor system: a registry of supervised actors behind one transport inbox.

References (:class:`ActorRef`) look the same for local and remote actors: a ref is an inbox
address plus an actor name. A message to a local ref skips the wire; a message to a remote ref
is encoded and sent through the transport. Every ask has a timeout.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any

import anyio
from anyio.abc import TaskGroup, TaskStatus
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from actors.actor import Actor, Delivery
from actors.errors import AskTimeout, ProtocolError, Refused, RemoteError
from actors.message import Message, decode_message
from actors.messages import Ack
from actors.supervision import RestartPolicy, RestartTracker
from actors.transport import Transport, TransportStatistics
from actors.wire import Envelope, Kind

log = logging.getLogger("reckon.actors")

ActorFactory = Callable[[], Actor]


@dataclass(frozen=True, slots=True)
class ActorRef:
    """Where an actor lives (its process's inbox address) and its name there."""

    system: ActorSystem = field(compare=False, repr=False)
    address: str
    name: str

    def tell(self, msg: Message) -> bool:
        """Send without waiting for an answer; False if it was dropped (queue or mailbox full)."""
        return self.system.tell(self.address, self.name, msg)

    async def ask(self, msg: Message, timeout: float = 5.0) -> Message:
        """Send and wait for the reply. Raises :class:`AskTimeout` or :class:`RemoteError`."""
        return await self.system.ask(self.address, self.name, msg, timeout)


class PendingAsk:
    """An ask in flight (see :meth:`ActorSystem.start_ask`): ``done`` once its reply or
    error is in ``message`` / ``error``; ``wake`` is set at that moment."""

    __slots__ = ("cid", "done", "error", "message", "wake")

    def __init__(self, cid: int, wake: anyio.Event) -> None:
        self.cid = cid
        self.wake = wake
        self.done = False
        self.message: Message | None = None
        self.error: Exception | None = None


@dataclass
class _Cell:
    name: str
    factory: ActorFactory
    concurrency: int
    send: MemoryObjectSendStream[Delivery]
    receive: MemoryObjectReceiveStream[Delivery]
    tracker: RestartTracker
    done: anyio.Event = field(default_factory=anyio.Event)
    handled: int = 0
    failed: int = 0
    #: A delivery taken from the mailbox while gathering a batch, to be handled next.
    held: Delivery | None = None
    #: Set by :meth:`ActorSystem.stop` (or a drain): no restart, and ``started()`` is cut short.
    stopped: bool = False
    #: The scope ``started()`` runs in, while it runs.
    start_scope: anyio.CancelScope | None = None


@dataclass(frozen=True)
class SystemStatistics:
    """A snapshot of the actor system and its transport."""

    actors: int
    restarts: int
    handled: int
    handler_failures: int
    overloaded: int
    unknown_target: int
    bad_messages: int
    late_replies: int
    pending_asks: int
    mailbox_depth_max: int
    transport: TransportStatistics


@dataclass
class _Counters:
    overloaded: int = 0
    unknown_target: int = 0
    bad_messages: int = 0
    late_replies: int = 0
    restarts_of_stopped: int = 0
    handled_of_stopped: int = 0
    failed_of_stopped: int = 0


class ActorSystem:
    """Hosts actors in one process and connects them to the cluster through a transport.

    ``spawn_missing`` (optional) is asked for a factory when a message arrives for an actor
    that does not exist, with the actor's name and the message; it returns None to refuse
    (the asker gets ``unknown_actor``).
    """

    def __init__(
        self,
        transport: Transport,
        *,
        restart_policy: RestartPolicy | None = None,
        spawn_missing: Callable[[str, Message], ActorFactory | None] | None = None,
    ) -> None:
        self.transport = transport
        self.address = transport.address
        self._policy = restart_policy or RestartPolicy()
        self._spawn_missing = spawn_missing
        self._cells: dict[str, _Cell] = {}
        self._pending: dict[int, PendingAsk] = {}
        self._ids = itertools.count(1)
        self._tg: TaskGroup | None = None
        self._draining = False
        self._c = _Counters()

    # ---- lifecycle --------------------------------------------------------------------------

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Run the transport and every actor until cancelled."""
        async with anyio.create_task_group() as tg:
            self._tg = tg
            await tg.start(self.transport.run, self._on_envelope)
            task_status.started()
            await anyio.sleep_forever()

    async def drain(self, timeout: float) -> bool:
        """Graceful stop: accept no new messages, let every actor finish its mailbox.

        Returns True if all actors finished within ``timeout`` seconds. The caller cancels
        :meth:`run` afterwards.
        """
        self._draining = True
        cells = list(self._cells.values())
        for cell in cells:
            self._stop_cell(cell)
        with anyio.move_on_after(timeout):
            for cell in cells:
                await cell.done.wait()
            return True
        return False

    @property
    def draining(self) -> bool:
        """True once :meth:`drain` has begun."""
        return self._draining

    # ---- actors -----------------------------------------------------------------------------

    def spawn(self, name: str, factory: ActorFactory) -> ActorRef:
        """Start a supervised actor under ``name`` (which must be free)."""
        if self._tg is None:
            raise RuntimeError("the actor system is not running")
        if name in self._cells:
            raise ValueError(f"an actor named {name!r} exists already")
        first = factory()  # the first instance also tells the mailbox size and concurrency
        send, receive = anyio.create_memory_object_stream[Delivery](type(first).mailbox_size)
        cell = _Cell(
            name, factory, type(first).max_concurrency, send, receive, RestartTracker(self._policy)
        )
        self._cells[name] = cell
        self._tg.start_soon(self._supervise, cell, first)
        return self.ref(self.address, name)

    def start_soon(self, fn: Callable[..., Coroutine[Any, Any, Any]], *args: Any) -> None:
        """Run ``fn(*args)`` as a background task of the system (cancelled when it stops).

        For work an actor starts but does not wait for (e.g. a refit in a worker thread);
        the task must handle its own exceptions.
        """
        if self._tg is None:
            raise RuntimeError("the actor system is not running")
        self._tg.start_soon(fn, *args)

    def stop(self, name: str) -> None:
        """Stop an actor gracefully: it handles what is queued, then ends.

        An actor still in ``started()`` (e.g. loading its state) stops loading at once and
        answers what is queued with ``unavailable``, so askers go elsewhere; an actor that
        failed is not restarted.
        """
        cell = self._cells.get(name)
        if cell is not None:
            self._stop_cell(cell)

    @staticmethod
    def _stop_cell(cell: _Cell) -> None:
        cell.stopped = True
        cell.send.close()
        if cell.start_scope is not None:
            cell.start_scope.cancel()

    def has_actor(self, name: str) -> bool:
        """Whether an actor of that name is running here."""
        return name in self._cells

    def actor_names(self) -> list[str]:
        """Names of the actors running here."""
        return list(self._cells)

    def ref(self, address: str, name: str) -> ActorRef:
        """A reference to actor ``name`` in the process whose inbox is ``address``."""
        return ActorRef(self, address, name)

    async def _supervise(self, cell: _Cell, first: Actor) -> None:
        actor = first
        try:
            while True:
                actor.bind(self, cell.name)
                cell.tracker.started()
                try:
                    with self._stoppable(cell) as scope:
                        await actor.started()
                    if scope.cancelled_caught:
                        self._refuse_queued(cell, f"{cell.name!r} stopped before it was ready")
                        return
                    if cell.concurrency > 1:
                        await self._serve_concurrently(actor, cell)
                    else:
                        await self._serve_serially(actor, cell)
                    await actor.stopping()
                    return
                except Exception:
                    delay = cell.tracker.failed()
                    log.exception(
                        "actor failed actor=%s address=%s restarts=%d backoff=%.3f",
                        cell.name,
                        self.address,
                        cell.tracker.restarts,
                        delay,
                    )
                    with self._stoppable(cell):  # a stop ends the wait, or skips it
                        await anyio.sleep(delay)
                    if cell.stopped:  # nobody wants it any more: no restart
                        self._refuse_queued(cell, f"{cell.name!r} stopped")
                        return
                    actor = cell.factory()
        finally:
            if self._cells.get(cell.name) is cell:
                del self._cells[cell.name]
            self._c.restarts_of_stopped += cell.tracker.restarts
            self._c.handled_of_stopped += cell.handled
            self._c.failed_of_stopped += cell.failed
            cell.done.set()

    @staticmethod
    @contextlib.contextmanager
    def _stoppable(cell: _Cell) -> Iterator[anyio.CancelScope]:
        """A scope that :meth:`stop` cancels (at once if the cell is stopped already)."""
        with anyio.CancelScope() as scope:
            cell.start_scope = scope
            if cell.stopped:
                scope.cancel()
            try:
                yield scope
            finally:
                cell.start_scope = None

    def _refuse_queued(self, cell: _Cell, why: str) -> None:
        """Answer every ask still in a stopped actor's mailbox with ``unavailable``."""
        queued = [cell.held] if cell.held is not None else []
        cell.held = None
        while True:
            try:
                queued.append(cell.receive.receive_nowait())
            except (anyio.WouldBlock, anyio.EndOfStream):
                break
        for d in queued:
            if d.kind is Kind.ASK:
                self._reply_error(d.sender, d.correlation_id, "unavailable", why)

    async def _serve_serially(self, actor: Actor, cell: _Cell) -> None:
        """One message at a time, in mailbox order; consecutive messages of a type with a
        batch handler are handed over together."""
        while True:
            delivery, cell.held = cell.held, None
            if delivery is None:
                try:
                    delivery = await cell.receive.receive()
                except anyio.EndOfStream:
                    return
            batch_handler = actor.batch_handler_for(delivery.message.TYPE)
            if batch_handler is None:
                await self._handle(actor, cell, delivery, reraise=True)
                continue
            limits = batch_handler.limits
            batch = [delivery]
            weight = limits.size(delivery.message) if limits.size is not None else 0
            while len(batch) < limits.max_batch:
                try:
                    more = cell.receive.receive_nowait()
                except (anyio.WouldBlock, anyio.EndOfStream):
                    break
                if more.message.TYPE != delivery.message.TYPE:
                    cell.held = more
                    break
                if limits.size is not None:
                    weight += limits.size(more.message)
                    if weight > limits.max_size:
                        cell.held = more
                        break
                batch.append(more)
            await self._handle_batch(cell, batch_handler.handler, batch, reraise=True)

    async def _handle_batch(self, cell: _Cell,
                            handler: Callable[[list[tuple[Message, str]]], Any],
                            batch: list[Delivery], *, reraise: bool) -> None:
        try:
            results = await handler([(d.message, d.sender) for d in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"batch handler of {cell.name} answered {len(results)} "
                                   f"results for {len(batch)} messages")
        except Exception as e:
            cell.failed += len(batch)
            for d in batch:
                if d.kind is Kind.ASK:
                    self._reply_error(d.sender, d.correlation_id, "handler_failed",
                                      f"{type(e).__name__}: {e}")
            if reraise:
                raise
            log.exception("batch handler failed actor=%s type=%s", cell.name,
                          batch[0].message.TYPE)
            return
        for d, result in zip(batch, results, strict=True):
            if isinstance(result, Refused):
                cell.handled += 1
                if d.kind is Kind.ASK:
                    self._reply_error(d.sender, d.correlation_id, result.code, result.message)
            elif isinstance(result, Exception):
                cell.failed += 1
                if d.kind is Kind.ASK:
                    self._reply_error(d.sender, d.correlation_id, "handler_failed",
                                      f"{type(result).__name__}: {result}")
            else:
                cell.handled += 1
                if d.kind is Kind.ASK:
                    self._reply(d.sender, d.correlation_id,
                                result if result is not None else Ack())

    async def _serve_concurrently(self, actor: Actor, cell: _Cell) -> None:
        slots = anyio.Semaphore(cell.concurrency)

        async def one(delivery: Delivery) -> None:
            try:
                await self._handle(actor, cell, delivery, reraise=False)
            finally:
                slots.release()

        async with anyio.create_task_group() as tg:
            async for delivery in cell.receive:
                await slots.acquire()
                tg.start_soon(one, delivery)

    async def _handle(self, actor: Actor, cell: _Cell, d: Delivery, *, reraise: bool) -> None:
        handler = actor.handler_for(d.message.TYPE)
        if handler is None and (batch_handler := actor.batch_handler_for(d.message.TYPE)):
            await self._handle_batch(cell, batch_handler.handler, [d], reraise=reraise)
            return
        if handler is None:
            cell.failed += 1
            if d.kind is Kind.ASK:
                self._reply_error(
                    d.sender,
                    d.correlation_id,
                    "unhandled",
                    f"{cell.name} does not handle {d.message.TYPE}",
                )
            return
        try:
            result = await handler(d.message, d.sender)
        except Refused as e:
            cell.handled += 1
            if d.kind is Kind.ASK:
                self._reply_error(d.sender, d.correlation_id, e.code, e.message)
            return
        except Exception as e:
            cell.failed += 1
            if d.kind is Kind.ASK:
                self._reply_error(
                    d.sender, d.correlation_id, "handler_failed", f"{type(e).__name__}: {e}"
                )
            if reraise:
                raise
            log.exception("handler failed actor=%s type=%s", cell.name, d.message.TYPE)
            return
        cell.handled += 1
        if d.kind is Kind.ASK:
            self._reply(d.sender, d.correlation_id, result if result is not None else Ack())

    # ---- messaging --------------------------------------------------------------------------

    def tell(self, address: str, target: str, msg: Message) -> bool:
        """Fire-and-forget send; False if the message was dropped."""
        return self._send(address, Kind.TELL, 0, target, msg)

    async def ask(self, address: str, target: str, msg: Message, timeout: float) -> Message:
        """Send an ask and wait at most ``timeout`` seconds for its reply.

        Raises :class:`AskTimeout` on timeout and :class:`RemoteError` for an error reply (or
        when the message could not even be queued: ``overloaded``). On cancellation the
        pending reply is forgotten; a late reply is counted and dropped.
        """
        pending = self.start_ask(address, target, msg)
        try:
            try:
                with anyio.fail_after(timeout):
                    await pending.wake.wait()
            except TimeoutError:
                raise AskTimeout(
                    f"{msg.TYPE} to {target}@{address}: no reply in {timeout}s"
                ) from None
        finally:
            self.forget(pending)
        if pending.error is not None:
            raise pending.error
        assert pending.message is not None
        return pending.message

    def start_ask(self, address: str, target: str, msg: Message,
                  wake: anyio.Event | None = None) -> PendingAsk:
        """Send an ask without waiting: the reply lands in the returned :class:`PendingAsk`
        and sets its ``wake`` event (``wake`` may be shared by several asks, and replaced
        while waiting). The caller must :meth:`forget` it when done with it.

        Raises :class:`RemoteError` (``overloaded``) when the message cannot be queued.
        """
        cid = next(self._ids)
        pending = PendingAsk(cid, wake if wake is not None else anyio.Event())
        self._pending[cid] = pending
        if not self._send(address, Kind.ASK, cid, target, msg):
            del self._pending[cid]
            raise RemoteError("overloaded", f"cannot queue {msg.TYPE} for {target}@{address}")
        return pending

    def forget(self, pending: PendingAsk) -> None:
        """Stop waiting for an ask's reply; a reply that comes later is counted as late."""
        self._pending.pop(pending.cid, None)

    def _send(self, address: str, kind: Kind, cid: int, target: str, msg: Message) -> bool:
        if address == self.address:
            return self._deliver_local(kind, cid, self.address, target, msg)
        env = Envelope(kind, cid, self.address, target, msg.TYPE, msg.to_body())
        return self.transport.send(address, env)

    def _reply(self, address: str, cid: int, msg: Message) -> None:
        if address == self.address:
            self._resolve(cid, msg, None)
            return
        try:
            self.transport.send(
                address, Envelope(Kind.REPLY, cid, self.address, "", msg.TYPE, msg.to_body())
            )
        except (ProtocolError, TypeError) as e:
            # The reply itself cannot travel (too large, unencodable): say so instead.
            self._reply_error(address, cid, "reply_failed", str(e))

    def _reply_error(self, address: str, cid: int, code: str, message: str) -> None:
        if address == self.address:
            self._resolve(cid, None, RemoteError(code, message))
            return
        body = {"code": code, "message": message[:2000]}
        self.transport.send(address, Envelope(Kind.ERROR, cid, self.address, "", "error", body))

    def _resolve(self, cid: int, msg: Message | None, error: Exception | None) -> None:
        pending = self._pending.get(cid)
        if pending is None:
            self._c.late_replies += 1
            return
        pending.message, pending.error = msg, error
        pending.done = True
        pending.wake.set()

    def _on_envelope(self, env: Envelope) -> None:
        """Called by the transport for every inbound envelope (from an untrusted peer)."""
        if env.kind is Kind.REPLY or env.kind is Kind.ERROR:
            if env.kind is Kind.ERROR:
                body: Any = env.body if isinstance(env.body, dict) else {}
                code, text = body.get("code"), body.get("message")
                self._resolve(
                    env.correlation_id, None, RemoteError(str(code or "error"), str(text or ""))
                )
                return
            try:
                self._resolve(env.correlation_id, decode_message(env.type, env.body), None)
            except ProtocolError as e:
                self._c.bad_messages += 1
                self._resolve(env.correlation_id, None, e)
            return
        try:
            msg = decode_message(env.type, env.body)
        except ProtocolError as e:
            self._c.bad_messages += 1
            log.warning("dropped message from=%s target=%s: %s", env.sender, env.target, e)
            if env.kind is Kind.ASK:
                self._reply_error(env.sender, env.correlation_id, "bad_request", str(e))
            return
        self._deliver_local(env.kind, env.correlation_id, env.sender, env.target, msg)

    def _deliver_local(self, kind: Kind, cid: int, sender: str, target: str, msg: Message) -> bool:
        cell = self._cells.get(target)
        if cell is None and self._spawn_missing is not None and not self._draining:
            factory = self._spawn_missing(target, msg)
            if factory is not None:
                self.spawn(target, factory)
                cell = self._cells[target]
        if cell is None:
            self._c.unknown_target += 1
            if kind is Kind.ASK:
                code = "unavailable" if self._draining else "unknown_actor"
                self._reply_error(sender, cid, code, f"no actor {target!r} at {self.address}")
            return kind is Kind.ASK
        try:
            cell.send.send_nowait(Delivery(kind, cid, sender, msg))
        except anyio.WouldBlock:
            self._c.overloaded += 1
            if kind is Kind.ASK:
                self._reply_error(sender, cid, "overloaded", f"mailbox of {target!r} is full")
                return True
            return False
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            self._c.unknown_target += 1
            if kind is Kind.ASK:
                self._reply_error(sender, cid, "unavailable", f"{target!r} is stopping")
                return True
            return False
        return True

    # ---- introspection ----------------------------------------------------------------------

    def statistics(self) -> SystemStatistics:
        """A frozen snapshot of the system's counters."""
        cells = list(self._cells.values())
        c = self._c
        return SystemStatistics(
            actors=len(cells),
            restarts=c.restarts_of_stopped + sum(x.tracker.restarts for x in cells),
            handled=c.handled_of_stopped + sum(x.handled for x in cells),
            handler_failures=c.failed_of_stopped + sum(x.failed for x in cells),
            overloaded=c.overloaded,
            unknown_target=c.unknown_target,
            bad_messages=c.bad_messages,
            late_replies=c.late_replies,
            pending_asks=len(self._pending),
            mailbox_depth_max=max(
                (x.send.statistics().current_buffer_used for x in cells), default=0
            ),
            transport=self.transport.statistics(),
        )
