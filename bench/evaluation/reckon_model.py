"""reckon's estimator behind the evaluation's model interface."""

from __future__ import annotations

import numpy as np

from bench.evaluation.baselines import Estimate
from bench.evaluation.datasets import Dataset
from kernels import Estimator, EstimatorConfig

LEVELS = np.array([0.1, 0.5, 0.9])


class ReckonModel:
    """Learns like a tenant's estimator: a batch of history, then one actual at a time.

    After the batch it runs the background refit the service runs off the request path.
    """

    name = "reckon"

    def __init__(self, config: EstimatorConfig | None = None) -> None:
        self.config = config if config is not None else EstimatorConfig()
        self.estimator = Estimator(self.config)

    def fit(self, train: Dataset) -> None:
        """A fresh estimator learns ``train`` in order, then is refitted."""
        est = Estimator(self.config)
        est.learn_many(
            [f"r{i}" for i in range(len(train))],
            train.titles,
            train.descriptions,
            train.features,
            train.efforts,
        )
        self.estimator = est.refit()

    def predict(self, test: Dataset) -> Estimate:
        """Predictive median and the P10..P90 interval."""
        preds = self.estimator.predict_many(test.titles, test.descriptions, test.features, LEVELS)
        q = np.array([p.quantiles for p in preds]).reshape(len(test), 3)
        point = np.array([p.median for p in preds])
        return point, q[:, 0], q[:, 2]

    def learn(self, seen: Dataset, item: int) -> None:
        """Fold in one actual, in place, as the service does when it arrives."""
        self.estimator.learn(
            f"r{item}",
            seen.titles[item],
            seen.descriptions[item],
            seen.features[item],
            float(seen.efforts[item]),
        )
