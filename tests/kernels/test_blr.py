"""Online Normal-Inverse-Gamma updates against the closed-form batch posterior."""

from __future__ import annotations

import numpy as np
import pytest

from kernels.blr import BayesianLinearRegression, densify, predictive_moments, rank_one_updates


def random_csr(rng: np.random.Generator, n: int, dim: int, density: float):
    x = rng.normal(size=(n, dim)) * (rng.random((n, dim)) < density)
    indptr = np.zeros(n + 1, dtype=np.int64)
    indices, values = [], []
    for i in range(n):
        nz = np.flatnonzero(x[i])
        indices.extend(nz)
        values.extend(x[i, nz])
        indptr[i + 1] = len(indices)
    return x, indptr, np.array(indices, dtype=np.int32), np.array(values, dtype=np.float64)


def ref_posterior(m0, v0, a0, b0, x, y, w):
    """Closed-form NIG posterior with signed observation weights (numpy, dense)."""
    p0 = np.diag(1.0 / v0)
    pn = p0 + (x * w[:, None]).T @ x
    cov = np.linalg.inv(pn)
    eta = p0 @ m0 + (x * w[:, None]).T @ y
    mean = cov @ eta
    a = a0 + 0.5 * w.sum()
    b = b0 + 0.5 * (w @ (y * y) + m0 @ p0 @ m0 - mean @ pn @ mean)
    return mean, cov, a, b


def make_model(rng: np.random.Generator, dim: int):
    m0 = rng.normal(size=dim) * 0.1
    v0 = rng.uniform(0.5, 2.0, size=dim)
    return m0, v0, BayesianLinearRegression(m0, v0, 2.0, 1.0)


