"""The actor system over real nng sockets: ask/tell, batching, supervision, backpressure."""

from __future__ import annotations

import anyio
import pynng
import pytest

from actors import (
    Actor,
    ActorSystem,
    AskTimeout,
    Refused,
    RemoteError,
    Transport,
    handles,
    handles_batch,
)
from actors.frame_stamps import FrameStream
from actors.messages import Ack, Crash, Ping, Pong
from actors.supervision import RestartPolicy
from actors.wire import Envelope, Kind, encode_envelope, encode_frame
from tests.ports import free_tcp_address

SECRET = b"s3cret"
BACKENDS = ["trio", "asyncio"]


class Echo(Actor):
    started_count = 0

    async def started(self) -> None:
        Echo.started_count += 1

    @handles(Ping)
    async def ping(self, msg: Ping, sender: str) -> Pong:
        return Pong(msg.payload)

    @handles(Crash)
    async def crash(self, msg: Crash, sender: str) -> None:
        raise RuntimeError(msg.reason)


class Slow(Actor):
    mailbox_size = 2

    @handles(Ping)
    async def ping(self, msg: Ping, sender: str) -> Pong:
        await anyio.sleep(0.5)
        return Pong(msg.payload)


class Counter(Actor):
    seen: list[str] = []

    @handles(Ping)
    async def ping(self, msg: Ping, sender: str) -> None:
        Counter.seen.append(msg.payload)


def make_system(**kw) -> ActorSystem:
    return ActorSystem(Transport(free_tcp_address(), SECRET), **kw)


async def _pair(tg, **kw):
    a, b = make_system(**kw), make_system(**kw)
    await tg.start(a.run)
    await tg.start(b.run)
    return a, b


@pytest.mark.parametrize("anyio_backend", BACKENDS)
@pytest.mark.anyio
async def test_remote_and_local_ask_look_the_same(anyio_backend):
    async with anyio.create_task_group() as tg:
        a, b = await _pair(tg)
        b.spawn("echo", Echo)
        remote = a.ref(b.address, "echo")
        local = b.ref(b.address, "echo")
        assert await remote.ask(Ping("x"), timeout=5) == Pong("x")
        assert await local.ask(Ping("y"), timeout=5) == Pong("y")
        tg.cancel_scope.cancel()


