"""Frame stamps: a frame is accepted once, only while fresh; replays and stale frames are
refused, in a unit of their own and over real nng sockets."""

from __future__ import annotations

import anyio
import pynng
import pytest

from actors import ActorSystem, Transport
from actors.errors import ProtocolError
from actors.frame_stamps import WINDOW, FrameStamp, FrameStream, ReplayGuard
from actors.messages import Ping
from actors.transport import TransportConfig
from actors.wire import Envelope, Kind, encode_envelope, encode_frame
from tests.actors.test_system import SECRET, Counter
from tests.ports import free_tcp_address

T0 = 1_800_000_000_000


class Clock:
    def __init__(self) -> None:
        self.ms = T0

    def __call__(self) -> int:
        return self.ms


def _guard(**kw) -> tuple[ReplayGuard, Clock]:
    clock = Clock()
    return ReplayGuard(clock_ms=clock, **kw), clock


def test_each_frame_of_a_stream_is_accepted_once():
    guard, clock = _guard()
    stream = FrameStream(clock)
    first, second = stream.next(), stream.next()
    assert (first.number, second.number) == (1, 2)
    guard.admit(first)
    guard.admit(second)
    for again in (first, second):
        with pytest.raises(ProtocolError, match="replayed"):
            guard.admit(again)


def test_frames_a_little_out_of_order_are_accepted_once_and_older_ones_refused():
    guard, clock = _guard()
    stream = FrameStream(clock)
    stamps = [stream.next() for _ in range(WINDOW + 10)]
    guard.admit(stamps[5])
    guard.admit(stamps[2])  # behind the newest, not seen yet
    with pytest.raises(ProtocolError, match="replayed"):
        guard.admit(stamps[2])
    guard.admit(stamps[-1])
    with pytest.raises(ProtocolError, match="replayed"):  # WINDOW or more behind the newest
        guard.admit(stamps[-1 - WINDOW])
    guard.admit(stamps[-WINDOW])  # just inside the window


def test_streams_are_independent():
    guard, clock = _guard()
    a, b = FrameStream(clock), FrameStream(clock)
    guard.admit(a.next())
    guard.admit(b.next())  # number 1 again, another stream
    assert guard.streams == 2


def test_stale_and_future_frames_are_refused_with_the_offset():
    guard, _ = _guard(max_age_s=60)
    old = FrameStamp(b"s" * 8, 1, T0 - 61_000)
    with pytest.raises(ProtocolError, match=r"stale frame: sent \+61.0 s"):
        guard.admit(old)
    with pytest.raises(ProtocolError, match=r"sent -61.0 s"):
        guard.admit(FrameStamp(b"s" * 8, 2, T0 + 61_000))
    guard.admit(FrameStamp(b"s" * 8, 3, T0 - 59_000))  # within the allowed skew


def test_a_quiet_stream_is_forgotten_and_its_old_frames_stay_refused():
    guard, clock = _guard(max_age_s=60)
    stream = FrameStream(clock)
    stamp = stream.next()
    guard.admit(stamp)
    clock.ms += 181_000  # quiet for more than three times the age limit
    guard.admit(FrameStream(clock).next())  # any admit may sweep
    assert guard.streams == 1
    with pytest.raises(ProtocolError, match="stale"):
        guard.admit(stamp)


def test_unstamped_frames_are_refused_unless_allowed():
    guard, _ = _guard()
    with pytest.raises(ProtocolError, match="RECKON_ACCEPT_UNSTAMPED_FRAMES"):
        guard.admit(None)
    allowing, _ = _guard(accept_unstamped=True)
    allowing.admit(None)


def test_new_streams_beyond_the_limit_are_refused_until_old_ones_go_quiet():
    guard, clock = _guard(max_age_s=10, max_streams=3)
    for _ in range(3):
        guard.admit(FrameStream(clock).next())
    with pytest.raises(ProtocolError, match="more than 3 frame streams"):
        guard.admit(FrameStream(clock).next())
    clock.ms += 31_000
    guard.admit(FrameStream(clock).next())
    assert guard.streams == 1


def test_stamps_round_trip_as_bytes_and_other_bytes_are_no_stamp():
    stamp = FrameStamp(b"12345678", 2**64 - 1, -5)
    assert FrameStamp.decode(stamp.encode()) == stamp
    assert FrameStamp.decode(stamp.encode()[:-1]) is None
    assert FrameStamp.decode(b"XX" + stamp.encode()[2:]) is None


def test_transport_settings_from_the_environment():
    assert TransportConfig.from_environ({}) == TransportConfig()
    config = TransportConfig.from_environ(
        {"RECKON_MAX_FRAME_AGE": "120", "RECKON_ACCEPT_UNSTAMPED_FRAMES": "1"})
    assert (config.max_frame_age_s, config.accept_unstamped) == (120.0, True)
    assert not TransportConfig.from_environ({"RECKON_ACCEPT_UNSTAMPED_FRAMES": "no"}
                                            ).accept_unstamped
    for bad in ({"RECKON_MAX_FRAME_AGE": "soon"}, {"RECKON_MAX_FRAME_AGE": "0"},
                {"RECKON_ACCEPT_UNSTAMPED_FRAMES": "maybe"}):
        with pytest.raises(ValueError, match="RECKON_"):
            TransportConfig.from_environ(bad)


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_a_captured_frame_sent_again_is_refused_by_a_real_system(anyio_backend):
    Counter.seen = []
    async with anyio.create_task_group() as tg:
        b = ActorSystem(Transport(free_tcp_address(), SECRET))
        await tg.start(b.run)
        b.spawn("count", Counter)

        def frame(payload: str, stamp: FrameStamp | None) -> bytes:
            env = Envelope(Kind.TELL, 0, "tcp://127.0.0.1:1", "count", Ping.TYPE,
                           {"payload": payload})
            return encode_frame([encode_envelope(env)], SECRET, stamp)

        stream = FrameStream()
        captured = frame("once", stream.next())
        with pynng.Push0(dial=b.address) as raw:
            for f in (captured, captured, frame("unstamped", None),
                      frame("late", FrameStamp(b"z" * 8, 1, T0 - 10**9)),
                      frame("next", stream.next())):
                await raw.asend(f)
            with anyio.fail_after(5):
                while len(Counter.seen) < 2:  # noqa: ASYNC110 - the actor only appends
                    await anyio.sleep(0.02)
            await anyio.sleep(0.1)
        assert Counter.seen == ["once", "next"]
        stats = b.transport.statistics()
        assert (stats.frames_refused, stats.frames_dropped) == (3, 3)
        tg.cancel_scope.cancel()
