"""Accuracy measures used in effort-estimation research, on one set of held-out predictions.

Point estimates: MAE, MdAE, SA (standardised accuracy against random guessing), MMRE and
Pred(25). Intervals: coverage of the nominal 80% interval and its mean width. Random
guessing predicts each held-out item by the actual of a training item drawn at random
from that item's own training set; SA uses the mean MAE of many such runs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import NDArray

#: Runs of random guessing behind SA, as in the literature.
RANDOM_GUESS_RUNS = 1000


@dataclass(frozen=True)
class Scores:
    """Accuracy of one model on one set of held-out predictions (lower is better for errors)."""

    mae: float
    mdae: float
    sa: float
    mmre: float
    pred25: float
    coverage80: float
    width80: float

    def as_dict(self) -> dict[str, float]:
        """The scores keyed by their JSON names."""
        return asdict(self)


def random_guess_mae(
    actual: NDArray[np.float64],
    pools: list[NDArray[np.float64]],
    pool_of: NDArray[np.int64],
    rng: np.random.Generator,
    runs: int = RANDOM_GUESS_RUNS,
) -> float:
    """Mean over ``runs`` of the MAE of random guessing.

    ``pools[j]`` holds the training actuals of split ``j``; held-out item ``i`` was
    predicted from pool ``pool_of[i]``, and random guessing draws its guess there.
    """
    total = np.zeros(runs)
    for j, pool in enumerate(pools):
        members = np.flatnonzero(pool_of == j)
        if members.size == 0:
            continue
        draws = pool[rng.integers(0, pool.shape[0], size=(runs, members.size))]
        total += np.abs(draws - actual[members][None, :]).sum(axis=1)
    return float(np.mean(total / actual.shape[0]))


def score(
    actual: NDArray[np.float64],
    point: NDArray[np.float64],
    low: NDArray[np.float64],
    high: NDArray[np.float64],
    guess_mae: float,
) -> Scores:
    """Scores of point estimates and 80% intervals ``[low, high]`` against ``actual``.

    ``guess_mae`` is the random-guessing MAE of the same held-out items (see
    :func:`random_guess_mae`). Raises ValueError on empty or mismatched inputs.
    """
    if actual.ndim != 1 or actual.size == 0:
        raise ValueError("need at least one held-out prediction")
    if not point.shape == low.shape == high.shape == actual.shape:
        raise ValueError("actual, point, low and high must have the same shape")
    err = np.abs(actual - point)
    mae = float(np.mean(err))
    mre = err / actual
    return Scores(
        mae=mae,
        mdae=float(np.median(err)),
        sa=float(100.0 * (1.0 - mae / guess_mae)) if guess_mae > 0 else float("nan"),
        mmre=float(np.mean(mre)),
        pred25=float(np.mean(mre <= 0.25)),
        coverage80=float(np.mean((low <= actual) & (actual <= high))),
        width80=float(np.mean(high - low)),
    )
