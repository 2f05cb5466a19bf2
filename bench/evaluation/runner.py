"""Runs models over train/test folds and scores their pooled held-out estimates.

Every model sees the same folds. In online mode the test part is replayed in order:
each item is estimated, then its actual is learned, as the service sees a stream of work.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from bench.evaluation.baselines import ABE, ATLM, ConstantBaseline, Model
from bench.evaluation.datasets import Dataset
from bench.evaluation.metrics import Scores, random_guess_mae, score
from bench.evaluation.progress import ProgressBar
from bench.evaluation.reckon_model import ReckonModel
from bench.evaluation.splits import Fold

ModelFactory = Callable[[], Model]

#: The models of every evaluation, in report order.
DEFAULT_MODELS: dict[str, ModelFactory] = {
    "reckon": ReckonModel,
    "mean": lambda: ConstantBaseline("mean"),
    "median": lambda: ConstantBaseline("median"),
    "atlm": ATLM,
    "abe": ABE,
}


@dataclass
class Evaluation:
    """Pooled held-out results: sizes, per-model scores and the raw estimates behind them."""

    n_train: int
    n_test: int
    scores: dict[str, Scores]
    actual: NDArray[np.float64]
    estimates: dict[str, tuple[NDArray, NDArray, NDArray]] = field(default_factory=dict)

    def as_json(self) -> dict[str, object]:
        """The stable JSON shape of ``reckon eval --json``."""
        return {
            "n_train": self.n_train,
            "n_test": self.n_test,
            "models": {name: s.as_dict() for name, s in self.scores.items()},
        }


def _run_fold(
    model: Model, data: Dataset, train: NDArray[np.int64], test: NDArray[np.int64], online: bool
) -> tuple[NDArray, NDArray, NDArray]:
    model.fit(data.subset(train))
    if not online:
        return model.predict(data.subset(test))
    out = np.empty((3, test.shape[0]))
    seen = list(train)
    for j, row in enumerate(test):
        point, low, high = model.predict(data.subset([row]))
        out[:, j] = point[0], low[0], high[0]
        seen.append(int(row))
        model.learn(data.subset(seen), len(seen) - 1)
    return out[0], out[1], out[2]


def evaluate(
    data: Dataset,
    folds: Iterable[Fold],
    n_folds: int,
    models: dict[str, ModelFactory] | None = None,
    online: bool = False,
    progress: ProgressBar | None = None,
    seed: int = 0,
) -> Evaluation:
    """Fit and score every model on every fold; held-out estimates are pooled across folds.

    ``n_folds`` is only for progress reporting. Random guessing (for SA) uses ``seed``.
    """
    factories = models if models is not None else DEFAULT_MODELS
    pools: list[NDArray[np.float64]] = []
    pool_of: list[NDArray[np.int64]] = []
    actual: list[NDArray[np.float64]] = []
    parts: dict[str, list[tuple[NDArray, NDArray, NDArray]]] = {k: [] for k in factories}
    train_sizes: list[int] = []
    for j, (train, test) in enumerate(folds):
        train_sizes.append(int(train.shape[0]))
        pools.append(data.efforts[train])
        pool_of.append(np.full(test.shape[0], j, dtype=np.int64))
        actual.append(data.efforts[test])
        for name, factory in factories.items():
            parts[name].append(_run_fold(factory(), data, train, test, online))
            if progress is not None:
                progress.advance(1)
    y = np.concatenate(actual)
    guess = random_guess_mae(y, pools, np.concatenate(pool_of), np.random.default_rng(seed))
    estimates = {
        name: tuple(np.concatenate([p[i] for p in ps]) for i in range(3))
        for name, ps in parts.items()
    }
    scores = {name: score(y, est[0], est[1], est[2], guess) for name, est in estimates.items()}
    return Evaluation(
        n_train=round(float(np.mean(train_sizes))),
        n_test=int(y.shape[0]),
        scores=scores,
        actual=y,
        estimates=estimates,  # type: ignore[arg-type]
    )


def model_names(models: Sequence[str] | None = None) -> list[str]:
    """Names of the models an evaluation reports."""
    return list(models) if models is not None else list(DEFAULT_MODELS)
