"""Bayesian linear regression with a conjugate Normal-Inverse-Gamma prior, updated online.

The model is ``y = x.w + e`` with ``e ~ N(0, s2)``, ``w | s2 ~ N(mean, s2 * cov)`` and
``s2 ~ InvGamma(a, b)``. Observing ``(x, y)`` with weight ``+1`` (learn) or ``-1`` (unlearn)
changes the precision ``inv(cov)`` by ``weight * x x^T``; Sherman-Morrison turns that into a
rank-1 change of ``cov`` that touches only the non-zero entries of the sparse ``x`` when
forming ``cov x``. The posterior predictive of ``y`` at ``x`` is Student-t with ``2a``
degrees of freedom, location ``x.mean`` and squared scale ``(b / a) * (1 + x^T cov x)``.

Large batches take a block path instead (precision form with dense BLAS products), which is
the same posterior in exact arithmetic and much faster when the batch is large.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.linalg
from numba import njit
from numpy.typing import NDArray


@njit(cache=True, nogil=True)
def rank_one_update(
    cov: NDArray[np.float64],
    mean: NDArray[np.float64],
    idx: NDArray[np.int32],
    val: NDArray[np.float64],
    y: float,
    weight: float,
    u: NDArray[np.float64],
) -> float:
    """Fold ``(x, y)`` in (``weight=1``) or out (``weight=-1``) of ``cov`` and ``mean``, in place.

    ``x`` is sparse (``idx``, ``val``); ``u`` is scratch of length ``dim``. Returns the change
    of ``b``, or NaN (leaving the state untouched) when the update would lose positive
    definiteness, which only an unlearn of something never learned can cause.
    """
    d = cov.shape[0]
    u[:] = 0.0
    # cov is symmetric, so cov @ x is a sum of the rows selected by x: contiguous reads.
    for k in range(idx.shape[0]):
        row = cov[idx[k]]
        v = val[k]
        for j in range(d):
            u[j] += v * row[j]
    s = 0.0
    fit = 0.0
    for k in range(idx.shape[0]):
        s += val[k] * u[idx[k]]
        fit += val[k] * mean[idx[k]]
    denom = 1.0 + weight * s
    if not denom > 1e-12:
        return np.nan
    r = y - fit
    c = weight / denom
    gain = c * r
    for i in range(d):
        mean[i] += gain * u[i]
        ci = c * u[i]
        row = cov[i]
        for j in range(d):
            row[j] -= ci * u[j]
    return 0.5 * weight * r * r / denom


@njit(cache=True, nogil=True)
def rank_one_updates(
    cov: NDArray[np.float64],
    mean: NDArray[np.float64],
    indptr: NDArray[np.int64],
    indices: NDArray[np.int32],
    values: NDArray[np.float64],
    ys: NDArray[np.float64],
    weights: NDArray[np.float64],
) -> float:
    """Apply :func:`rank_one_update` to each CSR row in order; returns the total change of ``b``.

    Rows with weight 0 are skipped. Returns NaN at the first row that fails (earlier rows
    stay applied).
    """
    u = np.empty(cov.shape[0], dtype=np.float64)
    total = 0.0
    for i in range(ys.shape[0]):
        if weights[i] == 0.0:
            continue
        lo, hi = indptr[i], indptr[i + 1]
        db = rank_one_update(cov, mean, indices[lo:hi], values[lo:hi], ys[i], weights[i], u)
        if np.isnan(db):
            return np.nan
        total += db
    return total


@njit(cache=True, nogil=True)
def traced_rank_one_updates(
    cov: NDArray[np.float64],
    mean: NDArray[np.float64],
    indptr: NDArray[np.int64],
    indices: NDArray[np.int32],
    values: NDArray[np.float64],
    ys: NDArray[np.float64],
    weights: NDArray[np.float64],
    fits: NDArray[np.float64],
    quads: NDArray[np.float64],
) -> float:
    """:func:`rank_one_updates` that also records, for each row, ``x.mean`` and
    ``x^T cov x`` just before that row is applied: the out-of-sample predictive moments
    of each observation under the model of everything before it. Rows with weight 0 are
    skipped (their entries left as they are)."""
    d = cov.shape[0]
    u = np.empty(d, dtype=np.float64)
    total = 0.0
    for i in range(ys.shape[0]):
        if weights[i] == 0.0:
            continue
        lo, hi = indptr[i], indptr[i + 1]
        fit = 0.0
        quad = 0.0
        for k in range(lo, hi):
            a = indices[k]
            fit += values[k] * mean[a]
            acc = 0.0
            for m in range(lo, hi):
                acc += cov[a, indices[m]] * values[m]
            quad += values[k] * acc
        fits[i] = fit
        quads[i] = quad
        db = rank_one_update(cov, mean, indices[lo:hi], values[lo:hi], ys[i], weights[i], u)
        if np.isnan(db):
            return np.nan
        total += db
    return total


@njit(cache=True, nogil=True)
def predictive_moments(
    cov: NDArray[np.float64],
    mean: NDArray[np.float64],
    indptr: NDArray[np.int64],
    indices: NDArray[np.int32],
    values: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """For each CSR row ``x``: ``x.mean`` and ``x^T cov x`` (cost ``nnz^2`` per row)."""
    n = indptr.shape[0] - 1
    loc = np.zeros(n, dtype=np.float64)
    quad = np.zeros(n, dtype=np.float64)
    for i in range(n):
        lo, hi = indptr[i], indptr[i + 1]
        for k in range(lo, hi):
            a = indices[k]
            loc[i] += values[k] * mean[a]
            acc = 0.0
            for m in range(lo, hi):
                acc += cov[a, indices[m]] * values[m]
            quad[i] += values[k] * acc
    return loc, quad


@njit(cache=True, nogil=True)
def predictive_means(
    mean: NDArray[np.float64],
    indptr: NDArray[np.int64],
    indices: NDArray[np.int32],
    values: NDArray[np.float64],
) -> NDArray[np.float64]:
    """For each CSR row ``x``: ``x.mean`` (cost ``nnz`` per row)."""
    n = indptr.shape[0] - 1
    loc = np.zeros(n, dtype=np.float64)
    for i in range(n):
        acc = 0.0
        for k in range(indptr[i], indptr[i + 1]):
            acc += values[k] * mean[indices[k]]
        loc[i] = acc
    return loc


@njit(cache=True, nogil=True)
def densify(
    indptr: NDArray[np.int64],
    indices: NDArray[np.int32],
    values: NDArray[np.float64],
    lo: int,
    hi: int,
    dim: int,
) -> NDArray[np.float64]:
    """Dense ``(hi - lo, dim)`` copy of CSR rows ``lo..hi``."""
    out = np.zeros((hi - lo, dim), dtype=np.float64)
    for i in range(lo, hi):
        for k in range(indptr[i], indptr[i + 1]):
            out[i - lo, indices[k]] += values[k]
    return out


@njit(cache=True, nogil=True)
def loo_coefficients(
    cov: NDArray[np.float64],
    mean: NDArray[np.float64],
    indptr: NDArray[np.int64],
    indices: NDArray[np.int32],
    values: NDArray[np.float64],
    ys: NDArray[np.float64],
    upto: int,
) -> NDArray[np.float64]:
    """For each learned CSR row ``x`` with target ``y``: the first ``upto`` coefficients of
    the posterior mean without that row, ``mean - cov x (y - x.mean) / (1 - x^T cov x)``."""
    n = indptr.shape[0] - 1
    out = np.empty((n, upto), dtype=np.float64)
    u = np.empty(upto, dtype=np.float64)
    for i in range(n):
        lo, hi = indptr[i], indptr[i + 1]
        fit = 0.0
        quad = 0.0
        u[:] = 0.0
        for k in range(lo, hi):
            a = indices[k]
            v = values[k]
            fit += v * mean[a]
            row = cov[a]
            for j in range(upto):
                u[j] += v * row[j]
            acc = 0.0
            for m in range(lo, hi):
                acc += row[indices[m]] * values[m]
            quad += v * acc
        gain = (ys[i] - fit) / max(1.0 - quad, 1e-9)
        for j in range(upto):
            out[i, j] = mean[j] - gain * u[j]
    return out


class BayesianLinearRegression:
    """Posterior state of the Normal-Inverse-Gamma linear model and the operations on it.

    Attributes ``mean_``, ``cov_`` (scaled by the noise variance), ``a_`` and ``b_`` are the
    posterior parameters; they start at the prior given to the constructor.
    """

    #: Batches with at least this many rows per 1,000 dimensions take the block path.
    BLOCK_ROWS_PER_1000_DIMS = 64

    def __init__(
        self, prior_mean: NDArray[np.float64], prior_var: NDArray[np.float64], a: float, b: float
    ) -> None:
        dim = prior_mean.shape[0]
        if prior_var.shape != (dim,) or not np.all(prior_var > 0):
            raise ValueError("prior_var must be positive, one entry per dimension")
        if not (a > 0 and b > 0):
            raise ValueError("the noise prior needs a > 0 and b > 0")
        self.mean_ = np.array(prior_mean, dtype=np.float64)
        self.cov_ = np.diag(np.asarray(prior_var, dtype=np.float64))
        self.a_ = float(a)
        self.b_ = float(b)

    @property
    def dim(self) -> int:
        """Number of coefficients."""
        return int(self.mean_.shape[0])

    def update(
        self,
        indptr: NDArray[np.int64],
        indices: NDArray[np.int32],
        values: NDArray[np.float64],
        ys: NDArray[np.float64],
        weights: NDArray[np.float64],
        trace_from: int | None = None,
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Fold CSR rows in (weight 1) or out (weight -1), as if one at a time in order.

        Rows from ``trace_from`` on are applied one at a time and their out-of-sample
        predictive moments recorded: returns ``(fits, quads)`` for those rows (``x.mean``
        and ``x^T cov x`` before each row; empty arrays without ``trace_from``).
        Raises ValueError if an unlearn would make the posterior improper (only possible
        when removing an observation that was never added).
        """
        n = ys.shape[0]
        start = n if trace_from is None else min(max(trace_from, 0), n)
        fits = np.full(n - start, np.nan)
        quads = np.full(n - start, np.nan)
        head = int(np.count_nonzero(weights[:start]))
        if head * 1000 >= self.BLOCK_ROWS_PER_1000_DIMS * self.dim:
            self._block_update(indptr, indices, values, ys[:start], weights[:start])
        elif head > 0:
            db = rank_one_updates(
                self.cov_, self.mean_, indptr, indices, values, ys[:start], weights[:start]
            )
            if np.isnan(db):
                raise ValueError("update would make the posterior improper")
            self.b_ += db
        if start < n:
            db = traced_rank_one_updates(
                self.cov_, self.mean_, indptr[start:] - indptr[start],
                indices[indptr[start] :], values[indptr[start] :], ys[start:], weights[start:],
                fits, quads,
            )  # fmt: skip
            if np.isnan(db):
                raise ValueError("update would make the posterior improper")
            self.b_ += db
        self.a_ += 0.5 * float(np.sum(weights))
        return fits, quads

    def loo_moments(
        self,
        indptr: NDArray[np.int64],
        indices: NDArray[np.int32],
        values: NDArray[np.float64],
        ys: NDArray[np.float64],
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Leave-one-out predictive moments of rows the model has learned, in closed form.

        For a learned row with leverage ``h = x^T cov x`` and residual ``e = y - x.mean``,
        the model without it predicts ``y - e / (1 - h)`` with ``x^T cov x = h / (1 - h)``.
        Returns ``(locations, quads)``.
        """  # fmt: skip
        loc, quad = predictive_moments(self.cov_, self.mean_, indptr, indices, values)
        h = np.clip(quad, 0.0, 1.0 - 1e-9)
        return ys - (ys - loc) / (1.0 - h), h / (1.0 - h)

    def loo_coefficients(
        self,
        indptr: NDArray[np.int64],
        indices: NDArray[np.int32],
        values: NDArray[np.float64],
        ys: NDArray[np.float64],
        upto: int,
    ) -> NDArray[np.float64]:
        """The first ``upto`` coefficients of the posterior mean with each learned row left
        out, ``(n_rows, upto)`` (closed form, as :meth:`loo_moments`)."""
        return loo_coefficients(self.cov_, self.mean_, indptr, indices, values, ys, upto)

    def _block_update(
        self,
        indptr: NDArray[np.int64],
        indices: NDArray[np.int32],
        values: NDArray[np.float64],
        ys: NDArray[np.float64],
        weights: NDArray[np.float64],
    ) -> None:
        dim = self.dim
        eye = np.eye(dim)
        precision = scipy.linalg.cho_solve(scipy.linalg.cho_factor(self.cov_), eye)
        eta = precision @ self.mean_
        old_fit = float(self.mean_ @ eta)
        chunk = 2048
        for lo in range(0, ys.shape[0], chunk):
            hi = min(ys.shape[0], lo + chunk)
            x = densify(indptr, indices, values, lo, hi, dim)
            wx = x * weights[lo:hi, None]
            precision += wx.T @ x
            eta += wx.T @ ys[lo:hi]
        try:
            factor = scipy.linalg.cho_factor(precision)
        except np.linalg.LinAlgError as exc:
            raise ValueError("update would make the posterior improper") from exc
        cov = scipy.linalg.cho_solve(factor, eye)
        self.cov_ = 0.5 * (cov + cov.T)
        self.mean_ = scipy.linalg.cho_solve(factor, eta)
        self.b_ += 0.5 * (float(weights @ (ys * ys)) + old_fit - float(self.mean_ @ eta))

    def predict(
        self, indptr: NDArray[np.int64], indices: NDArray[np.int32], values: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], float]:
        """Student-t predictive for each CSR row: ``(location, scale, degrees of freedom)``."""
        loc, quad = predictive_moments(self.cov_, self.mean_, indptr, indices, values)
        scale = np.sqrt(self.b_ / self.a_ * (1.0 + np.maximum(quad, 0.0)))
        return loc, scale, 2.0 * self.a_

    def predict_mean(
        self, indptr: NDArray[np.int64], indices: NDArray[np.int32], values: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """The predictive location of each CSR row alone: what :meth:`predict` returns
        first, without the ``nnz^2`` covariance term its scale needs."""
        return predictive_means(self.mean_, indptr, indices, values)

    def to_state(self) -> dict[str, Any]:
        """Plain-data snapshot: numpy arrays and floats."""
        return {"mean": self.mean_.copy(), "cov": self.cov_.copy(), "a": self.a_, "b": self.b_}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> BayesianLinearRegression:
        """Rebuild from :meth:`to_state` output."""
        mean = np.array(state["mean"], dtype=np.float64).reshape(-1)
        dim = mean.shape[0]
        a, b = float(state["a"]), float(state["b"])
        cov = np.array(state["cov"], dtype=np.float64).reshape(dim, dim)
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(cov))
                and math.isfinite(a) and math.isfinite(b) and a > 0 and b > 0):
            raise ValueError("linear model state: values must be finite (and a, b > 0)")
        model = cls(mean, np.ones(dim), a, b)
        model.cov_ = cov
        return model
