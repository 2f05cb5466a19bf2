"""Speed of the Monte Carlo forecast kernel against the vectorised numpy implementation.

``python -m bench.forecast_speed [--trials 10000] [--tasks 1000]`` builds a random project
(each task depends on up to three earlier ones; a mix of beta-PERT, quantile-grid and
fixed tasks, a few risk events, correlation 0.3), checks that both implementations agree,
and prints the time of each, their ratio, and trials per second per core with one Numba
thread and with all of them (``numba.set_num_threads``).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numba
import numpy as np
from scipy import special

from kernels.forecast import GRID_PROBS, KIND_FIXED, KIND_GRID, KIND_PERT, ForecastPlan
from kernels.forecast import simulate_part as numba_part
from kernels.forecast_reference import reference_part


def random_project(n_tasks: int, seed: int = 0) -> ForecastPlan:
    """A random acyclic project of ``n_tasks`` tasks (input order is topological)."""
    rng = np.random.default_rng(seed)
    preds = [sorted({int(j) for j in rng.integers(0, i, size=rng.integers(0, 4))}) if i else []
             for i in range(n_tasks)]  # fmt: skip
    kind = rng.choice([KIND_PERT, KIND_GRID, KIND_FIXED], size=n_tasks, p=[0.6, 0.3, 0.1])
    params = np.sort(rng.uniform(1.0, 20.0, size=(n_tasks, 3)), axis=1)
    grid_tasks = np.flatnonzero(kind == KIND_GRID)
    grid_row = np.full(n_tasks, -1, np.int64)
    grid_row[grid_tasks] = np.arange(grid_tasks.size)
    mu = rng.uniform(0.5, 2.5, size=(grid_tasks.size, 1))
    grid_log = mu + rng.uniform(0.3, 0.8, size=(grid_tasks.size, 1)) * special.ndtri(GRID_PROBS)
    n_risks = max(1, n_tasks // 100)
    risk_tasks = rng.integers(0, n_tasks, size=(n_risks, 3))
    plan = ForecastPlan(
        task_ids=tuple(f"t{i}" for i in range(n_tasks)),
        order=np.arange(n_tasks, dtype=np.int64),
        pred_ptr=np.concatenate([[0], np.cumsum([len(p) for p in preds])]).astype(np.int64),
        pred_idx=np.asarray([p for ps in preds for p in ps], np.int64),
        kind=kind.astype(np.int8), params=params, grid_row=grid_row, grid_log=grid_log,
        risk_ids=tuple(f"r{j}" for j in range(n_risks)),
        risk_prob=rng.uniform(0.05, 0.3, size=n_risks),
        risk_extra=rng.uniform(1.0, 10.0, size=n_risks),
        risk_ptr=np.arange(0, 3 * n_risks + 1, 3, dtype=np.int64),
        risk_tasks=np.sort(risk_tasks, axis=1).ravel().astype(np.int64),
        correlation=0.3)  # fmt: skip
    plan.check()
    return plan


def best_of(repeat: int, fn: Callable[[], object]) -> float:
    """The fastest of ``repeat`` wall-clock timings of ``fn()``."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its numbers."""
    p = argparse.ArgumentParser(prog="python -m bench.forecast_speed")
    p.add_argument("--trials", type=int, default=10_000)
    p.add_argument("--tasks", type=int, default=1_000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--seed", type=int, default=42)
    args = p.parse_args(argv)
    plan = random_project(args.tasks)
    threads = numba.get_num_threads()
    print(f"project: {args.tasks} tasks, {plan.pred_idx.size} dependencies, "
          f"{plan.risk_prob.size} risk events; {args.trials:,} trials")  # fmt: skip
    t0 = time.perf_counter()
    numba_part(plan, 0, 10, args.seed)
    print(f"first call (compile or load cache, PERT tables): {time.perf_counter() - t0:.2f}s")

    check = numba_part(plan, 0, 500, args.seed)
    ref = reference_part(plan, 0, 500, args.seed)
    agree = np.allclose(check.totals, ref.totals, rtol=1e-10) and np.array_equal(
        check.critical_counts, ref.critical_counts)
    print(f"numba and numpy agree on 500 trials: {agree}")

    t_numpy = best_of(1, lambda: reference_part(plan, 0, args.trials, args.seed))
    t_all = best_of(args.repeat, lambda: numba_part(plan, 0, args.trials, args.seed))
    numba.set_num_threads(1)
    try:
        t_one = best_of(args.repeat, lambda: numba_part(plan, 0, args.trials, args.seed))
    finally:
        numba.set_num_threads(threads)
    rows = [("numpy (vectorised over trials)", t_numpy, 1),
            ("numba, 1 thread", t_one, 1), (f"numba, {threads} threads", t_all, threads)]
    print(f"{'implementation':<32}{'seconds':>10}{'trials/s':>14}{'trials/s/core':>16}")
    for name, t, cores in rows:
        rate = args.trials / t
        print(f"{name:<32}{t:>10.3f}{rate:>14,.0f}{rate / cores:>16,.0f}")
    print(f"speed-up of numba over numpy: {t_numpy / t_one:.1f}x on one thread, "
          f"{t_numpy / t_all:.1f}x on {threads}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
