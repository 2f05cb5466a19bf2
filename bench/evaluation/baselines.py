"""Baseline estimators computed in the same run as reckon: mean, median, ATLM and ABE.

Every model answers with a point estimate and an 80% interval. The constant baselines
take their interval from the 10th and 90th percentiles of the training residuals (a
conformal interval around the constant); ATLM uses the ordinary least-squares prediction
interval on the log scale; ABE calibrates on its leave-one-out residuals in training.

* ATLM (Whigham et al., TOSEM 2015): ordinary least squares on log effort, numeric
  features log-transformed (``log`` when all training values are positive, ``log1p``
  when none is negative), missing numerics imputed by the training median, categorical
  features one-hot.
* ABE: the mean effort of the ``k`` nearest training items by Euclidean distance on
  min-max normalised numeric features and 0/1 categorical mismatches (plus one minus the
  cosine similarity of hashed words when the data have text), ``k`` in 1..5 chosen by
  leave-one-out error on the training items.
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np
import scipy.sparse
import scipy.stats
from numpy.typing import NDArray

from bench.evaluation.datasets import Dataset
from kernels.hashing import encode_texts, hash_texts

Estimate = tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]


class Model(Protocol):
    """An estimator under evaluation: fit on training items, then estimate held-out ones."""

    name: str

    def fit(self, train: Dataset) -> None:
        """Learn from ``train`` (replacing anything learned before)."""

    def predict(self, test: Dataset) -> Estimate:
        """``(point, low, high)`` for each item of ``test``: estimate and 80% interval."""

    def learn(self, seen: Dataset, item: int) -> None:
        """Online step: item ``item`` of ``seen`` has just got its actual (``seen`` holds
        every item learned so far, this one last)."""


def residual_band(residuals: NDArray[np.float64]) -> tuple[float, float]:
    """Split-conformal 10% and 90% residual quantiles with the ``n + 1`` correction."""
    r = np.sort(residuals)
    n = r.shape[0]
    if n == 0:
        return -math.inf, math.inf
    lo = math.floor(0.1 * (n + 1)) - 1
    hi = math.ceil(0.9 * (n + 1)) - 1
    return (float(r[lo]) if lo >= 0 else -math.inf, float(r[hi]) if hi < n else math.inf)


class ConstantBaseline:
    """Predicts the training mean or median for every item."""

    def __init__(self, statistic: str) -> None:
        if statistic not in ("mean", "median"):
            raise ValueError("statistic must be 'mean' or 'median'")
        self.name = statistic
        self._value = math.nan
        self._band = (-math.inf, math.inf)

    def fit(self, train: Dataset) -> None:
        """Take the statistic and the residual band of the training actuals."""
        y = train.efforts
        self._value = float(np.mean(y) if self.name == "mean" else np.median(y))
        self._band = residual_band(y - self._value)

    def predict(self, test: Dataset) -> Estimate:
        """The constant, with the conformal band around it (lower end at least 0)."""
        n = len(test)
        point = np.full(n, self._value)
        low = np.full(n, max(0.0, self._value + self._band[0]))
        return point, low, np.full(n, self._value + self._band[1])

    def learn(self, seen: Dataset, item: int) -> None:
        """Recompute from everything seen (cheap)."""
        self.fit(seen)


class ATLM:
    """Automatically transformed linear model: OLS on log effort (see the module docstring)."""

    name = "atlm"

    def __init__(self) -> None:
        self._coef: NDArray[np.floating] = np.zeros(1)
        self._transforms: dict[str, str] = {}
        self._medians: dict[str, float] = {}
        self._levels: dict[str, list[str]] = {}
        self._pinv: NDArray[np.floating] = np.zeros((1, 1))
        self._sigma = math.inf
        self._dof = 0
        self._y_range = (0.0, 0.0)

    def _design(self, data: Dataset) -> NDArray[np.float64]:
        cols = [np.ones(len(data))]
        for name, how in self._transforms.items():
            raw = np.array(
                [
                    self._medians[name] if f.get(name) is None else float(f[name])  # type: ignore[arg-type]
                    for f in data.features
                ]
            )
            if how == "log":
                raw = np.log(np.maximum(raw, 1e-9))
            elif how == "log1p":
                raw = np.log1p(np.maximum(raw, 0.0))
            cols.append(raw)
        for name, levels in self._levels.items():
            values = [str(f.get(name)) for f in data.features]
            for level in levels[1:]:
                cols.append(np.array([v == level for v in values], dtype=float))
        return np.stack(cols, axis=1)

    def fit(self, train: Dataset) -> None:
        """Least squares on the transformed design matrix (minimum-norm if rank-deficient)."""
        self._transforms, self._medians, self._levels = {}, {}, {}
        for name in train.numeric:
            values = np.array(
                [float(f[name]) for f in train.features if f.get(name) is not None]  # type: ignore[arg-type]
            )
            if values.size == 0 or np.ptp(values) == 0:
                continue
            self._medians[name] = float(np.median(values))
            self._transforms[name] = (
                "log" if np.all(values > 0) else "log1p" if np.all(values >= 0) else "raw"
            )
        for name in train.nominal:
            levels = sorted({str(f.get(name)) for f in train.features})
            if len(levels) > 1:
                self._levels[name] = levels
        x = self._design(train)
        y = np.log(train.efforts)
        self._coef, _, rank, _ = np.linalg.lstsq(x, y, rcond=None)
        resid = y - x @ self._coef
        self._dof = int(x.shape[0] - rank)
        self._sigma = (
            float(np.sqrt(resid @ resid / self._dof)) if self._dof > 0 else float(np.std(y))
        )
        self._pinv = np.linalg.pinv(x.T @ x)
        self._y_range = (float(y.min()), float(y.max()))

    def predict(self, test: Dataset) -> Estimate:
        """``exp`` of the linear predictor; t prediction interval on the log scale."""
        x = self._design(test)
        lo_y, hi_y = self._y_range
        # Wild extrapolation of a rank-deficient fit is cut to ten times the observed range.
        log_point = np.clip(x @ self._coef, lo_y - math.log(10), hi_y + math.log(10))
        lever = np.einsum("ij,jk,ik->i", x, self._pinv, x)
        t = float(scipy.stats.t.ppf(0.9, max(self._dof, 1)))
        half = np.minimum(t * self._sigma * np.sqrt(1.0 + np.maximum(lever, 0.0)), 50.0)
        return np.exp(log_point), np.exp(log_point - half), np.exp(log_point + half)

    def learn(self, seen: Dataset, item: int) -> None:
        """Refit on everything seen (a least-squares fit is cheap)."""
        self.fit(seen)


class ABE:
    """Analogy-based estimation by k nearest neighbours (see the module docstring)."""

    name = "abe"
    MAX_K = 5
    TEXT_DIM = 1024

    def __init__(self) -> None:
        self.k_ = 1
        self._train: Dataset | None = None
        self._numeric: list[str] = []
        self._ranges: dict[str, tuple[float, float]] = {}
        self._band = (-math.inf, math.inf)
        self._k_chosen_at = 0

    def _matrix(self, data: Dataset) -> NDArray[np.float64]:
        cols = []
        for name in self._numeric:
            lo, hi = self._ranges[name]
            raw = np.array(
                [math.nan if f.get(name) is None else float(f[name]) for f in data.features]  # type: ignore[arg-type]
            )
            cols.append((raw - lo) / (hi - lo))
        return np.stack(cols, axis=1) if cols else np.zeros((len(data), 0))

    def _text(self, data: Dataset) -> scipy.sparse.csr_matrix:
        buffer, offsets = encode_texts(
            [f"{t}\n{d}" for t, d in zip(data.titles, data.descriptions, strict=True)]
        )
        indptr, indices, values = hash_texts(
            buffer, offsets, 0, self.TEXT_DIM, 0, 1, 1, 0, 0, 1.0, 0.0
        )
        return scipy.sparse.csr_matrix((values, indices, indptr), shape=(len(data), self.TEXT_DIM))

    def _distances(self, a: Dataset, b: Dataset) -> NDArray[np.float64]:
        xa, xb = self._matrix(a), self._matrix(b)
        d2 = np.zeros((len(a), len(b)))
        for j in range(xa.shape[1]):
            diff = np.abs(xa[:, j][:, None] - xb[:, j][None, :])
            d2 += np.where(np.isnan(diff), 1.0, np.minimum(diff, 1.0)) ** 2
        for name in a.nominal:
            va = np.array([str(f.get(name)) for f in a.features])
            vb = np.array([str(f.get(name)) for f in b.features])
            d2 += (va[:, None] != vb[None, :]).astype(float)
        if a.has_text:
            sims = (self._text(a) @ self._text(b).T).toarray()
            d2 += np.clip(1.0 - sims, 0.0, 2.0)
        return d2

    def _neighbour_means(self, d2: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray:
        order = np.argsort(d2, axis=1, kind="stable")[:, : self.MAX_K]
        return np.cumsum(y[order], axis=1) / np.arange(1, order.shape[1] + 1)

    def fit(self, train: Dataset) -> None:
        """Normalise on ``train`` and choose ``k`` by leave-one-out MAE."""
        self._train = train
        self._numeric, self._ranges = [], {}
        for name in train.numeric:
            values = [float(f[name]) for f in train.features if f.get(name) is not None]  # type: ignore[arg-type]
            if values and max(values) > min(values):
                self._numeric.append(name)
                self._ranges[name] = (min(values), max(values))
        d2 = self._distances(train, train)
        np.fill_diagonal(d2, np.inf)
        means = self._neighbour_means(d2, train.efforts)
        errors = np.abs(means - train.efforts[:, None]).mean(axis=0)
        self.k_ = int(np.argmin(errors)) + 1
        loo = means[:, self.k_ - 1]
        self._band = residual_band(np.log(train.efforts) - np.log(loo))
        self._k_chosen_at = len(train)

    def predict(self, test: Dataset) -> Estimate:
        """Mean of the ``k`` nearest training efforts; interval from LOO log residuals."""
        assert self._train is not None, "fit first"
        means = self._neighbour_means(self._distances(test, self._train), self._train.efforts)
        point = means[:, min(self.k_, means.shape[1]) - 1]
        lo, hi = self._band
        return point, point * math.exp(max(lo, -50.0)), point * math.exp(min(hi, 50.0))

    def learn(self, seen: Dataset, item: int) -> None:
        """Add the item; ``k`` and the normalisation are re-chosen when history grows 10%."""
        if len(seen) >= 1.1 * self._k_chosen_at:
            self.fit(seen)
        else:
            self._train = seen
