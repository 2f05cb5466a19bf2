"""Cosine similarity of sparse feature vectors: row norms (kept by the item store) and an
exact brute-force top-k search over the sparse rows.

The estimator finds its analogies with :mod:`kernels.analogy_index` (an exact search of
compact vectors up to a few thousand items, hnswlib beyond); the brute-force search here
costs the total number of stored non-zeros per query and serves as the sparse reference.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray


@njit(cache=True, nogil=True)
def row_norms(
    indptr: NDArray[np.int64],
    indices: NDArray[np.uint16] | NDArray[np.int32],
    values: NDArray[np.float32],
    first_coord: int,
) -> NDArray[np.float64]:
    """L2 norm of each CSR row over the coordinates ``>= first_coord``."""
    n = indptr.shape[0] - 1
    out = np.zeros(n, dtype=np.float64)
    for i in range(n):
        acc = 0.0
        for k in range(indptr[i], indptr[i + 1]):
            if indices[k] >= first_coord:
                acc += np.float64(values[k]) * np.float64(values[k])
        out[i] = np.sqrt(acc)
    return out


@njit(cache=True, nogil=True)
def top_k_cosine(
    q_indptr: NDArray[np.int64],
    q_indices: NDArray[np.int32],
    q_values: NDArray[np.float64],
    indptr: NDArray[np.int64],
    indices: NDArray[np.uint16],
    values: NDArray[np.float32],
    norms: NDArray[np.float64],
    alive: NDArray[np.bool_],
    k: int,
    first_coord: int,
    dim: int,
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """The ``k`` stored rows most cosine-similar to each query row, best first.

    Only coordinates ``>= first_coord`` count (so a constant bias does not make everything
    look alike); rows with ``alive`` false are skipped; ties go to the earlier row. Returns
    ``(rows, similarities)``, each ``(n_queries, k)``, padded with -1 and NaN when fewer
    than ``k`` rows qualify. A zero vector has similarity 0 with everything.
    """
    n_q = q_indptr.shape[0] - 1
    out_rows = np.full((n_q, k), -1, dtype=np.int64)
    out_sims = np.full((n_q, k), np.nan, dtype=np.float64)
    dense = np.zeros(dim, dtype=np.float64)
    n_rows = indptr.shape[0] - 1
    for q in range(n_q):
        q_norm2 = 0.0
        for m in range(q_indptr[q], q_indptr[q + 1]):
            if q_indices[m] >= first_coord:
                dense[q_indices[m]] = q_values[m]
                q_norm2 += q_values[m] * q_values[m]
        q_norm = np.sqrt(q_norm2)
        found = 0
        for r in range(n_rows):
            if not alive[r]:
                continue
            dot = 0.0
            for m in range(indptr[r], indptr[r + 1]):
                dot += values[m] * dense[indices[m]]
            denom = q_norm * norms[r]
            sim = dot / denom if denom > 0.0 else 0.0
            if found < k:
                pos = found
                found += 1
            elif sim > out_sims[q, k - 1]:
                pos = k - 1
            else:
                continue
            while pos > 0 and out_sims[q, pos - 1] < sim:
                out_sims[q, pos] = out_sims[q, pos - 1]
                out_rows[q, pos] = out_rows[q, pos - 1]
                pos -= 1
            out_sims[q, pos] = sim
            out_rows[q, pos] = r
        for m in range(q_indptr[q], q_indptr[q + 1]):
            dense[q_indices[m]] = 0.0
    return out_rows, out_sims
