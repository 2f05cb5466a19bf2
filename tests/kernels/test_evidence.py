"""Marginal likelihood of the linear model against a dense numpy computation."""

from __future__ import annotations

import numpy as np
import scipy.stats

from kernels.evidence import (
    EvidenceProblem,
    choose_block_variances,
    choose_coordinate_variances,
    log_evidence,
)


def ref_log_evidence(x, y, m0, v0, a0, b0):
    """Multivariate Student-t marginal of y: y ~ t_{2a0}(X m0, (b0/a0)(I + X V0 X^T))."""
    cov = (b0 / a0) * (np.eye(len(y)) + x @ np.diag(v0) @ x.T)
    return scipy.stats.multivariate_t(loc=x @ m0, shape=cov, df=2 * a0).logpdf(y)


def test_log_evidence_matches_dense_marginal() -> None:
    rng = np.random.default_rng(0)
    dim = 12
    x = rng.normal(size=(25, dim)) * (rng.random((25, dim)) < 0.5)
    x[:, 5] = 0.0  # an unused coordinate: must not matter
    y = x @ rng.normal(size=dim) + rng.normal(0, 0.5, 25)
    m0 = rng.normal(size=dim) * 0.1
    v0 = rng.uniform(0.2, 2.0, size=dim)
    indptr = np.concatenate([[0], np.cumsum((x != 0).sum(axis=1))]).astype(np.int64)
    rows, cols = np.nonzero(x)
    problem = EvidenceProblem.from_rows(indptr, cols.astype(np.int32), x[rows, cols], y, m0)
    assert 5 not in problem.active
    got = log_evidence(problem, v0, 2.0, 1.5)
    assert np.isclose(got, ref_log_evidence(x, y, m0, v0, 2.0, 1.5), rtol=1e-9)
    blocks = np.array([-1] + [0] * 5 + [1] * 6)
    grids = [[1.0, 0.1, 10.0], [1.0, 0.01, 3.0]]
    _, best = choose_block_variances(problem, v0, blocks, grids, 2.0, 1.5)
    assert best >= got
    for a in grids[0]:
        for b in grids[1]:
            trial = v0.copy()
            trial[1:6], trial[6:] = a, b
            assert log_evidence(problem, trial, 2.0, 1.5) <= best + 1e-9


def _problem(x, y, m0):
    indptr = np.concatenate([[0], np.cumsum((x != 0).sum(axis=1))]).astype(np.int64)
    rows, cols = np.nonzero(x)
    return EvidenceProblem.from_rows(indptr, cols.astype(np.int32), x[rows, cols], y, m0)


def test_coordinate_variances_follow_brute_force_coordinate_ascent() -> None:
    """The rank-one evidence updates give the same choices and evidence as recomputing the
    evidence from scratch for every candidate."""
    rng = np.random.default_rng(1)
    dim = 9
    x = rng.normal(size=(40, dim))
    x[:, 0] = 1.0
    x[:, 4] = 0.0  # unused: keeps its variance
    coef = rng.normal(size=dim) * np.array([1, 3, 0, 0, 0, 0.1, 0, 2, 0])
    y = x @ coef + rng.normal(0, 0.5, 40)
    m0 = np.zeros(dim)
    m0[0], m0[2] = 0.7, 0.3  # a non-zero prior mean on a chosen coordinate
    v0 = np.full(dim, 0.5)
    problem = _problem(x, y, m0)
    coords = np.arange(1, dim)
    factors = np.array([0.1, 0.25, 4.0, 16.0])
    got, evidence = choose_coordinate_variances(problem, v0, coords, factors, 2.0, 1.0)

    ref = v0.copy()
    best = log_evidence(problem, ref, 2.0, 1.0)
    for _ in range(2):
        for c in coords:
            for f in (1.0, *factors):
                trial = ref.copy()
                trial[c] = v0[c] * f
                value = log_evidence(problem, trial, 2.0, 1.0)
                if value > best + 1e-9:
                    best, ref = value, trial
    np.testing.assert_allclose(got, ref)
    assert np.isclose(evidence, best, rtol=1e-10)
    assert np.isclose(evidence, log_evidence(problem, got, 2.0, 1.0), rtol=1e-10)
    assert got[4] == v0[4] and got[0] == v0[0]


def test_coordinate_variances_loosen_a_strong_driver_and_shrink_noise() -> None:
    rng = np.random.default_rng(2)
    x = np.column_stack([np.ones(60), rng.normal(size=(60, 5))])
    y = 1.0 + 2.5 * x[:, 1] + rng.normal(0, 0.3, 60)
    v0 = np.full(6, 0.25)
    got, _ = choose_coordinate_variances(
        _problem(x, y, np.zeros(6)), v0, np.arange(1, 6), np.array([0.1, 0.25, 4.0, 16.0]),
        2.0, 1.0,
    )
    assert got[1] > v0[1]
    assert np.all(got[2:] < v0[2:])
