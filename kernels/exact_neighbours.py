"""Exact nearest neighbours by cosine similarity, for an analogy index that is still small.

The unit vectors are stored as the columns of a ``(width, capacity)`` float32 matrix. A
query's similarities to every stored vector accumulate in float64 over the query's non-zero
coordinates, in ascending order: the loop over stored vectors vectorises (each lane is
another vector), and a similarity does not depend on the batch it was asked in, on thread
counts or on a BLAS library's blocking, so the same query always ranks the same neighbours.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray


@njit(cache=True, nogil=True)
def cosine_top_k(
    queries: NDArray[np.float32],
    columns: NDArray[np.float32],
    labels: NDArray[np.int64],
    n: int,
    live: NDArray[np.bool_],
    k: int,
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """For each query row, the ``k`` live columns among the first ``n`` (unit vectors) with
    the largest cosine similarity, most similar first, as ``(labels of the columns,
    similarities)``; of equal similarities the lower column comes first, and a row with fewer
    than ``k`` live columns ends in ``-1``."""
    nq, width = queries.shape
    found = np.full((nq, k), -1, dtype=np.int64)
    best = np.full((nq, k), -np.inf)
    sims = np.empty(n, dtype=np.float64)
    for q in range(nq):
        norm = 0.0
        for j in range(width):
            norm += np.float64(queries[q, j]) ** 2
        scale = 1.0 / max(np.sqrt(norm), 1e-30)
        sims[:] = 0.0
        for j in range(width):
            v = np.float64(queries[q, j]) * scale
            if v != 0.0:
                for i in range(n):
                    sims[i] += v * columns[j, i]
        filled = 0
        for i in range(n):
            if not live[i]:
                continue
            s = sims[i]
            if filled == k and s <= best[q, k - 1]:
                continue
            p = filled if filled < k else k - 1
            while p > 0 and best[q, p - 1] < s:
                best[q, p] = best[q, p - 1]
                found[q, p] = found[q, p - 1]
                p -= 1
            best[q, p] = s
            found[q, p] = labels[i]
            if filled < k:
                filled += 1
    return found, best


def unit_rows(vectors: NDArray[np.float32]) -> NDArray[np.float32]:
    """The rows scaled to length 1 (a zero row stays zero)."""
    norms = np.linalg.norm(vectors.astype(np.float64), axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-30)).astype(np.float32)


class ExactNeighbours:
    """Labelled unit vectors searched exhaustively; adding a label again replaces it."""

    def __init__(self, width: int) -> None:
        self.width = width
        self.size = 0
        self._columns = np.zeros((width, 64), dtype=np.float32)
        self._labels = np.zeros(64, dtype=np.int64)
        self._live = np.zeros(64, dtype=np.bool_)
        self._position: dict[int, int] = {}

    def add(self, vectors: NDArray[np.float32], labels: NDArray[np.int64]) -> None:
        """Store the vectors (normalised) under their labels."""
        count = vectors.shape[0]
        end = self.size + count
        if end > self._labels.shape[0]:
            capacity = max(end, 2 * self._labels.shape[0])
            columns = np.zeros((self.width, capacity), dtype=np.float32)
            columns[:, :self.size] = self._columns[:, :self.size]
            self._columns = columns
            self._labels = np.concatenate(
                [self._labels, np.zeros(capacity - self._labels.shape[0], np.int64)])
            self._live = np.concatenate(
                [self._live, np.zeros(capacity - self._live.shape[0], np.bool_)])
        self._columns[:, self.size:end] = unit_rows(vectors).T
        self._labels[self.size:end] = labels
        self._live[self.size:end] = True
        for i, label in enumerate(labels.tolist()):
            old = self._position.get(label)
            if old is not None:
                self._live[old] = False
            self._position[label] = self.size + i
        self.size = end

    def delete(self, label: int) -> None:
        """Hide a label from searches."""
        self._live[self._position.pop(label)] = False

    def query(self, vectors: NDArray[np.float32], k: int
              ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """The labels and similarities of each query's ``k`` nearest live vectors, best
        first (-1 past the live count)."""
        return cosine_top_k(vectors, self._columns, self._labels, self.size, self._live, k)
