"""The calls a tenant actor makes of its model, as plain functions (some run in a worker
thread): teaching a batch of actuals, predicting, and a prediction as a reply entry."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from kernels import Estimator, Prediction, Predictions
from node import estimate_json

log = logging.getLogger("reckon.node.estimator")

#: What one event teaches the model: item id, the item (title, description, features), effort.
Learn = tuple[str, dict[str, Any], float]


def learn(model: Estimator, batch: list[Learn]) -> None:
    """Teach ``batch``; if the model refuses it, each item on its own, skipping those it
    refuses (the same ones on every owner)."""
    try:
        learn_all(model, batch)
    except (ValueError, TypeError):
        for one in batch:
            try:
                learn_all(model, [one])
            except (ValueError, TypeError) as e:
                log.error("item not learned item=%s: %s", one[0], e)


def learn_all(model: Estimator, batch: list[Learn]) -> None:
    model.learn_many(
        [b[0] for b in batch],
        [b[1]["title"] for b in batch],
        [b[1].get("description", "") for b in batch],
        [b[1].get("features") or {} for b in batch],
        np.array([b[2] for b in batch], dtype=np.float64),
    )


def predict(model: Estimator, titles: list[str], descriptions: list[str],
             features: list[dict[str, Any]], levels: np.ndarray, as_json: bool
             ) -> tuple[Predictions, estimate_json.Rendered | None]:
    """The model's predictions, and their explanations as JSON if ``as_json``."""
    preds = model.predict_columns(titles, descriptions, features, levels)
    return preds, estimate_json.render(preds) if as_json else None


def result_of(p: Prediction) -> dict[str, Any]:
    return {
        "quantiles": [float(q) for q in p.quantiles],
        "median": float(p.median),
        "analogies": [
            {"id": a.item_id, "title": a.title, "effort": float(a.effort),
             "similarity": float(a.similarity)}
            for a in p.analogies
        ],
        "drivers": [[name, float(v)] for name, v in p.drivers],
    }