@pytest.mark.parametrize("anyio_backend", BACKENDS)
@pytest.mark.anyio
async def test_many_concurrent_asks_are_batched_into_fewer_frames(anyio_backend):
    async with anyio.create_task_group() as tg:
        a, b = await _pair(tg)
        b.spawn("echo", Echo)
        ref = a.ref(b.address, "echo")
        await ref.ask(Ping("warm"), timeout=5)
        before = a.transport.statistics()
        results: list[Pong] = []

        async def one(i: int) -> None:
            results.append(await ref.ask(Ping(str(i)), timeout=10))  # type: ignore[arg-type]

        async with anyio.create_task_group() as inner:
            for i in range(500):
                inner.start_soon(one, i)
        after = a.transport.statistics()
        assert sorted(int(r.payload) for r in results) == list(range(500))
        sent = after.envelopes_out - before.envelopes_out
        frames = after.frames_out - before.frames_out
        assert sent == 500
        assert frames < sent  # several messages shared a frame
        tg.cancel_scope.cancel()


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_failing_handler_gets_error_reply_and_actor_restarts(anyio_backend):
    Echo.started_count = 0
    async with anyio.create_task_group() as tg:
        a, b = await _pair(tg, restart_policy=RestartPolicy(min_backoff=0.01, max_backoff=0.05))
        b.spawn("echo", Echo)
        ref = a.ref(b.address, "echo")
        with pytest.raises(RemoteError) as err:
            await ref.ask(Crash("boom"), timeout=5)
        assert err.value.code == "handler_failed" and "boom" in err.value.message
        # The restarted actor answers again; the process is intact.
        assert await ref.ask(Ping("after"), timeout=5) == Pong("after")
        assert Echo.started_count == 2
        assert b.statistics().restarts == 1
        tg.cancel_scope.cancel()


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_full_mailbox_answers_overloaded(anyio_backend):
    async with anyio.create_task_group() as tg:
        a, b = await _pair(tg)
        b.spawn("slow", Slow)
        ref = a.ref(b.address, "slow")
        outcomes: list[str] = []

        async def one() -> None:
            try:
                await ref.ask(Ping(""), timeout=10)
                outcomes.append("ok")
            except RemoteError as e:
                outcomes.append(e.code)

        async with anyio.create_task_group() as inner:
            for _ in range(8):
                inner.start_soon(one)
        assert "overloaded" in outcomes and "ok" in outcomes
        assert b.statistics().overloaded >= 1
        tg.cancel_scope.cancel()


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_unknown_actor_and_spawn_on_demand(anyio_backend):
    async with anyio.create_task_group() as tg:
        a = make_system()
        b = make_system(spawn_missing=lambda name, msg: Echo if name.startswith("echo:") else None)
        await tg.start(a.run)
        await tg.start(b.run)
        with pytest.raises(RemoteError) as err:
            await a.ref(b.address, "nobody").ask(Ping(""), timeout=5)
        assert err.value.code == "unknown_actor"
        assert await a.ref(b.address, "echo:t1").ask(Ping("z"), timeout=5) == Pong("z")
        assert b.has_actor("echo:t1")
        tg.cancel_scope.cancel()


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_ask_to_a_dead_peer_times_out(anyio_backend):
    async with anyio.create_task_group() as tg:
        a = make_system()
        await tg.start(a.run)
        with pytest.raises(AskTimeout):
            await a.ref(free_tcp_address(), "echo").ask(Ping(""), timeout=0.3)
        tg.cancel_scope.cancel()


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_malformed_frames_are_dropped_and_counted(anyio_backend):
    async with anyio.create_task_group() as tg:
        a, b = await _pair(tg)
        b.spawn("echo", Echo)
        with pynng.Push0(dial=b.address) as raw:
            for junk in [b"", b"hello", b"RKN1" + b"\0" * 40, b"\xff" * 5000]:
                await raw.asend(junk)
            await anyio.sleep(0.3)
        assert b.transport.statistics().frames_dropped == 4
        assert await a.ref(b.address, "echo").ask(Ping("alive"), timeout=5) == Pong("alive")
        tg.cancel_scope.cancel()


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_authenticated_asks_from_senders_nng_cannot_dial_change_nothing(anyio_backend):
    """Asks that need an error answer (unknown type, unknown actor) from a sender that is no
    address, or one nng refuses to dial, are dropped; the system goes on serving. An ask
    of its own to such an address fails at once instead of raising from nng."""
    async with anyio.create_task_group() as tg:
        a, b = await _pair(tg)
        b.spawn("echo", Echo)
        asks = [Envelope(Kind.ASK, i + 1, sender, target, type_, {})
                for i, (sender, target, type_) in enumerate([
                    ("garbage", "echo", "no-such-type.v1"),
                    ("tcp://a", "echo", "no-such-type.v1"),
                    ("tcp://a", "nobody", Ping.TYPE),
                    ("ipc://", "echo", "no-such-type.v1")])]
        stream = FrameStream()
        with pynng.Push0(dial=b.address) as raw:
            for env in asks:
                await raw.asend(encode_frame([encode_envelope(env)], SECRET, stream.next()))
            await anyio.sleep(0.3)
        stats = b.transport.statistics()
        assert stats.envelopes_dropped == 2  # "garbage" and "ipc://" are no addresses
        assert stats.send_dropped == 2  # the error answers to "tcp://a"
        assert await a.ref(b.address, "echo").ask(Ping("alive"), timeout=5) == Pong("alive")
        with pytest.raises(RemoteError, match="cannot queue"):
            await b.ref("tcp://a", "echo").ask(Ping(""), timeout=1)
        tg.cancel_scope.cancel()


@pytest.mark.parametrize("anyio_backend", BACKENDS)
@pytest.mark.anyio
async def test_a_flood_of_frames_is_received_whole(anyio_backend):
    # Many frames waiting at once: one wake-up drains them, in bounded rounds, losing none.
    Counter.seen = []
    async with anyio.create_task_group() as tg:
        a, b = await _pair(tg)
        b.spawn("count", Counter)
        await a.ref(b.address, "count").ask(Ping("first"), timeout=5)
        stream = FrameStream()
        frames = [
            encode_frame(
                [
                    encode_envelope(
                        Envelope(Kind.TELL, 0, a.address, "count", Ping.TYPE, {"payload": str(i)})
                    )
                ],
                SECRET,
                stream.next(),
            )
            for i in range(1000)
        ]
        with pynng.Push0(dial=b.address) as raw:
            for f in frames:
                await raw.asend(f)
            with anyio.fail_after(10):
                while len(Counter.seen) < 1001:  # noqa: ASYNC110 - the actor only appends
                    await anyio.sleep(0.02)
        assert Counter.seen == ["first"] + [str(i) for i in range(1000)]
        assert b.transport.statistics().frames_dropped == 0
        tg.cancel_scope.cancel()


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_drain_finishes_queued_work_then_refuses(anyio_backend):
    Counter.seen = []
    async with anyio.create_task_group() as tg:
        a = make_system()
        await tg.start(a.run)
        ref = a.spawn("count", Counter)
        for i in range(50):
            assert ref.tell(Ping(str(i)))
        assert await a.drain(timeout=5)
        assert Counter.seen == [str(i) for i in range(50)]
        with pytest.raises(RemoteError) as err:
            await ref.ask(Ping(""), timeout=1)
        assert err.value.code == "unavailable"
        tg.cancel_scope.cancel()


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_handler_returning_none_acks(anyio_backend):
    async with anyio.create_task_group() as tg:
        a = make_system()
        await tg.start(a.run)
        ref = a.spawn("count", Counter)
        assert await ref.ask(Ping("q"), timeout=5) == Ack()
        tg.cancel_scope.cancel()


