"""The hnswlib analogy index and the folding of feature vectors, against numpy."""

from __future__ import annotations

import numpy as np
import pytest

from kernels.analogy_index import AnalogyIndex, fold_rows


def ref_fold(x: np.ndarray, text_start: int, width: int) -> np.ndarray:
    head = text_start - 1
    out = np.zeros((x.shape[0], width))
    out[:, :head] = x[:, 1:text_start]
    for c in range(text_start, x.shape[1]):
        out[:, head + (c - text_start) % (width - head)] += x[:, c]
    out[~out.any(axis=1)] = 1.0
    return out


def to_csr(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    indptr = np.concatenate([[0], np.cumsum((x != 0).sum(axis=1))]).astype(np.int64)
    rows, cols = np.nonzero(x)
    return indptr, cols.astype(np.int32), x[rows, cols]


def test_fold_matches_reference() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 100)) * (rng.random((30, 100)) < 0.2)
    x[:, 0] = 1.0
    x[4, 1:] = 0.0  # only the bias: folds to the uniform direction
    got = fold_rows(*to_csr(x), 21, 48)
    np.testing.assert_allclose(got, ref_fold(x, 21, 48), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("flat_limit", [0, 2048], ids=["graph", "exhaustive"])
def test_index_finds_exact_neighbours_and_skips_deleted(flat_limit: int) -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 32)).astype(np.float32)
    index = AnalogyIndex(32, seed=0, ef=64, flat_limit=flat_limit)
    index.add(x[:200], np.arange(200))
    index.add(x[200:], np.arange(200, 300))  # grows past the first capacity
    index.delete(7)
    q = x[[7, 11]] + 0.01
    labels, sims = index.query(q.astype(np.float32), 5)
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    ref = (q / np.linalg.norm(q, axis=1, keepdims=True)) @ xn.T
    ref[:, 7] = -np.inf
    want = np.argsort(-ref, axis=1)[:, :5]
    np.testing.assert_array_equal(labels, want)
    np.testing.assert_allclose(sims, np.take_along_axis(ref, want, axis=1), atol=1e-5)
    assert index.n_live == 299
    exact_labels, exact_sims = index._exact(q.astype(np.float32), 5)
    np.testing.assert_array_equal(exact_labels, want)
    np.testing.assert_allclose(exact_sims, sims, atol=1e-5)


def test_rebuild_gives_the_same_answers() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(100, 16)).astype(np.float32)
    a, b = AnalogyIndex(16), AnalogyIndex(16)
    a.add(x, np.arange(100))
    b.rebuild(x, np.arange(100))
    q = rng.normal(size=(10, 16)).astype(np.float32)
    np.testing.assert_array_equal(a.query(q, 4)[0], b.query(q, 4)[0])


def test_search_turns_from_exhaustive_to_the_graph_past_the_limit() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(120, 16)).astype(np.float32)
    small, graph = AnalogyIndex(16, flat_limit=100), AnalogyIndex(16, flat_limit=0)
    for index in (small, graph):
        index.add(x[:90], np.arange(90))
        index.delete(3)
    q = rng.normal(size=(20, 16)).astype(np.float32)
    assert small._flat is not None
    np.testing.assert_array_equal(small.query(q, 6)[0], graph.query(q, 6)[0])
    for index in (small, graph):
        index.add(x[90:], np.arange(90, 120))  # 120 > 100: the copy is dropped
    assert small._flat is None
    np.testing.assert_array_equal(small.query(q, 6)[0], graph.query(q, 6)[0])
    small.rebuild(x[:50], np.arange(50))  # small again: exhaustive again
    assert small._flat is not None and small.query(q, 3)[0].max() < 50
