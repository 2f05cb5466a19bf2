"""How well this machine itself scales CPU-bound processes: the ceiling for node scaling.

    python -m bench.cpu_ceiling [--processes 1,2,4,8] [--seconds 5] [--tasks 200]

Runs K copies of the forecast kernel (one Numba thread each, as a node runs it) side by side
for the same wall time, and reports the work done against K times one process's. Nothing
but the kernel runs: no network, no Python between calls worth counting. So the efficiency
printed is what the hardware gives K busy processes (shared caches and memory bandwidth,
all-core clock speeds, SMT siblings where the cores are hyper-threads), and a cluster's node
scaling measured in the same run can be read against it.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import time
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier

#: Trials per kernel call: short enough to stop near the deadline, long enough that the
#: call's own overhead does not count.
CALL_TRIALS = 2_000


def _worker(tasks: int, seconds: float, start: Barrier, out: Queue[float]) -> None:
    os.environ["NUMBA_NUM_THREADS"] = "1"
    from bench.forecast_speed import random_project
    from kernels.forecast import simulate_part

    plan = random_project(tasks)
    simulate_part(plan, 0, 100, 1, n_chunks=1)  # compile or load the cache, build tables
    start.wait()
    done, t0 = 0, time.perf_counter()
    deadline = t0 + seconds
    while time.perf_counter() < deadline:
        simulate_part(plan, done, CALL_TRIALS, 1, n_chunks=1)
        done += CALL_TRIALS
    out.put(done / (time.perf_counter() - t0))


def measure(k: int, tasks: int, seconds: float) -> list[float]:
    """Trials per second of each of ``k`` kernel processes running at once."""
    ctx = mp.get_context("spawn")
    start, out = ctx.Barrier(k), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(tasks, seconds, start, out)) for _ in range(k)]
    for p in procs:
        p.start()
    rates = [out.get(timeout=seconds + 300) for _ in procs]
    for p in procs:
        p.join()
    return rates


def main(argv: list[str] | None = None) -> int:
    """Print each process count's total rate and its efficiency against one process."""
    p = argparse.ArgumentParser(prog="python -m bench.cpu_ceiling", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--processes", default="1,2,4,8",
                   help="process counts to run, comma-separated; must include 1")
    p.add_argument("--seconds", type=float, default=5.0, help="measured seconds per count")
    p.add_argument("--tasks", type=int, default=200, help="tasks in the kernel's project")
    args = p.parse_args(argv)
    try:
        counts = sorted({int(x) for x in args.processes.split(",")})
    except ValueError:
        p.error("--processes takes whole numbers separated by commas, e.g. 1,2,4,8")
    if not counts or counts[0] != 1 or args.seconds <= 0 or args.tasks < 1:
        p.error("--processes must include 1; --seconds and --tasks must be positive")
    print(f"forecast kernel, {args.tasks} tasks, one thread per process, "
          f"{args.seconds:g} s per count; {os.cpu_count()} CPUs")
    print("| processes | trials/s in all | per process (min-max) | efficiency |")
    print("|---|---|---|---|")
    base = 0.0
    for k in counts:
        rates = measure(k, args.tasks, args.seconds)
        total = sum(rates)
        base = base or total
        print(f"| {k} | {total:,.0f} | {min(rates):,.0f}-{max(rates):,.0f} | "
              f"{total / (k * base):.0%} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
