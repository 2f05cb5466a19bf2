"""The Monte Carlo project-forecast kernel: trials over a task graph, compiled with Numba.

Every random number is a pure function of ``(seed, trial index, draw index)``: a
SplitMix64 stream keyed by the seed and the trial. A trial therefore comes out the same
whichever part of a split forecast simulates it, which is what lets parts computed on
different nodes merge exactly.

Draw indices within a trial: ``0`` is the shared latent factor, ``1 + i`` is task ``i``
(input order), ``1 + n_tasks + r`` is risk event ``r``.

All jitted helpers live in this module: Numba's on-disk cache does not notice changes
in helpers defined elsewhere.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange
from numpy.typing import NDArray

#: Distribution kinds of a task.
KIND_FIXED, KIND_PERT, KIND_GRID = 0, 1, 2
#: beta-PERT tables span normal scores [-PERT_TABLE_Z, PERT_TABLE_Z] (see ``table_value``).
PERT_TABLE_Z = 8.5


@njit(cache=True, inline="always")
def mix64(z: np.uint64) -> np.uint64:
    """The SplitMix64 finaliser (a bijective 64-bit mix)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(cache=True)
def trial_key(seed: np.uint64, trial: int) -> np.uint64:
    """The stream key of one trial: a mix of the seed and the trial index."""
    g = np.uint64(0x9E3779B97F4A7C15)
    return mix64(mix64(seed + g) ^ mix64(np.uint64(trial) * g + g))


@njit(cache=True)
def draw_uniform(key: np.uint64, draw: int) -> float:
    """Draw ``draw`` of the stream ``key``, uniform on the open interval (0, 1)."""
    x = mix64(key + np.uint64(draw + 1) * np.uint64(0x9E3779B97F4A7C15))
    return (np.float64(x >> np.uint64(11)) + 0.5) * (1.0 / 9007199254740992.0)


@njit(cache=True)
def norm_cdf(x: float) -> float:
    """The standard normal CDF."""
    return 0.5 * math.erfc(-x * 0.7071067811865476)


@njit(cache=True)
def norm_ppf(p: float) -> float:
    """The standard normal quantile (Acklam's approximation and one Halley step)."""
    if p <= 0.0:
        return -np.inf
    if p >= 1.0:
        return np.inf
    a0, a1, a2 = -3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02
    a3, a4, a5 = 1.383577518672690e02, -3.066479806614716e01, 2.506628277459239e00
    b0, b1, b2 = -5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02
    b3, b4 = 6.680131188771972e01, -1.328068155288572e01
    c0, c1, c2 = -7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00
    c3, c4, c5 = -2.549732539343734e00, 4.374664141464968e00, 2.938163982698783e00
    d0, d1, d2, d3 = 7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00, (
        3.754408661907416e00)
    if p < 0.02425:
        q = math.sqrt(-2.0 * math.log(p))
        x = (((((c0 * q + c1) * q + c2) * q + c3) * q + c4) * q + c5) / (
            (((d0 * q + d1) * q + d2) * q + d3) * q + 1.0)
    elif p > 1.0 - 0.02425:
        q = math.sqrt(-2.0 * math.log(1.0 - p))
        x = -(((((c0 * q + c1) * q + c2) * q + c3) * q + c4) * q + c5) / (
            (((d0 * q + d1) * q + d2) * q + d3) * q + 1.0)
    else:
        q = p - 0.5
        r = q * q
        x = (((((a0 * r + a1) * r + a2) * r + a3) * r + a4) * r + a5) * q / (
            ((((b0 * r + b1) * r + b2) * r + b3) * r + b4) * r + 1.0)
    # One Halley step brings the approximation (relative error ~1e-9) to full precision.
    e = norm_cdf(x) - p
    u = e * 2.5066282746310002 * math.exp(0.5 * x * x)
    return x - u / (1.0 + 0.5 * x * u)


@njit(cache=True)
def grid_value(z: float, grid_z: NDArray[np.float64], grid_log: NDArray[np.float64],
               r: int) -> float:
    """Log effort at normal score ``z`` from quantile grid row ``r``: linear between grid points,
    extended with the slope of the end segments beyond them (exact for a log-normal)."""
    g = grid_z.shape[0]
    if z <= grid_z[0]:
        j = 0
    elif z >= grid_z[g - 1]:
        j = g - 2
    else:
        lo, hi = 0, g - 1
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if grid_z[mid] <= z:
                lo = mid
            else:
                hi = mid
        j = lo
    slope = (grid_log[r, j + 1] - grid_log[r, j]) / (grid_z[j + 1] - grid_z[j])
    return grid_log[r, j] + slope * (z - grid_z[j])


