"""Running a coordinator: database pool and migrations, actor system, ledger, Hypercorn."""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable
from typing import Any

import anyio
import asyncpg
from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config as HypercornConfig

from actors import ActorSystem, Message, Transport
from actors.heap import freeze_startup_objects
from actors.system import ActorFactory
from coordinator.app import build_app
from coordinator.auth import KeyVerifier
from coordinator.config import CoordinatorConfig
from coordinator.coordinator_actor import COORDINATOR_ACTOR, CoordinatorActor
from coordinator.http_metrics import HttpMetrics
from coordinator.membership import Membership
from coordinator.protocol_errors import install as install_protocol_problems
from coordinator.router import Router
from coordinator.state import AppState
from coordinator.store import create_pool
from coordinator.store.ledger import LedgerWriter
from coordinator.store.migrate import migrate

log = logging.getLogger("reckon.coordinator")


async def connect_database(config: CoordinatorConfig, wait: float = 30.0) -> asyncpg.Pool:
    """A pool with migrations applied, retrying while the database comes up."""
    deadline = anyio.current_time() + wait
    while True:
        try:
            pool = await create_pool(config.database_url, min_size=config.pool_min,
                                     max_size=config.pool_max)
            break
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as e:
            if anyio.current_time() > deadline:
                raise OSError(f"cannot reach the database: {e}") from e
            log.warning("database not reachable yet error=%s", e)
            await anyio.sleep(0.5)
    async with pool.acquire() as conn:
        applied = await migrate(conn)
    if applied:
        log.info("migrations applied names=%s", ",".join(applied))
    return pool


def asyncio_options() -> dict[str, Any]:
    """anyio's asyncio backend options: uvloop's event loop where it is installed (it cuts
    the event loop's own cost per request by about a third)."""
    return {"use_uvloop": importlib.util.find_spec("uvloop") is not None}


LOCAL_MEMBER = "local"


async def _beat_self(membership: Membership, address: str, interval: float) -> None:
    while True:
        membership.beat(LOCAL_MEMBER, address, False, None)
        await anyio.sleep(interval)


async def serve(
    config: CoordinatorConfig,
    shutdown: anyio.Event,
    *,
    embedded_actors: Callable[[str, Message], ActorFactory | None] | None = None,
) -> None:
    """Serve until ``shutdown`` is set, then stop gracefully.

    Shutdown order: stop accepting HTTP connections and finish in-flight requests (up to
    ``graceful_timeout``), flush the estimate ledger, stop the actor system, close the pool.

    ``embedded_actors`` (benchmarks only) makes this process its own single ring member:
    actors it creates on demand run in-process, so requests skip the nng hop to a node.
    """
    pool = await connect_database(config)
    try:
        system = ActorSystem(Transport(config.listen, config.cluster_secret, config.transport),
                             spawn_missing=embedded_actors)
        membership = Membership(config.heartbeat_timeout, config.replication)
        router = Router(system, membership, hedge_delay=config.hedge_delay,
                        timeout=config.request_timeout)
        ledger = LedgerWriter(pool)
        keys = KeyVerifier(pool, config.key_cache_seconds, config.key_stale_seconds)
        state = AppState(config, pool, system, membership, router, ledger, keys, HttpMetrics())
        app = build_app(state)
        install_protocol_problems()
        hc = HypercornConfig()
        hc.bind = [f"{config.http_host}:{config.http_port}"]
        hc.graceful_timeout = config.graceful_timeout
        hc.accesslog = None
        hc.errorlog = logging.getLogger("hypercorn.error")
        hc.keep_alive_timeout = 75
        # Hypercorn drops a connection once no byte has come from the client for this long,
        # also while the client waits for its answer (the read goes on meanwhile), so it
        # bounds how long a request may take: well above the largest forecast (10^9
        # task-trials, about a minute of one node). It also drops a client that stalls in
        # its headers; a stalled or trickled body ends earlier, at --body-timeout.
        hc.read_timeout = 180
        hc.keep_alive_max_requests = 1_000_000  # Hypercorn's default (1000) churns connections
        async with anyio.create_task_group() as tg:
            await tg.start(system.run)
            system.spawn(COORDINATOR_ACTOR,
                         lambda: CoordinatorActor(config.coordinator_id, pool, membership))
            tg.start_soon(ledger.run)
            if embedded_actors is not None:
                tg.start_soon(_beat_self, membership, system.address,
                              config.heartbeat_timeout / 4)
            frozen = freeze_startup_objects()
            log.info("coordinator started id=%s http=%s:%d listen=%s replication=%d "
                     "frozen_objects=%d", config.coordinator_id, config.http_host,
                     config.http_port, config.listen, config.replication, frozen)
            await hypercorn_serve(app, hc, shutdown_trigger=shutdown.wait)  # type: ignore[arg-type]
            log.info("http stopped; flushing")
            tg.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True), anyio.move_on_after(5):
            await pool.close()