class Batcher(Actor):
    """Answers pings in batches; records each batch's size and the order it saw."""

    sizes: list[int] = []
    order: list[str] = []

    @handles_batch(Ping, max_batch=16)
    async def pings(self, batch: list[tuple[Ping, str]]) -> list[object]:
        Batcher.sizes.append(len(batch))
        out: list[object] = []
        for msg, _ in batch:
            Batcher.order.append(msg.payload)
            if msg.payload == "refuse":
                out.append(Refused("nope", "refused on purpose"))
            elif msg.payload == "bad":
                out.append(ValueError("bad input"))
            else:
                out.append(Pong(msg.payload))
        await anyio.sleep(0.02)  # let more asks queue up meanwhile
        return out

    @handles(Crash)
    async def crash(self, msg: Crash, sender: str) -> None:
        Batcher.order.append("crash:" + msg.reason)


@pytest.mark.parametrize("anyio_backend", BACKENDS)
@pytest.mark.anyio
async def test_batch_handler_gets_queued_messages_together_in_order(anyio_backend):
    Batcher.sizes, Batcher.order = [], []
    async with anyio.create_task_group() as tg:
        a, b = await _pair(tg)
        b.spawn("batcher", Batcher)
        ref = a.ref(b.address, "batcher")
        assert await ref.ask(Ping("first"), timeout=5) == Pong("first")
        results: dict[int, object] = {}

        async def one(i: int) -> None:
            results[i] = await ref.ask(Ping(str(i)), timeout=10)

        async with anyio.create_task_group() as inner:
            for i in range(100):
                inner.start_soon(one, i)
        assert results == {i: Pong(str(i)) for i in range(100)}
        assert Batcher.sizes[0] == 1 and sum(Batcher.sizes) == 101
        assert max(Batcher.sizes) <= 16 and len(Batcher.sizes) < 50  # really batched
        tg.cancel_scope.cancel()


class WeighingBatcher(Actor):
    """Batches pings by the length of their payloads: at most 10 characters a batch."""

    batches: list[list[str]] = []

    @handles_batch(Ping, max_batch=16, size=lambda msg: len(msg.payload), max_size=10)
    async def pings(self, batch: list[tuple[Ping, str]]) -> list[object]:
        WeighingBatcher.batches.append([msg.payload for msg, _ in batch])
        await anyio.sleep(0.02)  # let more asks queue up meanwhile
        return [Pong(msg.payload) for msg, _ in batch]


@pytest.mark.parametrize("anyio_backend", BACKENDS)
@pytest.mark.anyio
async def test_batches_stop_growing_at_their_weight_limit(anyio_backend):
    WeighingBatcher.batches = []
    payloads = ["aaaa", "bbbb", "cc", "d", "e" * 25, "ff", "ggggggggg", "hh", "i"]
    async with anyio.create_task_group() as tg:
        a, b = await _pair(tg)
        b.spawn("batcher", WeighingBatcher)
        ref = a.ref(b.address, "batcher")
        results: dict[str, object] = {}

        async def one(p: str) -> None:
            results[p] = await ref.ask(Ping(p), timeout=10)

        ref.tell(Ping("first"))  # occupies the actor while the rest queue up
        await anyio.sleep(0.005)
        async with anyio.create_task_group() as inner:
            for p in payloads:
                inner.start_soon(one, p)
                await anyio.sleep(0.001)  # keeps the mailbox order
        assert results == {p: Pong(p) for p in payloads}
        assert WeighingBatcher.batches == [
            ["first"],
            ["aaaa", "bbbb", "cc"],  # 10: "d" would make 11
            ["d"],  # the 25-character ping is heavier than the limit: a batch of its own
            ["e" * 25],
            ["ff"],  # "ggggggggg" would make 11
            ["ggggggggg"],
            ["hh", "i"],
        ]
        tg.cancel_scope.cancel()