@pytest.mark.parametrize("n", [5, 40, 300])  # 300 rows take the block path
def test_updates_match_closed_form(n: int) -> None:
    rng = np.random.default_rng(n)
    dim = 24
    m0, v0, model = make_model(rng, dim)
    model.BLOCK_ROWS_PER_1000_DIMS = 2000  # 48 rows for 24 dimensions
    x, indptr, indices, values = random_csr(rng, n, dim, 0.3)
    y = x @ rng.normal(size=dim) + rng.normal(size=n) * 0.3
    w = np.ones(n)
    model.update(indptr, indices, values, y, w)
    mean, cov, a, b = ref_posterior(m0, v0, 2.0, 1.0, x, y, w)
    np.testing.assert_allclose(model.mean_, mean, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(model.cov_, cov, rtol=1e-8, atol=1e-10)
    assert model.a_ == pytest.approx(a)
    assert model.b_ == pytest.approx(b, rel=1e-8)


def test_downdate_removes_an_observation_exactly() -> None:
    rng = np.random.default_rng(1)
    dim = 16
    m0, v0, model = make_model(rng, dim)
    x, indptr, indices, values = random_csr(rng, 30, dim, 0.5)
    y = rng.normal(size=30)
    model.update(indptr, indices, values, y, np.ones(30))
    # unlearn rows 3 and 17
    drop = np.zeros(30)
    drop[[3, 17]] = -1.0
    model.update(indptr, indices, values, y, drop)
    keep = np.ones(30, dtype=bool)
    keep[[3, 17]] = False
    mean, cov, a, b = ref_posterior(m0, v0, 2.0, 1.0, x[keep], y[keep], np.ones(28))
    np.testing.assert_allclose(model.mean_, mean, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(model.cov_, cov, rtol=1e-8, atol=1e-10)
    assert (model.a_, model.b_) == pytest.approx((a, b), rel=1e-9)


def test_block_path_equals_sequential_with_signed_rows() -> None:
    rng = np.random.default_rng(2)
    dim = 20
    _, _, seq = make_model(rng, dim)
    blk = BayesianLinearRegression.from_state(seq.to_state())
    x, _, _, _ = random_csr(rng, 50, dim, 0.4)
    y = rng.normal(size=50)
    # learn 50 rows, then unlearn the first 10 again
    rows = np.concatenate([np.arange(50), np.arange(10)])
    w = np.concatenate([np.ones(50), -np.ones(10)])
    indptr = np.zeros(61, dtype=np.int64)
    idx: list[int] = []
    val: list[float] = []
    for i, r in enumerate(rows):
        nz = np.flatnonzero(x[r])
        idx.extend(nz)
        val.extend(x[r, nz])
        indptr[i + 1] = len(idx)
    indices, values = np.array(idx, dtype=np.int32), np.array(val)
    seq.BLOCK_ROWS_PER_1000_DIMS = 10**9
    blk.BLOCK_ROWS_PER_1000_DIMS = 1
    seq.update(indptr, indices, values, y[rows], w)
    blk.update(indptr, indices, values, y[rows], w)
    np.testing.assert_allclose(blk.mean_, seq.mean_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(blk.cov_, seq.cov_, rtol=1e-8, atol=1e-10)
    assert (blk.a_, blk.b_) == pytest.approx((seq.a_, seq.b_), rel=1e-9)


def test_unlearning_what_was_never_learned_is_refused() -> None:
    model = BayesianLinearRegression(np.zeros(3), np.ones(3), 1.0, 1.0)
    ip = np.array([0, 1], dtype=np.int64)
    with pytest.raises(ValueError, match="improper"):
        model.update(
            ip, np.array([0], dtype=np.int32), np.array([2.0]), np.array([1.0]), np.array([-1.0])
        )
    assert model.cov_[0, 0] == 1.0


def test_rank_one_kernel_and_predictive_moments_match_numpy() -> None:
    rng = np.random.default_rng(3)
    dim = 32
    a = rng.normal(size=(dim, dim))
    cov = a @ a.T / dim + np.eye(dim)
    mean = rng.normal(size=dim)
    x, indptr, indices, values = random_csr(rng, 6, dim, 0.3)
    loc, quad = predictive_moments(cov, mean, indptr, indices, values)
    np.testing.assert_allclose(loc, x @ mean, rtol=1e-12)
    np.testing.assert_allclose(quad, np.einsum("ij,jk,ik->i", x, cov, x), rtol=1e-10)
    np.testing.assert_array_equal(densify(indptr, indices, values, 1, 4, dim), x[1:4])
    c, m = cov.copy(), mean.copy()
    db = rank_one_updates(c, m, indptr[:2], indices, values, np.array([0.7]), np.array([1.0]))
    u = cov @ x[0]
    s = x[0] @ u
    r = 0.7 - x[0] @ mean
    np.testing.assert_allclose(c, cov - np.outer(u, u) / (1 + s), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(m, mean + u * r / (1 + s), rtol=1e-10)
    assert db == pytest.approx(0.5 * r * r / (1 + s))


def test_predict_is_student_t_and_state_round_trips() -> None:
    rng = np.random.default_rng(4)
    dim = 10
    _, _, model = make_model(rng, dim)
    x, indptr, indices, values = random_csr(rng, 20, dim, 0.5)
    model.update(indptr, indices, values, rng.normal(size=20), np.ones(20))
    _, scale, dof = model.predict(indptr, indices, values)
    want = np.sqrt(model.b_ / model.a_ * (1 + np.einsum("ij,jk,ik->i", x, model.cov_, x)))
    np.testing.assert_allclose(scale, want, rtol=1e-10)
    assert dof == 2 * model.a_
    again = BayesianLinearRegression.from_state(model.to_state())
    np.testing.assert_array_equal(again.predict(indptr, indices, values)[1], scale)


def test_traced_updates_record_out_of_sample_moments() -> None:
    rng = np.random.default_rng(7)
    dim = 18
    _, _, traced = make_model(rng, dim)
    _, _, plain = make_model(np.random.default_rng(7), dim)
    x, indptr, indices, values = random_csr(rng, 12, dim, 0.4)
    y = rng.normal(size=12)
    fits, quads = traced.update(indptr, indices, values, y, np.ones(12), trace_from=5)
    plain.update(indptr[:6], indices, values, y[:5], np.ones(5))
    for i in range(5, 12):
        row = slice(indptr[i], indptr[i + 1])
        one = np.array([0, indptr[i + 1] - indptr[i]], dtype=np.int64)
        loc, quad = predictive_moments(plain.cov_, plain.mean_, one, indices[row], values[row])
        assert fits[i - 5] == pytest.approx(loc[0], rel=1e-9, abs=1e-12)
        assert quads[i - 5] == pytest.approx(quad[0], rel=1e-9, abs=1e-12)
        plain.update(one, indices[row], values[row], y[i : i + 1], np.ones(1))
    np.testing.assert_allclose(traced.mean_, plain.mean_, rtol=1e-9, atol=1e-12)
    # leave-one-out in closed form equals refitting without the row
    loo_loc, loo_quad = traced.loo_moments(indptr, indices, values, y)
    m0, v0, _ = make_model(np.random.default_rng(7), dim)
    keep = np.arange(12) != 3
    mean, cov, _, _ = ref_posterior(m0, v0, 2.0, 1.0, x[keep], y[keep], np.ones(11))
    assert loo_loc[3] == pytest.approx(x[3] @ mean, rel=1e-8)
    assert loo_quad[3] == pytest.approx(x[3] @ cov @ x[3], rel=1e-8)
    coefs = traced.loo_coefficients(indptr, indices, values, y, 7)
    assert coefs.shape == (12, 7)
    np.testing.assert_allclose(coefs[3], mean[:7], rtol=1e-8, atol=1e-10)


def test_predict_mean_is_the_location_of_predict():
    rng = np.random.default_rng(3)
    dim = 64
    model = BayesianLinearRegression(np.zeros(dim), np.full(dim, 0.5), 2.0, 1.0)
    rows = [np.sort(rng.choice(dim, size=rng.integers(1, 12), replace=False))
            for _ in range(40)]
    indptr = np.concatenate([[0], np.cumsum([len(r) for r in rows])]).astype(np.int64)
    indices = np.concatenate(rows).astype(np.int32)
    values = rng.normal(size=indices.shape[0])
    model.update(indptr, indices, values, rng.normal(size=40), np.ones(40))
    loc, _, _ = model.predict(indptr, indices, values)
    np.testing.assert_allclose(model.predict_mean(indptr, indices, values), loc, rtol=1e-12)
