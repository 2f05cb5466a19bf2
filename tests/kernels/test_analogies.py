"""Brute-force cosine top-k against numpy."""

from __future__ import annotations

import numpy as np

from kernels.analogies import row_norms, top_k_cosine


def to_csr(x: np.ndarray, index_dtype: type) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    indptr = np.concatenate([[0], np.cumsum((x != 0).sum(axis=1))]).astype(np.int64)
    rows, cols = np.nonzero(x)
    return indptr, cols.astype(index_dtype), x[rows, cols]


def ref_top_k(q: np.ndarray, x: np.ndarray, alive: np.ndarray, k: int, first: int):
    qn = q[:, first:]
    xn = x[:, first:]
    denom = np.linalg.norm(qn, axis=1)[:, None] * np.linalg.norm(xn, axis=1)[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        sims = np.where(denom > 0, qn @ xn.T / denom, 0.0)
    sims[:, ~alive] = -np.inf
    order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(sims, order, axis=1)


def test_top_k_matches_reference() -> None:
    rng = np.random.default_rng(0)
    dim = 40
    x = (rng.normal(size=(200, dim)) * (rng.random((200, dim)) < 0.2)).astype(np.float32)
    x[:, 0] = 1.0  # bias: must not count
    x[5, 1:] = 0.0  # zero vector: similarity 0
    x[7] = x[3]  # exact tie: the earlier row wins
    q = rng.normal(size=(6, dim)) * (rng.random((6, dim)) < 0.3)
    q[0] = x[3]
    alive = rng.random(200) < 0.9
    alive[[3, 7]] = True
    indptr, indices, values = to_csr(x, np.uint16)
    norms = row_norms(indptr, indices, values, 1)
    np.testing.assert_allclose(norms, np.linalg.norm(x[:, 1:].astype(float), axis=1), rtol=1e-6)
    q_indptr, q_indices, q_values = to_csr(q, np.int32)
    rows, sims = top_k_cosine(
        q_indptr, q_indices, q_values, indptr, indices, values, norms, alive, 5, 1, dim
    )
    want_rows, want_sims = ref_top_k(q, x.astype(float), alive, 5, 1)
    np.testing.assert_allclose(sims, want_sims, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(rows, want_rows)
    assert rows[0, 0] == 3 and rows[0, 1] == 7 and sims[0, 0] == sims[0, 1]


def test_fewer_rows_than_k_are_padded() -> None:
    x = np.array([[1.0, 1.0, 0.0], [1.0, 0.0, 2.0]], dtype=np.float32)
    indptr, indices, values = to_csr(x, np.uint16)
    norms = row_norms(indptr, indices, values, 1)
    q_indptr, q_indices, q_values = to_csr(np.array([[1.0, 0.0, 1.0]]), np.int32)
    rows, sims = top_k_cosine(
        q_indptr, q_indices, q_values, indptr, indices, values, norms,
        np.array([True, False]), 3, 1, 3,
    )  # fmt: skip
    assert rows.tolist() == [[0, -1, -1]]
    assert sims[0, 0] == 0.0 and np.isnan(sims[0, 1:]).all()
