"""Message definitions: round trip through the wire, strict validation of untrusted bodies."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors import messages as m
from actors.errors import ProtocolError
from actors.message import decode_message, registered_types
from actors.wire import pack, unpack

SAMPLES = [
    m.Heartbeat("n1", "tcp://127.0.0.1:1", False, {"actors": 3}),
    m.ClusterView([["n1", "tcp://x:1"]], 2, "c1"),
    m.Leave("n1"),
    m.TenantEvents("t", [{"seq": 1, "kind": "item", "data": {"id": "a"}}], 1),
    m.FetchEvents("t", 5, 100),
    m.EstimateRequest("t", [{"title": "x", "description": "", "features": {}}], [0.1, 0.9], 3),
    m.EstimateReply([{"p50": 1.0}], "v1", 3),
    m.EstimateJSONRequest("t", [{"title": "x", "description": "", "features": {}}], [0.5], 3),
    m.EstimateJSONReply(np.ones((1, 1)), np.ones(1), [b"[]"], [b"[]"], "v1", 3),
    m.Ping("hi"),
    m.Pong("hi"),
    m.Ack(),
    m.SimulateRequest({"version": 1, "order": np.arange(3)}, 0, 1000, 2**64 - 1),
    m.SimulateReply({"version": 1, "totals": np.zeros(4), "count": 4}),
    m.SnapshotPart("t", 40, 1, 3, 9_000_000, b"d" * 32, b"\x00\xff" * 8),
    m.FetchSnapshot("t", 2, 40),
]


def test_every_registered_type_has_a_sample():
    assert {type(s).TYPE for s in SAMPLES} | {"crash.v1"} == set(registered_types())


@pytest.mark.parametrize("msg", SAMPLES, ids=lambda s: s.TYPE)
def test_round_trip(msg):
    back = decode_message(msg.TYPE, unpack(pack(msg.to_body())))
    assert pack(back.to_body()) == pack(msg.to_body())  # arrays compare by their bytes


def test_unknown_type_missing_field_wrong_type_and_extra_field_are_rejected():
    with pytest.raises(ProtocolError, match="unknown message type"):
        decode_message("nope.v1", {})
    with pytest.raises(ProtocolError, match="missing field"):
        decode_message("fetch-events.v1", {"tenant": "t"})
    with pytest.raises(ProtocolError, match="wrong type"):
        decode_message("fetch-events.v1", {"tenant": "t", "after_seq": "5"})
    with pytest.raises(ProtocolError, match="wrong type"):
        decode_message("fetch-events.v1", {"tenant": "t", "after_seq": True})
    with pytest.raises(ProtocolError, match="unknown fields"):
        decode_message("ping.v1", {"payload": "", "extra": 1})
    with pytest.raises(ProtocolError, match="not a map"):
        decode_message("ping.v1", [1, 2])


@settings(max_examples=300, deadline=None)
@given(
    type_name=st.sampled_from(sorted(registered_types())),
    body=st.dictionaries(
        st.sampled_from(["tenant", "after_seq", "limit", "items", "payload", "node_id", "x"]),
        st.none() | st.integers() | st.text(max_size=5) | st.lists(st.integers(), max_size=3),
        max_size=5,
    ),
)
def test_fuzzed_bodies_decode_or_raise_protocol_error(type_name, body):
    try:
        decode_message(type_name, body)
    except ProtocolError:
        pass