@njit(cache=True)
def table_value(z: float, tables: NDArray[np.float64], r: int) -> float:
    """Inverse CDF at normal score ``z`` from row ``r``, tabulated at evenly spaced normal
    scores over [-PERT_TABLE_Z, PERT_TABLE_Z]: interpolated, and the ends beyond them."""
    last = tables.shape[1] - 1
    pos = (z + PERT_TABLE_Z) * (last / (2.0 * PERT_TABLE_Z))
    if pos <= 0.0:
        return tables[r, 0]
    if pos >= last:
        return tables[r, last]
    j = min(int(pos), last - 1)
    frac = pos - j
    return tables[r, j] + frac * (tables[r, j + 1] - tables[r, j])


@njit(cache=True, parallel=True, nogil=True)
def simulate_trials(
    start: int,
    count: int,
    seed: np.uint64,
    order: NDArray[np.int64],
    pred_ptr: NDArray[np.int64],
    pred_idx: NDArray[np.int64],
    kind: NDArray[np.int8],
    value: NDArray[np.float64],
    row: NDArray[np.int64],
    tables: NDArray[np.float64],
    grid_z: NDArray[np.float64],
    grid_log: NDArray[np.float64],
    risk_prob: NDArray[np.float64],
    risk_extra: NDArray[np.float64],
    risk_ptr: NDArray[np.int64],
    risk_tasks: NDArray[np.int64],
    rho: float,
    sample_limit: int,
    n_chunks: int,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64], NDArray[np.float32]]:
    """Simulate trials ``start .. start+count-1``.

    Task ``i`` is fixed (``value[i]``), beta-PERT (inverse CDF in ``tables[row[i]]``, by
    normal score) or a log-scale quantile grid (``grid_log[row[i]]`` at normal scores
    ``grid_z``). With ``rho > 0`` a task's normal score is ``sqrt(rho) Z + sqrt(1 - rho)
    eps``. A risk event that occurs adds its extra effort to each task it lists.

    Returns per-trial total effort and critical-path duration, per-task counts of trials
    in which the task has zero slack, and the efforts of trials with index below
    ``sample_limit`` (rows in trial order, float32).
    """
    n = order.shape[0]
    n_risk = risk_prob.shape[0]
    totals = np.empty(count)
    durations = np.empty(count)
    n_sample = max(0, min(start + count, sample_limit) - start)
    sample = np.empty((n_sample, n), np.float32)
    n_chunks = max(1, min(n_chunks, count))
    crit = np.zeros((n_chunks, n), np.int64)
    chunk = (count + n_chunks - 1) // n_chunks
    a = math.sqrt(rho)
    b = math.sqrt(1.0 - rho)
    for c in prange(n_chunks):
        eff = np.empty(n)
        finish = np.empty(n)
        late = np.empty(n)
        for k in range(c * chunk, min(count, (c + 1) * chunk)):
            key = trial_key(seed, start + k)
            z0 = norm_ppf(draw_uniform(key, 0)) if rho > 0.0 else 0.0
            for i in range(n):
                if kind[i] == 0:
                    eff[i] = value[i]
                    continue
                z = norm_ppf(draw_uniform(key, 1 + i))
                if rho > 0.0:
                    z = a * z0 + b * z
                if kind[i] == 1:
                    eff[i] = table_value(z, tables, row[i])
                else:
                    eff[i] = math.exp(grid_value(z, grid_z, grid_log, row[i]))
            for r in range(n_risk):
                if draw_uniform(key, 1 + n + r) < risk_prob[r]:
                    for q in range(risk_ptr[r], risk_ptr[r + 1]):
                        eff[risk_tasks[q]] += risk_extra[r]
            total = 0.0
            dur = 0.0
            for j in range(n):
                i = order[j]
                s = 0.0
                for q in range(pred_ptr[i], pred_ptr[i + 1]):
                    f = finish[pred_idx[q]]
                    if f > s:
                        s = f
                finish[i] = s + eff[i]
                total += eff[i]
                if finish[i] > dur:
                    dur = finish[i]
            totals[k] = total
            durations[k] = dur
            # Backward pass: latest finish times; zero slack (to rounding) = critical.
            for i in range(n):
                late[i] = dur
            for j in range(n - 1, -1, -1):
                i = order[j]
                latest_start = late[i] - eff[i]
                for q in range(pred_ptr[i], pred_ptr[i + 1]):
                    p = pred_idx[q]
                    if latest_start < late[p]:
                        late[p] = latest_start
            tol = 1e-9 * dur
            for i in range(n):
                if finish[i] >= late[i] - tol:
                    crit[c, i] += 1
            if k < n_sample:
                for i in range(n):
                    sample[k, i] = np.float32(eff[i])
    counts = np.zeros(n, np.int64)
    for c in range(n_chunks):
        counts += crit[c]
    return totals, durations, counts, sample
