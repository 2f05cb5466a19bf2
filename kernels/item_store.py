"""The learned items: ids, titles, efforts and the exact feature vectors the model saw.

Vectors live in one growable CSR arena (uint16 indices, as ``dim`` is at most 65,536;
float32 values, which the feature builder has already rounded to, so these are exactly the
learned rows): six bytes per stored non-zero. Learning an id
again appends a new row and retires the old one, which stays available for the model to
unlearn; retired rows are dropped by :meth:`ItemStore.compact`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit
from numpy.typing import NDArray

from kernels.analogies import row_norms
from kernels.features import FeatureRows


@njit(cache=True, nogil=True)
def gather_rows(
    indptr: NDArray[np.int64],
    indices: NDArray[np.uint16],
    values: NDArray[np.float32],
    rows: NDArray[np.int64],
) -> tuple[NDArray[np.int64], NDArray[np.int32], NDArray[np.float64]]:
    """CSR of the selected ``rows`` (a row id of -1 gives an empty row), values as float64."""
    out_indptr = np.zeros(rows.shape[0] + 1, dtype=np.int64)
    for i in range(rows.shape[0]):
        r = rows[i]
        size = indptr[r + 1] - indptr[r] if r >= 0 else 0
        out_indptr[i + 1] = out_indptr[i] + size
    out_indices = np.empty(out_indptr[-1], dtype=np.int32)
    out_values = np.empty(out_indptr[-1], dtype=np.float64)
    for i in range(rows.shape[0]):
        r = rows[i]
        if r < 0:
            continue
        base = out_indptr[i] - indptr[r]
        for k in range(indptr[r], indptr[r + 1]):
            out_indices[base + k] = indices[k]
            out_values[base + k] = np.float64(values[k])
    return out_indptr, out_indices, out_values


class ItemStore:
    """Append-only arena of learned items with a map from item id to its live row.

    ``first_coord`` is the first coordinate that counts for similarity (the bias is left
    out); row norms over those coordinates are kept for cosine similarity.
    """

    def __init__(self, first_coord: int = 1) -> None:
        self.first_coord = first_coord
        self.ids: list[str] = []
        self.titles: list[str] = []
        self.features: list[str] = []
        self.efforts = np.zeros(0, dtype=np.float64)
        self.alive = np.zeros(0, dtype=np.bool_)
        self.norms = np.zeros(0, dtype=np.float64)
        self.indptr = np.zeros(1, dtype=np.int64)
        self._indices = np.zeros(0, dtype=np.uint16)
        self._values = np.zeros(0, dtype=np.float32)
        self._row_of: dict[str, int] = {}
        self._log_efforts = (self.efforts, np.zeros(0, dtype=np.float64))

    @property
    def log_efforts(self) -> NDArray[np.float64]:
        """``log(efforts)``, computed once per efforts array (``efforts`` is only ever
        replaced, never written in place)."""
        source, logs = self._log_efforts
        if source is not self.efforts:
            logs = np.log(self.efforts)
            self._log_efforts = (self.efforts, logs)
        return logs

    @property
    def n_rows(self) -> int:
        """Rows held, live and retired."""
        return len(self.ids)

    @property
    def n_live(self) -> int:
        """Distinct item ids held."""
        return len(self._row_of)

    @property
    def indices(self) -> NDArray[np.uint16]:
        """Column indices of all rows (a view of the used part of the arena)."""
        return self._indices[: self.indptr[-1]]

    @property
    def values(self) -> NDArray[np.float32]:
        """Values of all rows (a view of the used part of the arena)."""
        return self._values[: self.indptr[-1]]

    def row_of(self, item_id: str) -> int:
        """The live row of ``item_id``, or -1."""
        return self._row_of.get(item_id, -1)

    def append(
        self,
        item_ids: list[str],
        titles: list[str],
        efforts: NDArray[np.float64],
        rows: FeatureRows,
        features: list[str] | None = None,
    ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """Add items in order; returns ``(new_rows, replaced_rows)`` (-1 where an id is new).

        ``features`` are the items' raw structured features, JSON-encoded (kept so that a
        refit can scale them afresh). A repeated id retires its previous row, which may be
        one added earlier in the same call.
        """
        n = len(item_ids)
        start = self.n_rows
        nnz = int(rows.indptr[-1])
        used = int(self.indptr[-1])
        if used + nnz > self._indices.shape[0]:
            capacity = max(2 * self._indices.shape[0], used + nnz, 1024)
            self._indices = np.concatenate([self.indices, np.zeros(capacity - used, np.uint16)])
            self._values = np.concatenate([self.values, np.zeros(capacity - used, np.float32)])
        self._indices[used : used + nnz] = rows.indices.astype(np.uint16)
        self._values[used : used + nnz] = rows.values.astype(np.float32)
        self.indptr = np.concatenate([self.indptr, used + rows.indptr[1:]])
        self.ids.extend(item_ids)
        self.titles.extend(titles)
        self.features.extend(features if features is not None else ["{}"] * n)
        self.efforts = np.concatenate([self.efforts, np.asarray(efforts, dtype=np.float64)])
        norms = row_norms(
            rows.indptr, rows.indices, rows.values.astype(np.float32), self.first_coord
        )
        self.norms = np.concatenate([self.norms, norms])
        self.alive = np.concatenate([self.alive, np.ones(n, dtype=np.bool_)])
        new_rows = np.arange(start, start + n, dtype=np.int64)
        replaced = np.full(n, -1, dtype=np.int64)
        for i, item_id in enumerate(item_ids):
            old = self._row_of.get(item_id, -1)
            if old >= 0:
                replaced[i] = old
                self.alive[old] = False
            self._row_of[item_id] = start + i
        return new_rows, replaced

    def rows(
        self, row_ids: NDArray[np.int64]
    ) -> tuple[NDArray[np.int64], NDArray[np.int32], NDArray[np.float64]]:
        """CSR copy of the given rows (-1 gives an empty row)."""
        return gather_rows(self.indptr, self._indices, self._values, row_ids)

    def compact(self) -> None:
        """Drop retired rows (row numbers change)."""
        if self.n_live == self.n_rows:
            return
        keep = np.flatnonzero(self.alive)
        indptr, indices, values = gather_rows(self.indptr, self._indices, self._values, keep)
        self.indptr = indptr
        self._indices = indices.astype(np.uint16)
        self._values = values.astype(np.float32)
        self.ids = [self.ids[r] for r in keep]
        self.titles = [self.titles[r] for r in keep]
        self.features = [self.features[r] for r in keep]
        self.efforts = self.efforts[keep]
        self.norms = self.norms[keep]
        self.alive = np.ones(keep.shape[0], dtype=np.bool_)
        self._row_of = {item_id: r for r, item_id in enumerate(self.ids)}

    def to_state(self) -> dict[str, Any]:
        """Plain-data snapshot of the live items, as :meth:`compact` would leave them
        (retired rows are not kept); the store itself is left as it is."""
        if self.n_live == self.n_rows:
            return {
                "ids": list(self.ids),
                "titles": list(self.titles),
                "features": list(self.features),
                "efforts": self.efforts.copy(),
                "indptr": self.indptr.copy(),
                "indices": self.indices.copy(),
                "values": self.values.copy(),
            }
        keep = np.flatnonzero(self.alive)
        indptr, indices, values = gather_rows(self.indptr, self._indices, self._values, keep)
        return {
            "ids": [self.ids[r] for r in keep],
            "titles": [self.titles[r] for r in keep],
            "features": [self.features[r] for r in keep],
            "efforts": self.efforts[keep],
            "indptr": indptr,
            "indices": indices.astype(np.uint16),
            "values": values.astype(np.float32),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], first_coord: int = 1,
                   dim: int = 1 << 16) -> ItemStore:
        """Rebuild from :meth:`to_state` output; ValueError unless it holds positive finite
        efforts and well-formed rows (sorted coordinates in ``[0, dim)``, finite values):
        the kernels index by them unchecked."""
        store = cls(first_coord)
        store.ids = [str(s) for s in state["ids"]]
        store.titles = [str(s) for s in state["titles"]]
        store.features = [str(s) for s in state["features"]]
        n = len(store.ids)
        if len(store.titles) != n or len(store.features) != n:
            raise ValueError("item state: ids, titles and features differ in length")
        store.efforts = np.array(state["efforts"], dtype=np.float64).reshape(n)
        if not np.all(np.isfinite(store.efforts) & (store.efforts > 0)):
            raise ValueError("item state: efforts must be finite and > 0")
        indptr = np.asarray(state["indptr"])
        indices = np.asarray(state["indices"]).reshape(-1)
        values = np.array(state["values"], dtype=np.float32).reshape(-1)
        _check_rows(indptr, indices, values, n, min(dim, 1 << 16))
        store.indptr = indptr.astype(np.int64).reshape(n + 1)
        store._indices = indices.astype(np.uint16)
        store._values = values
        store.norms = row_norms(store.indptr, store._indices, store._values, first_coord)
        store.alive = np.ones(n, dtype=np.bool_)
        store._row_of = {item_id: r for r, item_id in enumerate(store.ids)}
        if len(store._row_of) != n:
            raise ValueError("item state: duplicate item ids")
        return store


def _check_rows(indptr: NDArray[Any], indices: NDArray[Any], values: NDArray[np.float32],
                n: int, dim: int) -> None:
    """ValueError unless the arrays are ``n`` CSR rows of sorted coordinates in ``[0, dim)``
    with finite values."""
    if indptr.shape != (n + 1,) or indptr.dtype.kind not in "iu" or indices.dtype.kind not in "iu":
        raise ValueError("item state: rows are not integer CSR arrays of the item count")
    nnz = indices.shape[0]
    if values.shape[0] != nnz or indptr[0] != 0 or indptr[-1] != nnz or np.any(
            np.diff(indptr.astype(np.int64)) < 0):
        raise ValueError("item state: row offsets do not match the stored coordinates")
    if nnz and (int(indices.min()) < 0 or int(indices.max()) >= dim):
        raise ValueError(f"item state: coordinates outside [0, {dim})")
    if not np.all(np.isfinite(values)):
        raise ValueError("item state: feature values must be finite")
    if nnz > 1:
        follows = np.ones(nnz, dtype=np.bool_)
        follows[indptr[:-1][indptr[:-1] < nnz].astype(np.int64)] = False  # row starts
        if np.any(np.diff(indices.astype(np.int64))[follows[1:]] <= 0):
            raise ValueError("item state: a row's coordinates are not sorted")

