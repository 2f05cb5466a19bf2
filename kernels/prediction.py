"""Result types of the estimator: a prediction and the analogies that come with it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class Analogy:
    """A learned item similar to the one being estimated, with its actual effort."""

    item_id: str
    title: str
    effort: float
    similarity: float


@dataclass(frozen=True)
class Prediction:
    """Predictive distribution of one item's effort, summarised.

    ``quantiles`` are in effort units, in the order asked, non-decreasing in the asked
    levels and all > 0; ``median`` is the point estimate. ``analogies`` are the most
    similar learned items, best first. ``drivers`` name the features that moved the
    estimate, as ``(name, contribution to log effort)``, largest magnitude first; hashed
    text counts as the single driver ``"text"``.
    """

    quantiles: NDArray[np.float64]
    median: float
    analogies: tuple[Analogy, ...]
    drivers: tuple[tuple[str, float], ...]
