"""Running a forecast on the cluster: split trials into parts, simulate them on the nodes'
simulation actors, merge the parts exactly.

Every trial's random numbers derive from (seed, trial index) alone, so the answer is the same
whatever the split: how many parts, which node ran which. Parts are sized to fit a frame
(each trial costs 16 bytes, plus the task efforts of trials in the sensitivity sample) and
to take a node about two seconds at most, so that a forecast given up (its client left)
stops within two parts. Each live node runs one part at a time, with the next one queued;
a part whose node fails is run again elsewhere.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import anyio
import numpy as np

from actors import ActorSystem, AskTimeout, Message, ProtocolError, RemoteError
from actors.messages import EstimateReply, EstimateRequest, SimulateReply, SimulateRequest
from coordinator.forecast_spec import ForecastRequest, forecast_response
from coordinator.item_chunks import item_chunks
from coordinator.membership import Membership
from coordinator.racing import run_unless
from coordinator.router import NoNodesAvailable, Router
from kernels import ForecastPart, ForecastPlan, merge_parts
from kernels.forecast import GRID_PROBS

log = logging.getLogger("reckon.forecast")

SIMULATOR = "simulator"
PART_BYTES = 4 * 1024 * 1024
#: Most task-trials in one part: about two seconds of one core (``python -m
#: bench.forecast_speed`` measures some 15 million a second).
PART_TASK_TRIALS = 30_000_000
#: Parts asked of a node at once: it runs one while the next waits in its mailbox, so it is
#: never idle between parts for the round trip to the coordinator.
PARTS_IN_FLIGHT = 2
MAX_ATTEMPTS = 3
LIVENESS_POLL = 0.25


class ForecastFailed(Exception):
    """No node could simulate some part of the forecast."""


@dataclass(frozen=True)
class Chunk:
    """One part of the trial range."""

    start: int
    count: int


def split_trials(trials: int, n_tasks: int, sensitivity_trials: int, workers: int,
                 max_bytes: int = PART_BYTES, max_task_trials: int = PART_TASK_TRIALS
                 ) -> list[Chunk]:
    """Parts covering ``[0, trials)``: as many as the workers or a multiple of that, of
    equal size (so every worker gets the same share), none of more than ``max_task_trials``
    tasks times trials nor larger than ``max_bytes`` (the trials of the sensitivity sample,
    which also carry every task's effort, go in smaller parts where they need to)."""
    workers = max(1, workers)
    per_part = max(1, min(max_task_trials // max(1, n_tasks), max_bytes // 16))
    n_parts = min(trials, workers * math.ceil(trials / per_part / workers))
    chunks: list[Chunk] = []
    pos = 0
    for i in range(n_parts):
        end = pos + trials // n_parts + (1 if i < trials % n_parts else 0)
        while pos < end:
            count = end - pos
            if pos < sensitivity_trials:  # these trials also carry every task's effort
                count = min(count, max(1, max_bytes // (16 + 4 * n_tasks)))
            count = min(count, max(1, max_bytes // 16))
            chunks.append(Chunk(pos, count))
            pos += count
    return chunks


async def fill_model_grids(router: Router, tenant: str, request: ForecastRequest
                           ) -> ForecastPlan:
    """Ask the tenant's model for the predictive quantiles of work-item tasks."""
    if not request.model_tasks:
        return request.plan
    items = [{k: item.get(k, "" if k != "features" else {}) for k in
              ("title", "description", "features")} for _, item in request.model_tasks]
    probs = [float(p) for p in GRID_PROBS]
    head = max(request.min_seq, router.known_head(tenant))
    results: list[dict[str, Any]] = []
    for start, stop in item_chunks(items):  # many tasks go in several asks
        part = items[start:stop]
        reply = await router.read(tenant, EstimateRequest(tenant, part, probs, head),
                                  items=len(part))
        if not isinstance(reply, EstimateReply) or len(reply.results) != len(part):
            raise NoNodesAvailable("the tenant's owner answered with an unexpected reply")
        results += reply.results
        head = max(head, reply.seq)
    grids = {}
    for (index, _), result in zip(request.model_tasks, results, strict=True):
        q = np.maximum.accumulate(np.asarray(result["quantiles"], dtype=np.float64))
        grids[index] = np.log(np.maximum(q, 1e-9))
    return request.plan.with_grids(grids)


async def _ask_while_live(system: ActorSystem, membership: Membership, address: str,
                          msg: SimulateRequest, timeout: float) -> Message:
    """Ask a node for a part, giving up as soon as the node leaves the ring (died, drained)
    rather than at the part's timeout."""

    async def ask() -> Message:
        return await system.ask(address, SIMULATOR, msg, timeout)

    async def node_lost() -> None:
        while address in {n.address for n in membership.live()}:  # noqa: ASYNC110 - polled
            await anyio.sleep(LIVENESS_POLL)

    done, reply = await run_unless(ask, node_lost)
    if not done or reply is None:
        raise RemoteError("node_lost", f"{address} left the cluster during the simulation")
    return reply


async def run_forecast(system: ActorSystem, membership: Membership, plan: ForecastPlan,
                       request: ForecastRequest, part_timeout: float) -> dict[str, Any]:
    """Simulate on every live node and merge; the response body of ``POST /v1/forecasts``."""
    nodes = [n.address for n in membership.live()]
    if not nodes:
        raise NoNodesAvailable("no node has joined the cluster yet")
    t0 = time.perf_counter()
    chunks = split_trials(request.trials, plan.n_tasks, plan.sensitivity_trials, len(nodes))
    wire_plan = plan.to_dict()
    pending: list[tuple[Chunk, int]] = [(c, 0) for c in chunks]
    parts: list[ForecastPart] = []
    failures: list[str] = []
    changed = anyio.Condition()
    in_flight = 0

    gave_up: list[str] = []
    busy = dict.fromkeys(nodes, 0)  # parts each node holds
    failing: set[str] = set()  # nodes that failed a part: they get no more

    def may_take(address: str) -> bool:
        # A node's first part, or a second one while the parts waiting outnumber the nodes
        # without any (which take theirs first).
        if busy[address] == 0:
            return True
        idle = sum(1 for a in nodes if busy[a] == 0 and a not in failing)
        return len(pending) > idle

    async def worker(address: str, scope: anyio.CancelScope) -> None:
        # Takes parts until none are left and none are in flight (a failed one comes back).
        nonlocal in_flight
        while True:
            async with changed:
                while True:
                    if address in failing or not (pending or in_flight):
                        return
                    if pending and may_take(address):
                        break
                    await changed.wait()
                chunk, attempts = pending.pop(0)
                in_flight += 1
                busy[address] += 1
            failed: Exception | None = None
            try:
                msg = SimulateRequest(wire_plan, chunk.start, chunk.count, request.seed)
                reply = await _ask_while_live(system, membership, address, msg, part_timeout)
                if not isinstance(reply, SimulateReply) or not isinstance(reply.part, dict):
                    raise RemoteError("bad_reply", f"unexpected {reply.TYPE}")
                part = ForecastPart.from_dict(reply.part)
                if (part.start, part.count, part.seed) != (chunk.start, chunk.count,
                                                           request.seed):
                    raise RemoteError("bad_reply", "the part is not the range asked for")
                parts.append(part)
            except (AskTimeout, RemoteError, ProtocolError, ValueError) as e:
                failed = e
                failures.append(f"{address}: {e}")
            async with changed:
                in_flight -= 1
                busy[address] -= 1
                if failed is not None:
                    failing.add(address)
                    if attempts + 1 >= MAX_ATTEMPTS:  # stop every worker; raised below
                        gave_up.append(f"part {chunk.start}+{chunk.count} failed "
                                       f"{MAX_ATTEMPTS} times: {'; '.join(failures)}")
                        scope.cancel()
                        return
                    pending.append((chunk, attempts + 1))
                changed.notify_all()
            if failed is not None:
                log.warning("forecast part failed; others take it node=%s error=%s",
                            address, failed)
                return  # this node is failing: leave the rest to the others

    async with anyio.create_task_group() as tg:
        for _ in range(PARTS_IN_FLIGHT):  # every node's first worker before any second one
            for address in nodes:
                tg.start_soon(worker, address, tg.cancel_scope)
    if gave_up:
        raise ForecastFailed(gave_up[0])
    if pending or len(parts) != len(chunks):
        raise ForecastFailed("some parts were not simulated: " + "; ".join(failures))
    summary = merge_parts(plan, parts, request.percentiles, request.bins)
    body = forecast_response(plan, summary, time.perf_counter() - t0)
    body["parts"] = len(parts)
    body["nodes"] = len(nodes)
    return body
