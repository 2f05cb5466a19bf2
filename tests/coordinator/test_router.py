"""Hedged reads over real actor systems and nng: the first good answer wins, a failing owner
is passed over at once, a silent one after the hedge delay, and nothing answers in time."""

from __future__ import annotations

import anyio
import pytest

from actors import Actor, ActorSystem, Refused, Transport, handles
from actors.messages import Leave, Ping, Pong
from coordinator.membership import Membership
from coordinator.router import ESTIMATOR_PREFIX, NoNodesAvailable, Router
from tests.ports import free_tcp_address

SECRET = b"router-test"
TENANT = "acme"


class Owner(Actor):
    """Answers after ``delay`` seconds, or refuses when ``delay`` is negative."""

    delay = 0.0
    name_tag = ""

    @handles(Ping)
    async def ping(self, msg: Ping, sender: str) -> Pong:
        if self.delay < 0:
            raise Refused("behind", "not caught up")
        await anyio.sleep(self.delay)
        return Pong(self.name_tag)


def owner(tag: str, delay: float) -> type[Owner]:
    return type(f"Owner_{tag}", (Owner,), {"delay": delay, "name_tag": tag})


def _by_preference(delays: list[float]) -> list[float]:
    """Per node n0, n1, ...: the delay that the node at that place in the tenant's
    preference order gets (the order depends on node ids only)."""
    m = Membership(heartbeat_timeout=60.0, replication=len(delays))
    for i in range(len(delays)):
        m.beat(f"n{i}", f"tcp://n{i}", False, None)
    place = {node: rank for rank, node in enumerate(m.ring().preference(TENANT))}
    return [delays[place[f"n{i}"]] for i in range(len(delays))]