def test_a_weighed_batch_handler_needs_a_weight_limit():
    with pytest.raises(ValueError, match="max_size"):
        handles_batch(Ping, size=lambda msg: 1)


@pytest.mark.parametrize("anyio_backend", ["trio"])
@pytest.mark.anyio
async def test_batch_entries_answer_errors_alone_and_other_types_keep_their_place(
    anyio_backend,
):
    Batcher.sizes, Batcher.order = [], []
    async with anyio.create_task_group() as tg:
        a, b = await _pair(tg)
        b.spawn("batcher", Batcher)
        ref = a.ref(b.address, "batcher")
        outcomes: dict[str, object] = {}

        async def ask(msg: Ping | Crash, key: str) -> None:
            try:
                outcomes[key] = await ref.ask(msg, timeout=10)
            except RemoteError as e:
                outcomes[key] = e.code

        ref.tell(Ping("a"))  # occupies the actor while the rest queue up
        await anyio.sleep(0.005)
        async with anyio.create_task_group() as inner:
            for key, msg in [
                ("b", Ping("b")),
                ("refuse", Ping("refuse")),
                ("bad", Ping("bad")),
                ("crash", Crash("x")),
                ("c", Ping("c")),
            ]:
                inner.start_soon(ask, msg, key)
                await anyio.sleep(0.001)
        assert outcomes == {
            "b": Pong("b"),
            "refuse": "nope",
            "bad": "handler_failed",
            "crash": Ack(),
            "c": Pong("c"),
        }
        # The crash message is handled between the pings queued before and after it.
        assert Batcher.order == ["a", "b", "refuse", "bad", "crash:x", "c"]
        assert b.statistics().restarts == 0
        tg.cancel_scope.cancel()


class Loading(Actor):
    """An actor whose start takes long (a tenant loading its history), or fails."""

    starts = 0
    fail = False

    async def started(self) -> None:
        Loading.starts += 1
        if Loading.fail:
            raise RuntimeError("cannot load")
        await anyio.sleep(30)

    @handles(Ping)
    async def ping(self, msg: Ping, sender: str) -> Pong:
        return Pong(msg.payload)


@pytest.mark.parametrize("anyio_backend", BACKENDS)
@pytest.mark.anyio
async def test_stopping_an_actor_that_is_still_starting_refuses_its_queue_at_once(
    anyio_backend,
):
    Loading.starts, Loading.fail = 0, False
    async with anyio.create_task_group() as tg:
        a, b = await _pair(tg)
        b.spawn("loading", Loading)
        ref = a.ref(b.address, "loading")
        errors: list[RemoteError] = []

        async def ask() -> None:
            try:
                await ref.ask(Ping("x"), timeout=10)
            except RemoteError as e:
                errors.append(e)

        for _ in range(3):
            tg.start_soon(ask)
        await anyio.sleep(0.2)
        started = anyio.current_time()
        b.stop("loading")
        with anyio.fail_after(5):
            while len(errors) < 3:  # noqa: ASYNC110 - the askers only append
                await anyio.sleep(0.01)
        assert anyio.current_time() - started < 2
        assert {e.code for e in errors} == {"unavailable"}
        assert not b.has_actor("loading") and Loading.starts == 1
        tg.cancel_scope.cancel()


@pytest.mark.parametrize("anyio_backend", BACKENDS)
@pytest.mark.parametrize("backoff,failed", [(0.05, 2), (5.0, 1)])
@pytest.mark.anyio
async def test_a_stopped_actor_whose_start_fails_is_not_restarted(anyio_backend, backoff,
                                                                  failed):
    """Stopped while failing and restarting (or while waiting 5 s to restart: the stop ends
    the wait), it is gone at once and never started again."""
    Loading.starts, Loading.fail = 0, True
    async with anyio.create_task_group() as tg:
        a = make_system(restart_policy=RestartPolicy(min_backoff=backoff, max_backoff=backoff))
        await tg.start(a.run)
        a.spawn("loading", Loading)
        with anyio.fail_after(5):
            while Loading.starts < failed:  # noqa: ASYNC110 - failing and restarting
                await anyio.sleep(0.01)
        await anyio.sleep(0.02)
        a.stop("loading")
        with anyio.fail_after(1):
            while a.has_actor("loading"):  # noqa: ASYNC110 - polled, as the node's agent does
                await anyio.sleep(0.01)
        starts = Loading.starts
        await anyio.sleep(0.3)
        assert Loading.starts == starts <= failed + (backoff < 1)
        tg.cancel_scope.cancel()
