"""Outgoing peer sockets of the transport: idle ones are closed, busy ones are kept."""

from __future__ import annotations

import time

import anyio
import pytest

from actors import ActorSystem, Transport
from actors.messages import Ping, Pong
from actors.transport import TransportConfig
from tests.actors.test_system import SECRET, Echo
from tests.ports import free_tcp_address


def _system(**config: float) -> ActorSystem:
    return ActorSystem(Transport(free_tcp_address(), SECRET, TransportConfig(**config)))


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["trio", "asyncio"])
async def test_an_idle_peer_socket_is_closed_and_dialled_again_when_needed(anyio_backend):
    async with anyio.create_task_group() as tg:
        a, b = _system(), _system()
        await tg.start(a.run)
        await tg.start(b.run)
        b.spawn("echo", Echo)
        ref = a.ref(b.address, "echo")
        assert await ref.ask(Ping("one"), timeout=5) == Pong("one")
        assert a.transport.statistics().peers == 1
        assert b.transport.statistics().peers == 1  # the reply's socket
        # Used just now: kept.
        assert a.transport.close_idle_peers(time.monotonic() - 60) == 0
        assert a.transport.close_idle_peers(time.monotonic() + 1) == 1
        assert b.transport.close_idle_peers(time.monotonic() + 1) == 1
        assert a.transport.statistics().peers == 0
        assert not a.transport.is_connected(b.address)
        # Both directions open again on the next message.
        assert await ref.ask(Ping("two"), timeout=5) == Pong("two")
        assert a.transport.statistics().peers == 1
        tg.cancel_scope.cancel()


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_a_peer_with_a_send_still_unfinished_is_not_closed(anyio_backend):
    async with anyio.create_task_group() as tg:
        a = _system(send_timeout_ms=400, send_buffer=0)  # no buffer: a send waits for a pipe
        await tg.start(a.run)
        nobody = free_tcp_address()  # nothing listens: the send waits in nng until its timeout
        assert a.tell(nobody, "echo", Ping("lost"))
        await anyio.sleep(0.05)
        assert a.transport.close_idle_peers(time.monotonic() + 1) == 0
        assert a.transport.statistics().peers == 1
        await anyio.sleep(0.6)  # the send timed out: nothing is left to wait for
        assert a.transport.close_idle_peers(time.monotonic() + 1) == 1
        stats = a.transport.statistics()
        assert stats.peers == 0
        assert stats.send_dropped == 1  # the timed-out send, counted once
        tg.cancel_scope.cancel()


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_idle_peers_are_closed_in_the_background_and_used_ones_kept(anyio_backend):
    async with anyio.create_task_group() as tg:
        a, b, c = _system(idle_close_s=0.4), _system(), _system()
        for system in (a, b, c):
            await tg.start(system.run)
            system.spawn("echo", Echo)
        await a.ref(c.address, "echo").ask(Ping("once"), timeout=5)
        with anyio.fail_after(5):
            for i in range(20):  # b is used every 0.1 s, c never again
                assert await a.ref(b.address, "echo").ask(Ping(str(i)), timeout=5) == Pong(str(i))
                await anyio.sleep(0.1)
        assert a.transport.is_connected(b.address)
        assert not a.transport.is_connected(c.address)
        assert a.transport.statistics().peers == 1
        tg.cancel_scope.cancel()
