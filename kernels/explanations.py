"""Explanations that come with an estimate: the analogies behind it and the features
that pushed it up or down."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from kernels.features import FeatureRows
from kernels.item_store import ItemStore
from kernels.prediction import Analogy


def analogies_of(
    items: ItemStore, rows: NDArray[np.int64], sims: NDArray[np.float64], n: int
) -> list[tuple[Analogy, ...]]:
    """The first ``n`` neighbours of each query as :class:`Analogy` records, best first."""
    out = []
    for i in range(rows.shape[0]):
        found = []
        for r, s in zip(rows[i, :n], sims[i, :n], strict=True):
            if r >= 0:
                sim = float(min(max(s, -1.0), 1.0))
                found.append(Analogy(items.ids[r], items.titles[r], float(items.efforts[r]), sim))
        out.append(tuple(found))
    return out


def drivers_of(
    rows: FeatureRows, i: int, coef: NDArray[np.float64], text_start: int, n: int
) -> tuple[tuple[str, float], ...]:
    """The ``n`` features of row ``i`` with the largest contribution to the linear model's
    log-effort estimate, as ``(name, contribution)``; hashed text counts as one driver,
    ``"text"``. Needs ``rows`` built with labels."""
    if n == 0:
        return ()
    contributions: dict[str, float] = {}
    for label, pos, value in rows.labels[i]:
        contributions[label] = contributions.get(label, 0.0) + value * float(coef[pos])
    idx, val = rows.row(i)
    text = idx >= text_start
    contributions["text"] = float(val[text] @ coef[idx[text]])
    ranked = sorted(contributions.items(), key=lambda kv: -abs(kv[1]))
    return tuple((name, c) for name, c in ranked[:n] if c != 0.0)
