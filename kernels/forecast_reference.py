"""Plain-numpy reference of the forecast kernel, vectorised over trials.

The same simulation as :func:`kernels.forecast_kernel.simulate_trials`, written with numpy
and scipy (``ndtri``, ``np.interp``) instead of compiled loops: the tests check
the kernel against it, and the benchmark times the kernel against it.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import special

from kernels.forecast import KIND_FIXED, KIND_GRID, KIND_PERT, ForecastPart, ForecastPlan
from kernels.forecast_kernel import PERT_TABLE_Z

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix64(z: NDArray[np.uint64]) -> NDArray[np.uint64]:
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def reference_uniforms(seed: int, trials: NDArray[np.int64], n_draws: int) -> NDArray[np.float64]:
    """``(len(trials), n_draws)`` uniforms: draw ``d`` of trial ``t`` under ``seed``."""
    s = np.array([seed], dtype=np.uint64)
    seed_key = _mix64(s + _GOLDEN)
    keys = _mix64(seed_key ^ _mix64(trials.astype(np.uint64) * _GOLDEN + _GOLDEN))
    draws = (np.arange(n_draws, dtype=np.uint64) + np.uint64(1)) * _GOLDEN
    x = _mix64(keys[:, None] + draws[None, :])
    return ((x >> np.uint64(11)).astype(np.float64) + 0.5) * (1.0 / 9007199254740992.0)


def _efforts(plan: ForecastPlan, u: NDArray[np.float64]) -> NDArray[np.float64]:
    n = plan.n_tasks
    rho = float(plan.correlation)
    a, b = np.sqrt(rho), np.sqrt(1.0 - rho)
    z0 = special.ndtri(u[:, 0]) if rho > 0 else np.zeros(u.shape[0])
    eff = np.empty((u.shape[0], n))
    fixed = np.flatnonzero(plan.kind == KIND_FIXED)
    eff[:, fixed] = plan.params[fixed, 0]
    row, tables = plan.pert_tables
    pert = np.flatnonzero(plan.kind == KIND_PERT)
    if pert.size:
        zp = special.ndtri(u[:, 1 + pert])
        if rho > 0:
            zp = a * z0[:, None] + b * zp
        last = tables.shape[1] - 1
        pos = np.clip((zp + PERT_TABLE_Z) * (last / (2.0 * PERT_TABLE_Z)), 0.0, last)
        j = np.minimum(pos.astype(np.int64), last - 1)
        t = tables[row[pert]]
        lo = np.take_along_axis(t, j.T, axis=1).T
        hi = np.take_along_axis(t, j.T + 1, axis=1).T
        eff[:, pert] = lo + (pos - j) * (hi - lo)
    grid_z = special.ndtri(plan.grid_probs)
    for i in np.flatnonzero(plan.kind == KIND_GRID):
        z = special.ndtri(u[:, 1 + i])
        if rho > 0:
            z = a * z0 + b * z
        g = plan.grid_log[plan.grid_row[i]]
        v = np.interp(z, grid_z, g)
        low, high = z < grid_z[0], z > grid_z[-1]
        v[low] = g[0] + (g[1] - g[0]) / (grid_z[1] - grid_z[0]) * (z[low] - grid_z[0])
        v[high] = g[-1] + (g[-1] - g[-2]) / (grid_z[-1] - grid_z[-2]) * (z[high] - grid_z[-1])
        eff[:, i] = np.exp(v)
    for r in range(plan.risk_prob.shape[0]):
        hit = u[:, 1 + n + r] < plan.risk_prob[r]
        for i in plan.risk_tasks[plan.risk_ptr[r] : plan.risk_ptr[r + 1]]:
            eff[hit, i] += plan.risk_extra[r]
    return eff


def reference_part(plan: ForecastPlan, start: int, count: int, seed: int,
                   chunk: int = 2048) -> ForecastPart:  # fmt: skip
    """What :func:`kernels.forecast.simulate_part` computes, in numpy, ``chunk`` trials
    at a time."""
    n = plan.n_tasks
    totals, durations = np.empty(count), np.empty(count)
    counts = np.zeros(n, np.int64)
    n_sample = max(0, min(start + count, plan.sensitivity_trials) - start)
    sample = np.empty((n_sample, n), np.float32)
    preds = [plan.pred_idx[plan.pred_ptr[i] : plan.pred_ptr[i + 1]] for i in range(n)]
    for lo in range(0, count, chunk):
        hi = min(count, lo + chunk)
        trials = np.arange(start + lo, start + hi, dtype=np.int64)
        eff = _efforts(plan, reference_uniforms(seed, trials, 1 + n + plan.risk_prob.size))
        finish = np.zeros_like(eff)
        for i in plan.order:
            s = finish[:, preds[i]].max(axis=1) if preds[i].size else 0.0
            finish[:, i] = s + eff[:, i]
        dur = finish.max(axis=1)
        late = np.repeat(dur[:, None], n, axis=1)
        for i in plan.order[::-1]:
            if preds[i].size:
                latest_start = (late[:, i] - eff[:, i])[:, None]
                late[:, preds[i]] = np.minimum(late[:, preds[i]], latest_start)
        counts += (finish >= late - 1e-9 * dur[:, None]).sum(axis=0)
        totals[lo:hi] = eff.sum(axis=1)
        durations[lo:hi] = dur
        rows = max(0, min(hi, n_sample) - lo)
        sample[lo : lo + rows] = eff[:rows]
    return ForecastPart(seed=seed, start=start, count=count, totals=totals,
                        durations=durations, critical_counts=counts,
                        sample_efforts=sample)  # fmt: skip
