"""Result types of the estimator: a prediction and the analogies that come with it."""

from __future__ import annotations

from collections.abc import Sequence
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


@dataclass(frozen=True)
class Predictions:
    """Predictions of many items in columns; row ``i`` of each field belongs to item ``i``
    (:meth:`to_list` gives one :class:`Prediction` per item).

    ``quantiles`` is ``(items, levels)``. The analogies of item ``i``, best first, are the
    places of ``analogy_rows[i]`` that are not -1: a row indexes ``analogy_ids`` and
    ``analogy_titles``, and ``analogy_efforts`` and ``analogy_similarities`` (clipped to
    [-1, 1]) are aligned with ``analogy_rows``.
    """

    quantiles: NDArray[np.float64]
    medians: NDArray[np.float64]
    analogy_rows: NDArray[np.int64]
    analogy_efforts: NDArray[np.float64]
    analogy_similarities: NDArray[np.float64]
    analogy_ids: Sequence[str]
    analogy_titles: Sequence[str]
    drivers: list[tuple[tuple[str, float], ...]]

    def __len__(self) -> int:
        return int(self.medians.shape[0])

    def to_list(self) -> list[Prediction]:
        """One :class:`Prediction` per item."""
        ids, titles = self.analogy_ids, self.analogy_titles
        found = [
            tuple(Analogy(ids[r], titles[r], e, s)
                  for r, e, s in zip(r_row, e_row, s_row, strict=True) if r >= 0)
            for r_row, e_row, s_row in zip(self.analogy_rows.tolist(),
                                           self.analogy_efforts.tolist(),
                                           self.analogy_similarities.tolist(), strict=True)
        ]
        return [
            Prediction(quantiles=q, median=m, analogies=a, drivers=d)
            for q, m, a, d in zip(self.quantiles, self.medians.tolist(), found, self.drivers,
                                  strict=True)
        ]
