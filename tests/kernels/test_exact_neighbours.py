"""Exhaustive cosine search: the right neighbours, ties and deletions, growth, and answers
that do not depend on the batch a query was asked in."""

from __future__ import annotations

import numpy as np

from kernels.exact_neighbours import ExactNeighbours, cosine_top_k


def _sparse(rng: np.random.Generator, n: int, width: int) -> np.ndarray:
    x = rng.normal(size=(n, width)) * (rng.random((n, width)) < 0.1)
    x[:, 0] += 0.5
    return x.astype(np.float32)


def test_neighbours_match_numpy_across_growth_replacement_and_deletion() -> None:
    rng = np.random.default_rng(0)
    x = _sparse(rng, 300, 48)
    index = ExactNeighbours(48)
    for lo in range(0, 300, 37):  # many small adds: the storage grows several times
        index.add(x[lo:lo + 37], np.arange(lo, min(lo + 37, 300)))
    index.add(x[5:6] * 0 + x[6], np.array([5]))  # label 5 now holds vector 6
    index.delete(9)
    q = _sparse(rng, 20, 48)
    labels, sims = index.query(q, 6)
    stored = x.astype(np.float64).copy()
    stored[5] = x[6]
    unit = stored / np.linalg.norm(stored, axis=1, keepdims=True)
    qn = q / np.linalg.norm(q.astype(np.float64), axis=1, keepdims=True)
    ref = qn @ unit.T
    ref[:, 9] = -np.inf
    want = np.argsort(-ref, axis=1, kind="stable")[:, :6]
    np.testing.assert_array_equal(labels, want)
    np.testing.assert_allclose(sims, np.take_along_axis(ref, want, axis=1), atol=1e-6)


def test_a_query_gets_the_same_answer_alone_or_in_a_batch() -> None:
    rng = np.random.default_rng(1)
    index = ExactNeighbours(64)
    index.add(_sparse(rng, 500, 64), np.arange(500))
    q = _sparse(rng, 50, 64)
    labels, sims = index.query(q, 10)
    for i in (0, 17, 49):
        one_labels, one_sims = index.query(q[i:i + 1], 10)
        assert one_labels.tolist() == labels[i:i + 1].tolist()
        assert one_sims.tolist() == sims[i:i + 1].tolist()  # bit for bit


def test_ties_go_to_the_lower_column_and_dead_columns_are_skipped() -> None:
    columns = np.array([[0.5, 0.9, 0.5, 0.9, 0.1]], dtype=np.float32)
    query = np.ones((1, 1), dtype=np.float32)
    live = np.array([True, True, True, False, True])
    labels = np.array([10, 11, 12, 13, 14])
    found, vals = cosine_top_k(query, columns, labels, 5, live, 3)
    assert found.tolist() == [[11, 10, 12]]
    np.testing.assert_allclose(vals, [[0.9, 0.5, 0.5]], rtol=1e-6)
    found, _ = cosine_top_k(query, columns, labels, 5,
                            np.array([False, False, True, False, False]), 2)
    assert found.tolist() == [[12, -1]]
