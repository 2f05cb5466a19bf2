"""Estimate results written for the HTTP API: quantiles and medians as arrays, and each
item's analogies and drivers as JSON arrays in the API's shape. The coordinator embeds the
JSON as it is, so a result is encoded once, here, instead of as msgpack maps that the
coordinator decodes and encodes again."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import orjson
from numpy.typing import NDArray

from kernels import Prediction


def analogies_json(p: Prediction) -> bytes:
    """``[{"id", "title", "effort", "similarity"}, ...]``, best first."""
    return orjson.dumps([
        {"id": a.item_id, "title": a.title, "effort": float(a.effort),
         "similarity": float(a.similarity)}
        for a in p.analogies
    ])


def drivers_json(p: Prediction) -> bytes:
    """``[{"feature", "effect"}, ...]``, largest effect first."""
    return orjson.dumps([{"feature": name, "effect": float(v)} for name, v in p.drivers])


def columns(preds: Sequence[Prediction], n_levels: int
            ) -> tuple[NDArray[np.float64], NDArray[np.float64], list[bytes], list[bytes]]:
    """``(quantiles (items x levels), medians, analogies JSON, drivers JSON)``."""
    quantiles = np.empty((len(preds), n_levels), dtype=np.float64)
    for i, p in enumerate(preds):
        quantiles[i] = p.quantiles
    medians = np.fromiter((p.median for p in preds), dtype=np.float64, count=len(preds))
    return (quantiles, medians, [analogies_json(p) for p in preds],
            [drivers_json(p) for p in preds])
