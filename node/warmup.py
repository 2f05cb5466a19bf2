"""Compile (or load from Numba's cache) every kernel path before the node joins the ring.

A node that joined before its kernels were compiled would stall its event loop for seconds
on the first request (no heartbeats, no answers) and be declared dead. The workload goes
through the public estimator API only, so it follows whatever paths the kernels take:
a large batch (the block update), single updates, single and batch predictions, a refit.
"""

from __future__ import annotations

import time

import numpy as np

from kernels import Estimator, EstimatorConfig, ForecastPlan, simulate_part
from kernels.forecast import GRID_PROBS, KIND_FIXED, KIND_GRID, KIND_PERT

_WORDS = ("login", "billing", "report", "export", "migrate", "cache", "search", "api", "ui")


def warm_up(items: int = 1000) -> float:
    """Exercise the estimator end to end; return the seconds it took."""
    start = time.perf_counter()
    rng = np.random.default_rng(0)
    titles = [" ".join(rng.choice(_WORDS, size=4)) for _ in range(items)]
    features = [{"size": float(rng.integers(1, 20)), "team": str(rng.choice(["a", "b"])),
                 "missing": None} for _ in range(items)]
    efforts = rng.lognormal(1.0, 0.8, size=items)
    est = Estimator(EstimatorConfig())
    est.learn_many([f"w{i}" for i in range(items)], titles, [""] * items, features, efforts)
    for i in range(3):
        est.learn(f"s{i}", titles[i], "warm-up", features[i], float(efforts[i]))
    est.learn("s0", titles[0], "warm-up", features[0], 2.0)  # replacing an actual
    q = np.array([0.1, 0.5, 0.9])
    est.predict(titles[0], "", features[0], q)
    est.predict_many(titles[:16], [""] * 16, features[:16], q)
    Estimator.from_state(est.to_state()).predict(titles[1], "", {}, q)
    # The background refit's kernels too: compiled in the refit's worker thread, they would
    # hold the GIL, and with it the event loop, for seconds the first time a tenant is refitted.
    est.refit().predict(titles[2], "", features[2], q)
    _warm_forecast()
    return time.perf_counter() - start


def _warm_forecast() -> None:
    """A three-task forecast touching every distribution kind, a risk and correlation."""
    grid = np.log(np.interp(GRID_PROBS, [0.0, 1.0], [2.0, 9.0]))[None, :]
    plan = ForecastPlan(
        task_ids=("fixed", "pert", "model"),
        order=np.array([0, 1, 2], dtype=np.int64),
        pred_ptr=np.array([0, 0, 1, 2], dtype=np.int64),
        pred_idx=np.array([0, 1], dtype=np.int64),
        kind=np.array([KIND_FIXED, KIND_PERT, KIND_GRID], dtype=np.int8),
        params=np.array([[1.0, 0, 0], [1.0, 2.0, 4.0], [0, 0, 0]]),
        grid_row=np.array([-1, -1, 0], dtype=np.int64),
        grid_log=grid,
        risk_ids=("r",),
        risk_prob=np.array([0.5]),
        risk_extra=np.array([1.0]),
        risk_ptr=np.array([0, 1], dtype=np.int64),
        risk_tasks=np.array([1], dtype=np.int64),
        correlation=0.3,
    )
    plan.check()
    simulate_part(plan, 0, 256, 1, n_chunks=1)
