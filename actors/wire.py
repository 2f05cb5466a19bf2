"""The wire format: msgpack envelopes, numpy arrays as an ext type, authenticated batched frames.

A frame is ``MAGIC | HMAC-SHA256(secret, payload)[:16] | payload`` where the payload is one
msgpack array (a batch) of byte strings: first the frame's stamp
(:mod:`actors.frame_stamps`), then each one encoded envelope: the array
``[version, kind, correlation_id, sender, target, type, body]``. Envelopes are encoded one by
one so a sender knows each one's size when it fills a frame, and a receiver drops a single bad
envelope without losing its neighbours. (A release before stamps sent no stamp entry; it
reads a stamp as one malformed envelope and drops only that, so mixed releases still talk
during a rolling upgrade.)

Every frame from a peer is untrusted: :func:`decode_frame` turns every way a frame can be bad
(too big, wrong magic, bad MAC, bad msgpack, bad structure) into one :class:`ProtocolError`.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import msgpack
import numpy as np

from actors.errors import ProtocolError
from actors.frame_stamps import STAMP_BYTES, FrameStamp

PROTOCOL_VERSION = 1
MAGIC = b"RKN1"
MAC_BYTES = 16
NDARRAY_EXT = 1
# dtype kinds that can be rebuilt from raw bytes safely (no object arrays, ever).
_SAFE_DTYPE_KINDS = frozenset("biufc?")
#: An nng address a reply can go to: a transport scheme and a host or path, no spaces.
_ADDRESS = re.compile(r"(?:tcp|tcp4|tcp6|ipc|inproc|abstract|tls\+tcp|ws|wss)://\S+")


def is_address(value: object) -> bool:
    """Whether ``value`` is an nng address this system can dial (``tcp://host:port`` etc.)."""
    return isinstance(value, str) and len(value) <= 512 and _ADDRESS.fullmatch(value) is not None


class Kind(IntEnum):
    """What an envelope is: a one-way tell, an ask expecting a reply, a reply, an error reply."""

    TELL = 0
    ASK = 1
    REPLY = 2
    ERROR = 3


@dataclass(frozen=True, slots=True)
class Envelope:
    """One message on the wire; ``body`` is the message's msgpack-able field mapping."""

    kind: Kind
    correlation_id: int
    sender: str
    target: str
    type: str
    body: Any
    version: int = PROTOCOL_VERSION


def _default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind not in _SAFE_DTYPE_KINDS:
            raise TypeError(f"cannot send an array of dtype {obj.dtype}")
        arr = obj if obj.flags.c_contiguous else obj.copy(order="C")
        header = msgpack.packb([arr.dtype.str, list(arr.shape)])
        return msgpack.ExtType(NDARRAY_EXT, header + arr.tobytes())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, tuple | frozenset | set):
        return list(obj)
    raise TypeError(f"cannot encode {type(obj).__name__}")


def _ext_hook(code: int, data: bytes) -> Any:
    if code != NDARRAY_EXT:
        raise ProtocolError(f"unknown ext type {code}")
    unpacker = msgpack.Unpacker(raw=False)
    unpacker.feed(data)
    header = unpacker.unpack()
    offset = unpacker.tell()
    if (
        not isinstance(header, list)
        or len(header) != 2
        or not isinstance(header[0], str)
        or not isinstance(header[1], list)
        or not all(isinstance(d, int) and d >= 0 for d in header[1])
    ):
        raise ProtocolError("bad ndarray header")
    dtype = np.dtype(header[0])
    if dtype.kind not in _SAFE_DTYPE_KINDS:
        raise ProtocolError(f"refused ndarray dtype {dtype}")
    shape = tuple(header[1])
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    raw = data[offset:]
    if count * dtype.itemsize != len(raw):
        raise ProtocolError("ndarray size does not match its shape")
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


def pack(obj: Any) -> bytes:
    """msgpack with numpy support (arrays as ext type, numpy scalars as plain numbers)."""
    return msgpack.packb(obj, default=_default, use_bin_type=True)


def unpack(data: bytes) -> Any:
    """Inverse of :func:`pack`; any decoding failure becomes a :class:`ProtocolError`."""
    try:
        return msgpack.unpackb(data, ext_hook=_ext_hook, raw=False, strict_map_key=True)
    except ProtocolError:
        raise
    except (
        ValueError,
        TypeError,
        KeyError,
        IndexError,
        OverflowError,
        msgpack.UnpackException,
    ) as e:
        # msgpack raises several unrelated types on bad input (ExtraData, FormatError,
        # StackError, ValueError, ...): they all mean "not a valid payload".
        raise ProtocolError(f"undecodable payload: {type(e).__name__}") from e


