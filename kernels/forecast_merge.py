"""Merging forecast parts into one summary, exactly.

Parts must tile one contiguous range of trial indices (any split, any order). The merged
statistics are those of the union of trials, not combinations of per-part statistics:
percentiles and histograms come from the concatenated per-trial values (in trial order),
histogram bins from the union's minimum and maximum, criticality from summed integer
counts. Sensitivity (Spearman rank correlation of a task's effort with the project
duration) uses the union's trials with index below the plan's ``sensitivity_trials``, a
subsample that does not depend on the split.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from kernels.forecast import ForecastPart, ForecastPlan

__all__ = ["ForecastSummary", "OutcomeSummary", "merge_parts", "summarise"]


@dataclass(frozen=True, eq=False)
class OutcomeSummary:
    """Distribution of one outcome (total effort or duration) over the trials.

    ``values[j]`` is the ``percentiles[j]``-th percentile (linear interpolation between
    order statistics); ``counts[k]`` trials fall in ``[edges[k], edges[k+1])``, the last
    bin closed.
    """

    mean: float
    std: float
    minimum: float
    maximum: float
    percentiles: NDArray[np.float64]
    values: NDArray[np.float64]
    edges: NDArray[np.float64]
    counts: NDArray[np.int64]


@dataclass(frozen=True, eq=False)
class ForecastSummary:
    """The merged forecast: both outcomes and per-task risk drivers (input task order)."""

    seed: int
    start: int
    trials: int
    effort: OutcomeSummary
    duration: OutcomeSummary
    criticality: NDArray[np.float64]
    sensitivity: NDArray[np.float64]
    sensitivity_trials: int
    simulation_s: float


def summarise(values: NDArray[np.float64], percentiles: NDArray[np.float64],
              bins: int) -> OutcomeSummary:  # fmt: skip
    """Mean, spread, percentiles and an equal-width histogram of ``values``."""
    lo, hi = float(values.min()), float(values.max())
    try:
        if lo == hi:  # every trial the same (numpy would widen the range by 0.5 each side)
            raise ValueError("one value")
        counts, edges = np.histogram(values, bins=bins, range=(lo, hi))
    except ValueError:  # also a range too narrow for ``bins`` distinct edges at its magnitude
        counts, edges = np.array([values.size]), np.array([lo, hi])
    return OutcomeSummary(mean=float(values.mean()), std=float(values.std()), minimum=lo,
                          maximum=hi, percentiles=percentiles.copy(),
                          values=np.percentile(values, percentiles),
                          edges=edges, counts=counts.astype(np.int64))  # fmt: skip


def _average_ranks(rows: NDArray[np.float32]) -> NDArray[np.float64]:
    """``stats.rankdata(rows, axis=1)``, faster: a row without ties is ranked by one
    argsort (scipy's stable sort is several times slower), a row with ties by scipy."""
    order = np.argsort(rows, axis=1)
    ranks = np.empty(rows.shape)
    np.put_along_axis(ranks, order, np.arange(1.0, rows.shape[1] + 1.0)[None, :], axis=1)
    tied = (np.diff(np.take_along_axis(rows, order, axis=1), axis=1) == 0).any(axis=1)
    if tied.any():
        ranks[tied] = stats.rankdata(rows[tied], axis=1)
    return ranks


def _spearman(efforts: NDArray[np.float32], durations: NDArray[np.float64]) -> NDArray[np.float64]:
    """Rank correlation of each column with ``durations``; 0 where either is constant."""
    n_tasks = efforts.shape[1]
    if efforts.shape[0] < 3:
        return np.zeros(n_tasks)
    ranks = _average_ranks(np.ascontiguousarray(efforts.T)).T
    ranks -= ranks.mean(axis=0)
    d = stats.rankdata(durations)
    d -= d.mean()
    denom = np.sqrt((ranks * ranks).sum(axis=0) * float(d @ d))
    num = ranks.T @ d
    out = np.zeros(n_tasks)
    ok = denom > 0
    out[ok] = num[ok] / denom[ok]
    return out


def merge_parts(
    plan: ForecastPlan,
    parts: Sequence[ForecastPart],
    percentiles: Sequence[float],
    bins: int,
) -> ForecastSummary:
    """Combine parts of one forecast (same plan and seed) into the forecast of their union.

    ``percentiles`` are in (0, 100); ``bins`` is the number of histogram bins. Raises
    ``ValueError`` if the parts are empty, mix seeds, or do not tile a contiguous range.
    """
    if not parts:
        raise ValueError("no forecast parts to merge")
    ordered = sorted(parts, key=lambda p: p.start)
    if len({p.seed for p in ordered}) != 1:
        raise ValueError("forecast parts come from different seeds")
    for a, b in pairwise(ordered):
        if a.start + a.count != b.start:
            raise ValueError(f"forecast parts leave a gap or overlap at trial {a.start + a.count}")
    if any(p.critical_counts.shape != (plan.n_tasks,) for p in ordered):
        raise ValueError("forecast parts do not match the plan's tasks")
    q = np.asarray(percentiles, dtype=np.float64)
    if q.size and (q.min() <= 0 or q.max() >= 100):
        raise ValueError("percentiles must be in (0, 100)")
    totals = np.concatenate([p.totals for p in ordered])
    durations = np.concatenate([p.durations for p in ordered])
    counts = np.sum([p.critical_counts for p in ordered], axis=0)
    sample = np.concatenate([p.sample_efforts for p in ordered], axis=0)
    start = ordered[0].start
    # Sample rows are the union's trials start .. start+len(sample)-1, in order.
    sensitivity = _spearman(sample, durations[: sample.shape[0]])
    return ForecastSummary(
        seed=ordered[0].seed, start=start, trials=int(totals.size),
        effort=summarise(totals, q, bins), duration=summarise(durations, q, bins),
        criticality=counts / totals.size, sensitivity=sensitivity,
        sensitivity_trials=int(sample.shape[0]),
        simulation_s=float(sum(p.elapsed_s for p in ordered)))  # fmt: skip
