"""Detached nng sends: in order, failures counted and freed, bounded, closed cleanly."""

from __future__ import annotations

import time

import pynng

from actors.nng_send import DetachedSender
from tests.ports import free_tcp_address


def _wait_reclaimed(sender: DetachedSender, seconds: float = 5.0) -> int:
    failed = 0
    deadline = time.monotonic() + seconds
    while sender.in_flight and time.monotonic() < deadline:
        failed += sender.reclaim()
        time.sleep(0.01)
    return failed


def test_frames_arrive_in_order_and_finished_sends_are_reclaimed():
    address = free_tcp_address()
    with pynng.Pull0(listen=address, recv_timeout=5000) as inbox, pynng.Push0() as push:
        push.dial(address, block=True)
        sender = DetachedSender(push, timeout_ms=2000)
        frames = [b"frame-%d" % i + b"x" * (i % 300) for i in range(500)] + [b""]
        for f in frames:
            assert sender.submit(f, 1)
        assert [inbox.recv_msg().bytes for _ in frames] == frames
        assert _wait_reclaimed(sender) == 0
        assert sender.in_flight == 0
        assert sender.close() == 0


def test_a_send_nobody_takes_fails_after_its_timeout_and_is_counted():
    with pynng.Push0() as push:
        push.dial(free_tcp_address(), block=False)  # nobody listens there
        sender = DetachedSender(push, timeout_ms=100)
        assert sender.submit(b"lost", 3) and sender.submit(b"lost too", 2)
        assert _wait_reclaimed(sender) == 5
        assert sender.close() == 0


def test_at_most_limit_sends_in_flight_and_close_counts_the_rest():
    push = pynng.Push0()
    push.dial(free_tcp_address(), block=False)
    sender = DetachedSender(push, timeout_ms=60_000, limit=4)
    assert all(sender.submit(b"f", 1) for _ in range(4))
    assert not sender.submit(b"f", 1)
    assert sender.in_flight == 4
    push.close()  # ends every pending send
    assert sender.close() == 4
    assert sender.in_flight == 0