async def _cluster(tg: anyio.abc.TaskGroup, delays: list[float], hedge: float, timeout: float
                   ) -> Router:
    """A coordinator's router and one node per entry of ``delays`` (in preference order)."""
    coordinator = ActorSystem(Transport(free_tcp_address(), SECRET))
    await tg.start(coordinator.run)
    membership = Membership(heartbeat_timeout=60.0, replication=len(delays))
    for i, delay in enumerate(_by_preference(delays)):
        node = ActorSystem(Transport(free_tcp_address(), SECRET))
        await tg.start(node.run)
        node.spawn(ESTIMATOR_PREFIX + TENANT, owner(str(i), delay))
        membership.beat(f"n{i}", node.address, False, None)
    return Router(coordinator, membership, hedge_delay=hedge, timeout=timeout)


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_a_slow_first_owner_is_hedged_and_the_faster_answer_wins(anyio_backend):
    async with anyio.create_task_group() as tg:
        router = await _cluster(tg, [1.0, 0.0], hedge=0.05, timeout=5)
        start = anyio.current_time()
        reply = await router.read(TENANT, Ping("x"))
        took = anyio.current_time() - start
        assert isinstance(reply, Pong)
        assert 0.04 <= took < 0.8
        assert router.statistics().hedged == 1
        tg.cancel_scope.cancel()


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_a_fast_first_owner_answers_without_hedging(anyio_backend):
    async with anyio.create_task_group() as tg:
        router = await _cluster(tg, [0.0, 0.0], hedge=0.5, timeout=5)
        for _ in range(20):
            assert isinstance(await router.read(TENANT, Ping("x")), Pong)
        assert router.statistics().hedged == 0
        assert router.system.statistics().pending_asks == 0
        tg.cancel_scope.cancel()


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_reads_at_once_spread_over_the_owners_without_hedging(anyio_backend):
    async with anyio.create_task_group() as tg:
        router = await _cluster(tg, [0.3, 0.3], hedge=5.0, timeout=10)
        # Links to both owners up first (an owner whose link is down is asked last).
        owners = router.candidates(TENANT)
        for address in owners:
            router.system.tell(address, ESTIMATOR_PREFIX + TENANT, Ping("warm"))
        with anyio.fail_after(5):
            while not all(router.system.transport.is_connected(a)  # noqa: ASYNC110 - polled
                          for a in owners):
                await anyio.sleep(0.01)
        await anyio.sleep(0.4)  # the owners are done with those pings
        replies: list[Pong] = []

        async def read() -> None:
            reply = await router.read(TENANT, Ping("x"))
            assert isinstance(reply, Pong)
            replies.append(reply)

        start = anyio.current_time()
        async with anyio.create_task_group() as reads:
            for _ in range(4):
                reads.start_soon(read)
        # Two reads on each owner: had they all gone to the first, it would take 1.2 s.
        assert anyio.current_time() - start < 1.0
        assert sorted(r.payload for r in replies) == ["0", "0", "1", "1"]
        assert router.statistics().hedged == 0
        # Idle again: a single read goes to the first owner.
        assert (await router.read(TENANT, Ping("y"))).payload == "0"
        tg.cancel_scope.cancel()


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_big_read_waits_longer_before_it_is_hedged(anyio_backend):
    async with anyio.create_task_group() as tg:
        router = await _cluster(tg, [0.3, 0.0], hedge=0.05, timeout=5)
        router.hedge_per_item = 0.001
        start = anyio.current_time()
        slow = await router.read(TENANT, Ping("x"), items=1001)  # hedge after 1.05 s
        assert anyio.current_time() - start >= 0.25  # the first owner, within its delay
        assert router.statistics().hedged == 0
        start = anyio.current_time()
        fast = await router.read(TENANT, Ping("x"), items=1)  # hedge after 0.05 s
        assert anyio.current_time() - start < 0.25
        assert router.statistics().hedged == 1
        assert isinstance(slow, Pong) and isinstance(fast, Pong) and slow != fast
        tg.cancel_scope.cancel()


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_refusing_owner_is_passed_over_without_waiting_for_the_hedge(anyio_backend):
    async with anyio.create_task_group() as tg:
        router = await _cluster(tg, [-1.0, 0.0], hedge=5.0, timeout=10)
        start = anyio.current_time()
        assert isinstance(await router.read(TENANT, Ping("x")), Pong)
        assert anyio.current_time() - start < 2.0  # far below the 5 s hedge delay
        tg.cancel_scope.cancel()


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_no_answer_in_time_raises_no_nodes_available(anyio_backend):
    async with anyio.create_task_group() as tg:
        router = await _cluster(tg, [2.0, 2.0], hedge=0.05, timeout=0.3)
        start = anyio.current_time()
        with pytest.raises(NoNodesAvailable, match="no answer within"):
            await router.read(TENANT, Ping("x"))
        assert 0.25 <= anyio.current_time() - start < 1.5
        assert router.statistics().failed_reads == 1
        # Both refusing: the error names the reason.
        refusing = await _cluster(tg, [-1.0, -1.0], hedge=5.0, timeout=5)
        with pytest.raises(NoNodesAvailable, match="behind"):
            await refusing.read(TENANT, Ping("y"))
        assert refusing.system.statistics().pending_asks == 0
        tg.cancel_scope.cancel()


class NewOwner(Owner):
    """Also handles a newer message type (``leave.v1`` stands in for it)."""

    @handles(Leave)
    async def newer(self, msg: Leave, sender: str) -> Pong:
        return Pong("new")


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_node_that_does_not_announce_a_message_type_gets_the_fallback(anyio_backend):
    async with anyio.create_task_group() as tg:
        coordinator = ActorSystem(Transport(free_tcp_address(), SECRET))
        await tg.start(coordinator.run)
        node = ActorSystem(Transport(free_tcp_address(), SECRET))
        await tg.start(node.run)
        node.spawn(ESTIMATOR_PREFIX + TENANT, NewOwner)
        membership = Membership(heartbeat_timeout=60.0, replication=1)
        router = Router(coordinator, membership, hedge_delay=0.05, timeout=5)
        membership.beat("n0", node.address, False, {"actors": 1})  # an older release
        assert await router.read(TENANT, Leave("x"), fallback=Ping("old")) == Pong("")
        membership.beat("n0", node.address, False, {"speaks": [Leave.TYPE]})
        assert await router.read(TENANT, Leave("x"), fallback=Ping("old")) == Pong("new")
        assert await router.read(TENANT, Leave("x")) == Pong("new")
        assert router.statistics().hedged == 0
        tg.cancel_scope.cancel()
