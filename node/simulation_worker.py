"""The simulation actor: runs a range of a forecast's Monte Carlo trials for a coordinator.

Each node hosts one, named ``simulator``. A range runs in a worker thread (the kernel
releases the GIL) on one core, as a node is one process per core; the node keeps
heartbeating and serving estimates meanwhile.
"""

from __future__ import annotations

import functools

import anyio

from actors import Actor, Refused, handles
from actors.messages import SimulateReply, SimulateRequest
from kernels import ForecastPlan, simulate_part

SIMULATOR = "simulator"


class SimulationWorker(Actor):
    """Simulates the trial ranges it is asked for, one at a time."""

    mailbox_size = 256

    @handles(SimulateRequest)
    async def simulate(self, msg: SimulateRequest, sender: str) -> SimulateReply:
        try:
            plan = ForecastPlan.from_dict(msg.plan)
        except (ValueError, TypeError, KeyError) as e:
            raise Refused("bad_request", f"unusable forecast plan: {e}") from e
        run = functools.partial(simulate_part, plan, msg.start, msg.count, msg.seed, n_chunks=1)
        try:
            part = await anyio.to_thread.run_sync(run)
        except ValueError as e:
            raise Refused("bad_request", str(e)) from e
        return SimulateReply(part.to_dict())
