"""Estimates on a discrete effort scale, such as story points (1, 2, 3, 5, 8, 13, ...).

When a tenant's actuals take only a few distinct values, every actual is one of them, so
the predictive distribution really lives on that support. Its median, the estimate that
minimises the absolute error, is then a support value: the continuous median snapped to
the nearest support value (snapping is monotone, so it commutes with taking a median).
An interval ``[lo, hi]`` holds exactly the support values of ``[ceil(lo), floor(hi)]``,
so moving its ends inwards to the support keeps its coverage and narrows it.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def discrete_support(
    sorted_values: NDArray[np.float64], max_levels: int, min_items: int = 20
) -> NDArray[np.float64] | None:
    """The distinct values of ``sorted_values`` if they form a discrete scale, else None.

    A scale is discrete when there are at least ``min_items`` values and at most
    ``max_levels`` distinct ones, and on average at least four values per level.
    """
    n = sorted_values.shape[0]
    if max_levels < 2 or n < min_items:
        return None
    distinct = np.flatnonzero(np.diff(sorted_values) > 0).shape[0] + 1
    if distinct > max_levels or 4 * distinct > n:
        return None
    return np.unique(sorted_values)


def snap_nearest(values: NDArray[np.float64], support: NDArray[np.float64]) -> NDArray[np.float64]:
    """Each value moved to the nearest support value (the lower one on a tie)."""
    j = np.clip(np.searchsorted(support, values), 1, support.shape[0] - 1)
    lo, hi = support[j - 1], support[j]
    below = values <= support[0]
    out = np.where(np.abs(values - lo) <= np.abs(hi - values), lo, hi)
    return np.where(below, support[0], out)


def snap_up(values: NDArray[np.float64], support: NDArray[np.float64]) -> NDArray[np.float64]:
    """The smallest support value >= each value (the largest one above the support)."""
    j = np.minimum(np.searchsorted(support, values, side="left"), support.shape[0] - 1)
    return support[j]


def snap_down(values: NDArray[np.float64], support: NDArray[np.float64]) -> NDArray[np.float64]:
    """The largest support value <= each value (the smallest one below the support)."""
    j = np.maximum(np.searchsorted(support, values, side="right") - 1, 0)
    return support[j]


def snap_quantiles(
    quantiles: NDArray[np.float64],
    medians: NDArray[np.float64],
    levels: NDArray[np.float64],
    support: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Quantiles ``(n, len(levels))`` and medians ``(n,)`` moved onto the support.

    Quantiles below the median level move up to the support, those above it down
    (inwards). The median goes to the nearest support value, kept inside the innermost
    snapped interval when that holds any support value: a continuous median just above
    the lowest value can round down to it while the interval has already moved past it.
    No quantile crosses the median, so quantiles stay non-decreasing in their levels.
    """
    lower = levels < 0.5
    upper = levels > 0.5
    up = snap_up(quantiles, support)
    down = snap_down(quantiles, support)
    inner_lo = up[:, lower].max(axis=1) if lower.any() else np.full(medians.shape, -np.inf)
    inner_hi = down[:, upper].min(axis=1) if upper.any() else np.full(medians.shape, np.inf)
    med = snap_nearest(medians, support)
    med = np.where(inner_lo <= inner_hi, np.clip(med, inner_lo, inner_hi), med)
    q = np.where(lower[None, :], np.minimum(up, med[:, None]), quantiles)
    q = np.where(upper[None, :], np.maximum(down, med[:, None]), q)
    q = np.where((lower | upper)[None, :], q, med[:, None])
    return q, med
