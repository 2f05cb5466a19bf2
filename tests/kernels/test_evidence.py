"""Marginal likelihood of the linear model against a dense numpy computation."""

from __future__ import annotations

import numpy as np
import scipy.stats

from kernels.evidence import EvidenceProblem, choose_block_variances, log_evidence


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
