"""The simulation actor: runs a range of a forecast's Monte Carlo trials for a coordinator.

Each node hosts one, named ``simulator``. A range runs in a worker thread (the kernel
releases the GIL) on one core, as a node is one process per core; the node keeps
heartbeating and serving estimates meanwhile.

A large forecast comes in several parts with the same plan. The plan's beta-PERT tables
take a while to build (about 0.1 s for 200 three-point tasks, most of it in the inverse
incomplete beta function), so the tables of the last few plans are kept and reused, up to
64 MB.
"""

from __future__ import annotations

import functools
import hashlib
from collections import OrderedDict

import anyio
import numpy as np
from numpy.typing import NDArray

from actors import Actor, Refused, handles
from actors.messages import SimulateReply, SimulateRequest
from kernels import ForecastPart, ForecastPlan, simulate_part

SIMULATOR = "simulator"
#: Plans whose PERT tables are kept, and the most bytes they may take together (one plan of
#: 10,000 three-point tasks has 41 MB of tables).
PERT_CACHE_PLANS = 4
PERT_CACHE_BYTES = 64 * 1024 * 1024
#: The largest part a worker takes: its totals and durations (16 bytes a trial) must fit a
#: reply frame, and it must not hold the simulator for long (coordinators ask for at most
#: 262,144 trials and 30 million task-trials a part).
MAX_PART_TRIALS = 1 << 19
MAX_PART_TASK_TRIALS = 100_000_000

PertTables = tuple[NDArray[np.int64], NDArray[np.float64]]


def pert_key(plan: ForecastPlan) -> bytes:
    """A digest of everything a plan's PERT tables are built from."""
    h = hashlib.blake2b(digest_size=16)
    for array in (plan.kind, plan.params, plan.grid_row):
        h.update(np.ascontiguousarray(array).tobytes())
        h.update(str(array.shape).encode())
    return h.digest()


def _nbytes(cache: OrderedDict[bytes, PertTables]) -> int:
    return sum(row.nbytes + tables.nbytes for row, tables in cache.values())


class SimulationWorker(Actor):
    """Simulates the trial ranges it is asked for, one at a time."""

    mailbox_size = 256

    def __init__(self) -> None:
        self._pert: OrderedDict[bytes, PertTables] = OrderedDict()
        #: Parts whose PERT tables came from an earlier part of the same plan.
        self.pert_reused = 0

    @handles(SimulateRequest)
    async def simulate(self, msg: SimulateRequest, sender: str) -> SimulateReply:
        try:
            plan = ForecastPlan.from_dict(msg.plan)
        except (ValueError, TypeError, KeyError, OverflowError) as e:
            raise Refused("bad_request", f"unusable forecast plan: {e}") from e
        if msg.count > MAX_PART_TRIALS or msg.count * plan.n_tasks > MAX_PART_TASK_TRIALS:
            raise Refused("bad_request", f"a part of {msg.count:,} trials of {plan.n_tasks:,} "
                          f"tasks is more than one part may be ({MAX_PART_TRIALS:,} trials, "
                          f"{MAX_PART_TASK_TRIALS:,} task-trials)")
        run = functools.partial(self._simulate, plan, msg.start, msg.count, msg.seed)
        try:
            part = await anyio.to_thread.run_sync(run)
        except ValueError as e:
            raise Refused("bad_request", str(e)) from e
        return SimulateReply(part.to_dict())

    def _simulate(self, plan: ForecastPlan, start: int, count: int, seed: int) -> ForecastPart:
        """One range, with the plan's PERT tables from the cache when they are there (the
        actor handles one message at a time, so only this thread touches the cache)."""
        key = pert_key(plan)
        tables = self._pert.get(key)
        if tables is not None:
            plan.__dict__["pert_tables"] = tables  # the value its cached_property would build
            self.pert_reused += 1
        part = simulate_part(plan, start, count, seed, n_chunks=1)
        self._pert[key] = plan.pert_tables
        self._pert.move_to_end(key)
        while len(self._pert) > PERT_CACHE_PLANS or (
                len(self._pert) > 1 and _nbytes(self._pert) > PERT_CACHE_BYTES):
            self._pert.popitem(last=False)
        if _nbytes(self._pert) > PERT_CACHE_BYTES:  # one plan alone too big to keep
            self._pert.clear()
        return part
