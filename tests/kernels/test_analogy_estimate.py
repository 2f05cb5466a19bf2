"""Size-adjusted, similarity-weighted analogy estimates against a numpy reference."""

from __future__ import annotations

import numpy as np
import pytest

from kernels.analogy_estimate import analogy_estimates


def ref_estimates(nb, sims, k_use, logy, q, x, coef, lo, hi, power):
    out = np.full(nb.shape[0], np.nan)
    for i in range(nb.shape[0]):
        valid = [j for j in range(nb.shape[1]) if nb[i, j] >= 0][:k_use]
        if not valid:
            continue
        rows = nb[i, valid]
        prop = logy[rows] + q[i, lo:hi] @ coef[lo:hi] - x[rows, lo:hi] @ coef[lo:hi]
        w = np.maximum(sims[i, valid], 0.0) ** power
        out[i] = prop @ w / w.sum() if w.sum() > 1e-12 else prop.mean()
    return out


def csr(x: np.ndarray, index_dtype: type, value_dtype: type):
    indptr = np.concatenate([[0], np.cumsum((x != 0).sum(axis=1))]).astype(np.int64)
    rows, cols = np.nonzero(x)
    return indptr, cols.astype(index_dtype), x[rows, cols].astype(value_dtype)


def test_matches_reference() -> None:
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(40, 20)) * (rng.random((40, 20)) < 0.4)).astype(np.float32)
    q = rng.normal(size=(6, 20)) * (rng.random((6, 20)) < 0.4)
    logy = rng.normal(size=40)
    coef = rng.normal(size=20)
    nb = rng.integers(0, 40, size=(6, 5))
    nb[1, [0, 2]] = -1
    nb[2, :] = -1
    sims = rng.uniform(-0.2, 1.0, size=(6, 5))
    sims[3, :] = -0.5  # all weights zero: plain mean
    got = analogy_estimates(
        nb, sims, 3, logy, *csr(q, np.int32, np.float64), *csr(x, np.uint16, np.float32),
        coef[None, :], 1, 8, 1.5,
    )  # fmt: skip
    want = ref_estimates(nb, sims, 3, logy, q, x.astype(np.float64), coef, 1, 8, 1.5)
    np.testing.assert_allclose(got, want, rtol=1e-9)
    assert np.isnan(got[2])


def test_per_query_coefficients_adjust_each_query_with_its_own_row() -> None:
    rng = np.random.default_rng(1)
    x = (rng.normal(size=(30, 12)) * (rng.random((30, 12)) < 0.5)).astype(np.float32)
    q = rng.normal(size=(5, 12)) * (rng.random((5, 12)) < 0.5)
    logy = rng.normal(size=30)
    coefs = rng.normal(size=(5, 12))
    nb = rng.integers(0, 30, size=(5, 4))
    sims = rng.uniform(0.0, 1.0, size=(5, 4))
    qs, xs = csr(q, np.int32, np.float64), csr(x, np.uint16, np.float32)
    got = analogy_estimates(nb, sims, 4, logy, *qs, *xs, coefs, 1, 6, 1.0)
    for i in range(5):
        want = ref_estimates(nb[i : i + 1], sims[i : i + 1], 4, logy, q[i : i + 1],
                             x.astype(np.float64), coefs[i], 1, 6, 1.0)  # fmt: skip
        assert got[i] == pytest.approx(want[0], rel=1e-9)
    # a single row of coefficients adjusts every query
    shared = analogy_estimates(nb, sims, 4, logy, *qs, *xs, coefs[:1], 1, 6, 1.0)
    want = ref_estimates(nb, sims, 4, logy, q, x.astype(np.float64), coefs[0], 1, 6, 1.0)
    np.testing.assert_allclose(shared, want, rtol=1e-9)