def encode_envelope(env: Envelope) -> bytes:
    """One envelope as bytes; raises ``TypeError`` if its body holds something unencodable."""
    return pack(
        [env.version, int(env.kind), env.correlation_id, env.sender, env.target, env.type, env.body]
    )


def decode_envelope(data: Any) -> Envelope:
    """Decode and validate one envelope; raise :class:`ProtocolError` if it is bad."""
    if not isinstance(data, bytes):
        raise ProtocolError("batch entry is not a byte string")
    raw = unpack(data)
    if not isinstance(raw, list) or len(raw) != 7:
        raise ProtocolError("envelope is not a 7-element array")
    version, kind, cid, sender, target, type_, body = raw
    if version != PROTOCOL_VERSION:
        raise ProtocolError(f"unsupported protocol version {version!r}")
    if not isinstance(kind, int) or kind not in (0, 1, 2, 3):
        raise ProtocolError(f"bad envelope kind {kind!r}")
    if not isinstance(cid, int) or not 0 <= cid < 2**63:
        raise ProtocolError("bad correlation id")
    if not isinstance(sender, str) or not isinstance(target, str) or not isinstance(type_, str):
        raise ProtocolError("sender, target and type must be strings")
    if len(sender) > 512 or len(target) > 512 or len(type_) > 128:
        raise ProtocolError("envelope header field too long")
    if not is_address(sender):
        raise ProtocolError(f"sender {sender[:80]!r} is not an address to answer")
    return Envelope(Kind(kind), cid, sender, target, type_, body, version)


def _mac(secret: bytes, payload: bytes) -> bytes:
    return hmac.digest(secret, payload, "sha256")[:MAC_BYTES]


ENTRY_OVERHEAD = 5  # msgpack bin header per envelope
# the msgpack array header, and the stamp entry
FRAME_OVERHEAD = len(MAGIC) + MAC_BYTES + 5 + STAMP_BYTES + ENTRY_OVERHEAD


def encode_frame(encoded_envelopes: list[bytes], secret: bytes, stamp: FrameStamp | None) -> bytes:
    """One authenticated frame carrying a batch of already-encoded envelopes (and ``stamp``,
    which only tests of older members' frames leave out)."""
    entries = encoded_envelopes if stamp is None else [stamp.encode(), *encoded_envelopes]
    payload = msgpack.packb(entries, use_bin_type=True)
    return MAGIC + _mac(secret, payload) + payload


@dataclass(frozen=True, slots=True)
class DecodedFrame:
    """The good envelopes of a frame, how many of its entries were dropped as malformed, and
    its stamp (None: a frame without one)."""

    envelopes: list[Envelope]
    dropped: int
    stamp: FrameStamp | None = None


def decode_frame(
    frame: bytes, secret: bytes, max_bytes: int,
    admit: Callable[[FrameStamp | None], None] | None = None,
) -> DecodedFrame:  # fmt: skip
    """Authenticate and decode a frame.

    Raises :class:`ProtocolError` when the frame as a whole is unusable (too big, bad magic,
    bad MAC, not a batch), or when ``admit``, called with the authenticated frame's stamp
    before its envelopes are decoded, raises it (a replay, say). A good frame whose batch
    holds some malformed envelopes keeps the good ones and counts the rest in ``dropped``.
    """
    if len(frame) > max_bytes:
        raise ProtocolError(f"frame of {len(frame)} bytes exceeds {max_bytes}")
    header = len(MAGIC) + MAC_BYTES
    if len(frame) <= header or frame[: len(MAGIC)] != MAGIC:
        raise ProtocolError("bad frame magic")
    mac, payload = frame[len(MAGIC) : header], frame[header:]
    if not hmac.compare_digest(mac, _mac(secret, payload)):
        raise ProtocolError("frame authentication failed")
    batch = unpack(payload)
    if not isinstance(batch, list):
        raise ProtocolError("frame payload is not a batch")
    stamp = FrameStamp.decode(batch[0]) if batch and isinstance(batch[0], bytes) else None
    if admit is not None:
        admit(stamp)
    good: list[Envelope] = []
    dropped = 0
    for entry in batch[1:] if stamp is not None else batch:
        try:
            good.append(decode_envelope(entry))
        except ProtocolError:
            dropped += 1
    return DecodedFrame(good, dropped, stamp)
