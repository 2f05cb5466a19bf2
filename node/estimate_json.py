"""Estimate results written for the HTTP API: quantiles and medians as arrays, and each
item's analogies and drivers as JSON arrays in the API's shape. The coordinator embeds the
JSON as it is, so a result is encoded once, here, instead of as msgpack maps that the
coordinator decodes and encodes again."""

from __future__ import annotations

import numpy as np
import orjson
from numpy.typing import NDArray

from kernels import Predictions

#: Per item: its analogies and its drivers, as JSON arrays.
Rendered = tuple[list[bytes], list[bytes]]


def render(preds: Predictions) -> Rendered:
    """Each item's ``[{"id", "title", "effort", "similarity"}, ...]`` (best first) and
    ``[{"feature", "effect"}, ...]`` (largest effect first)."""
    ids, titles, dumps = preds.analogy_ids, preds.analogy_titles, orjson.dumps
    analogies = [
        dumps([{"id": ids[r], "title": titles[r], "effort": e, "similarity": s}
               for r, e, s in zip(r_row, e_row, s_row, strict=True) if r >= 0])
        for r_row, e_row, s_row in zip(preds.analogy_rows.tolist(),
                                       preds.analogy_efforts.tolist(),
                                       preds.analogy_similarities.tolist(), strict=True)
    ]
    drivers = [dumps([{"feature": name, "effect": v} for name, v in row])
               for row in preds.drivers]
    return analogies, drivers


def columns(preds: Predictions, rendered: Rendered, start: int, end: int
            ) -> tuple[NDArray[np.float64], NDArray[np.float64], list[bytes], list[bytes]]:
    """Items ``start:end``: ``(quantiles (items x levels), medians, analogies, drivers)``."""
    analogies, drivers = rendered
    return (np.ascontiguousarray(preds.quantiles[start:end]),
            np.ascontiguousarray(preds.medians[start:end]),
            analogies[start:end], drivers[start:end])
