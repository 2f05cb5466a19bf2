"""Wire format: envelopes, numpy ext type, frames; malformed input is one ProtocolError."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.errors import ProtocolError
from actors.frame_stamps import FrameStamp, FrameStream
from actors.wire import (
    MAGIC,
    Envelope,
    Kind,
    decode_envelope,
    decode_frame,
    encode_envelope,
    encode_frame,
    pack,
    unpack,
)

SECRET = b"test-secret"
STAMP = FrameStamp(b"\x01" * 8, 7, 1_700_000_000_000)


def test_numpy_arrays_round_trip_as_ext_type():
    for arr in [
        np.arange(10, dtype=np.float64),
        np.zeros((3, 4), dtype=np.float32),
        np.array([[1, 2], [3, 4]], dtype=np.int32),
        np.array([True, False]),
        np.array(3.5),
    ]:
        back = unpack(pack({"a": arr}))["a"]
        assert back.dtype == arr.dtype and back.shape == arr.shape
        np.testing.assert_array_equal(back, arr)
    # Arrays are raw bytes on the wire, not lists of floats.
    assert len(pack(np.zeros(1000))) < 8100


def test_object_arrays_are_refused_both_ways():
    with pytest.raises(TypeError):
        pack(np.array([object()], dtype=object))
    header = pack(["|O", [1]])
    import msgpack

    evil = msgpack.packb(msgpack.ExtType(1, header + b"\0" * 8))
    with pytest.raises(ProtocolError):
        unpack(evil)


def test_ndarray_size_mismatch_is_a_protocol_error():
    import msgpack

    header = pack(["<f8", [4]])
    bad = msgpack.packb(msgpack.ExtType(1, header + b"\0" * 8))
    with pytest.raises(ProtocolError):
        unpack(bad)


def test_frame_round_trip_with_batch():
    envs = [
        Envelope(Kind.ASK, i, "tcp://a", "target", "ping.v1", {"payload": str(i)}) for i in range(5)
    ]
    frame = encode_frame([encode_envelope(e) for e in envs], SECRET, STAMP)
    decoded = decode_frame(frame, SECRET, 1 << 20)
    assert decoded.dropped == 0
    assert decoded.envelopes == envs
    assert decoded.stamp == STAMP


def test_the_stamp_is_checked_before_envelopes_and_can_refuse_the_frame():
    frame = encode_frame([encode_envelope(Envelope(Kind.TELL, 0, "tcp://a", "b", "t", {}))],
                         SECRET, STAMP)
    seen = []
    decode_frame(frame, SECRET, 1 << 20, seen.append)
    assert seen == [STAMP]

    def refuse(stamp):
        raise ProtocolError("replayed frame")

    with pytest.raises(ProtocolError, match="replayed"):
        decode_frame(frame, SECRET, 1 << 20, refuse)


def test_frames_of_releases_before_stamps_still_decode_both_ways():
    env = Envelope(Kind.TELL, 0, "tcp://a", "b", "t", {})
    # An older member's frame has no stamp: it decodes, with stamp None, for the guard to judge.
    old = decode_frame(encode_frame([encode_envelope(env)], SECRET, None), SECRET, 1 << 20)
    assert (old.envelopes, old.dropped, old.stamp) == ([env], 0, None)
    # An older member reads a stamp as one malformed envelope and keeps the rest.
    with pytest.raises(ProtocolError):
        decode_envelope(FrameStream().next().encode())


def test_frame_with_wrong_secret_is_rejected():
    frame = encode_frame([encode_envelope(Envelope(Kind.TELL, 0, "tcp://a", "b", "t", {}))],
                         SECRET, STAMP)
    with pytest.raises(ProtocolError, match="authentication"):
        decode_frame(frame, b"other", 1 << 20)


def test_oversized_frame_is_rejected():
    frame = encode_frame([b"x" * 2000], SECRET, STAMP)
    with pytest.raises(ProtocolError, match="exceeds"):
        decode_frame(frame, SECRET, 1000)


def test_bad_envelopes_are_dropped_individually():
    good = encode_envelope(Envelope(Kind.TELL, 0, "tcp://a", "b", "t", {}))
    frame = encode_frame([good, b"\xc1garbage", pack([1, 2, 3]), good], SECRET, STAMP)
    decoded = decode_frame(frame, SECRET, 1 << 20)
    assert len(decoded.envelopes) == 2
    assert decoded.dropped == 2


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_never_escape_as_anything_but_protocol_error(data):
    for frame in (data, MAGIC + data):
        try:
            decode_frame(frame, SECRET, 1 << 16)
        except ProtocolError:
            pass
    try:
        decode_envelope(data)
    except ProtocolError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_authenticated_garbage_payloads_are_protocol_errors(payload):
    # A peer holding the secret but sending nonsense still cannot crash the decoder.
    import hashlib
    import hmac

    mac = hmac.new(SECRET, payload, hashlib.sha256).digest()[:16]
    try:
        decode_frame(MAGIC + mac + payload, SECRET, 1 << 16)
    except ProtocolError:
        pass


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(
    kind=st.sampled_from(list(Kind)),
    cid=st.integers(0, 2**63 - 1),
    target=st.text(max_size=40),
    body=json_values,
)
def test_envelope_round_trip(kind, cid, target, body):
    env = Envelope(kind, cid, "tcp://127.0.0.1:1", target, "x.v1", body)
    assert decode_envelope(encode_envelope(env)) == env
