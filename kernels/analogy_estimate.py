"""Effort estimates from analogies: a similarity-weighted mean of the neighbours' log
efforts, each adjusted for how the item differs from the neighbour in its structured
features (size, categories) by the linear model's coefficients on those features.

Adjusting analogies by a fitted size effect is what keeps analogy-based estimation
accurate on project-level data, where the nearest projects can still differ in size by
a factor of several.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray


@njit(cache=True, nogil=True)
def _head_score(
    indices: NDArray[np.int32] | NDArray[np.uint16],
    values: NDArray[np.float64] | NDArray[np.float32],
    lo: int,
    hi: int,
    coef: NDArray[np.float64],
    adjust_from: int,
    adjust_to: int,
) -> float:
    # A row's coordinates increase, so its structured head ends at the first one past
    # ``adjust_to``: a long description's text coordinates are never visited.
    acc = 0.0
    for k in range(lo, hi):
        c = np.int64(indices[k])
        if c >= adjust_to:
            break
        if c >= adjust_from:
            acc += np.float64(values[k]) * coef[c]
    return acc


@njit(cache=True, nogil=True)
def analogy_estimates(
    neighbours: NDArray[np.int64],
    sims: NDArray[np.float64],
    k_use: int,
    log_efforts: NDArray[np.float64],
    q_indptr: NDArray[np.int64],
    q_indices: NDArray[np.int32],
    q_values: NDArray[np.float64],
    indptr: NDArray[np.int64],
    indices: NDArray[np.uint16],
    values: NDArray[np.float32],
    coefs: NDArray[np.float64],
    adjust_from: int,
    adjust_to: int,
    power: float,
) -> NDArray[np.float64]:
    """Log-effort estimate of each query from its first ``k_use`` valid neighbours.

    ``neighbours[i]`` are stored rows (-1 = none, skipped) with similarities ``sims[i]``.
    Neighbour ``r`` proposes ``log_efforts[r] + s(q) - s(r)``, where ``s`` sums
    ``value * coef`` over coordinates in ``[adjust_from, adjust_to)``; proposals are
    averaged with weights ``max(sim, 0) ** power`` (equal weights if all are 0).
    NaN where a query has no valid neighbour. ``coefs`` holds one row of coefficients for
    every query, or one row per query (leave-one-out estimates of learned items use the
    coefficients fitted without each item). Every row's coordinates must increase, as
    :class:`kernels.features.Featurizer` writes them.
    """
    n_q = neighbours.shape[0]
    out = np.full(n_q, np.nan)
    for i in range(n_q):
        coef = coefs[i] if coefs.shape[0] > 1 else coefs[0]
        sq = _head_score(q_indices, q_values, q_indptr[i], q_indptr[i + 1], coef,
                         adjust_from, adjust_to)  # fmt: skip
        total_w = 0.0
        total = 0.0
        plain = 0.0
        used = 0
        for j in range(neighbours.shape[1]):
            r = neighbours[i, j]
            if r < 0:
                continue
            if used == k_use:
                break
            used += 1
            sr = _head_score(indices, values, indptr[r], indptr[r + 1], coef,
                             adjust_from, adjust_to)  # fmt: skip
            proposal = log_efforts[r] + sq - sr
            w = max(sims[i, j], 0.0) ** power
            total_w += w
            total += w * proposal
            plain += proposal
        if used > 0:
            out[i] = total / total_w if total_w > 1e-12 else plain / used
    return out
