"""Approximate nearest learned items (hnswlib) over compact analogy vectors.

An item's analogy vector folds its sparse feature vector into ``width`` float32
coordinates: the structured block (numeric and categorical) keeps its own
coordinates and the hashed text block is folded onto the rest by index modulo (signed
hashing makes the fold another signed hash). The bias is left out. Similarity is cosine.
The index can be rebuilt from the stored feature vectors; a model snapshot may also carry
the graph itself (:meth:`AnalogyIndex.graph_state`), which restores in milliseconds where a
large tenant's rebuild takes seconds.

While the index holds at most ``flat_limit`` vectors (4,096 by default), a search compares
the query with every live vector instead of walking the graph
(:mod:`kernels.exact_neighbours`): exact, and faster at that size. Measured on story-point
titles and descriptions (about 110 non-zero coordinates of 256), k=20, per query in a batch
of 200 / alone: 1,480 items 13 / 15 µs against the graph's 40 / 46; 4,000 items 34 / 40
against 53 / 57.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import hnswlib
import numpy as np
from numba import njit
from numpy.typing import NDArray

from kernels.exact_neighbours import ExactNeighbours, unit_rows


@njit(cache=True, nogil=True)
def fold_rows(
    indptr: NDArray[np.int64],
    indices: NDArray[np.int32] | NDArray[np.uint16],
    values: NDArray[np.float64] | NDArray[np.float32],
    text_start: int,
    width: int,
) -> NDArray[np.float32]:
    """Dense ``(n_rows, width)`` analogy vectors of CSR rows (coordinate 0, the bias, dropped).

    Coordinate ``c`` in ``1..text_start-1`` goes to ``c - 1``; text coordinate ``c`` goes to
    ``head + (c - text_start) % (width - head)`` with ``head = text_start - 1``.
    """
    n = indptr.shape[0] - 1
    head = text_start - 1
    out = np.zeros((n, width), dtype=np.float32)
    for i in range(n):
        for k in range(indptr[i], indptr[i + 1]):
            c = np.int64(indices[k])
            if c == 0:
                continue
            j = c - 1 if c < text_start else head + (c - text_start) % (width - head)
            out[i, j] += np.float32(values[k])
    # A zero vector has no direction; give it the uniform one, so that items without
    # features resemble each other and the cosine stays defined.
    for i in range(n):
        empty = True
        for col in range(width):
            if out[i, col] != 0.0:
                empty = False
                break
        if empty:
            out[i, :] = np.float32(1.0)
    return out


#: Most vectors an index searches exhaustively (see the module's docstring).
FLAT_LIMIT = 4096


class AnalogyIndex:
    """An hnswlib cosine index of analogy vectors, labelled by item-store row.

    ``ef`` is the search breadth (at least ``k``); construction uses one thread and a
    fixed seed, so inserting the same vectors in the same order gives the same graph.
    Up to ``flat_limit`` vectors, searches are exhaustive (a copy of the normalised
    vectors is kept for them).
    """

    def __init__(self, width: int, seed: int = 0, ef: int = 64, m: int = 16,
                 flat_limit: int = FLAT_LIMIT) -> None:
        self.width = width
        self.seed = seed
        self.ef = ef
        self.m = m
        self.flat_limit = flat_limit
        self.n_deleted = 0
        self._index = self._new(1024)
        self._reset_flat()

    def _reset_flat(self) -> None:
        self._flat: ExactNeighbours | None = (
            ExactNeighbours(self.width) if self.flat_limit > 0 else None)

    def _new(self, capacity: int) -> hnswlib.Index:
        index = hnswlib.Index(space="cosine", dim=self.width)
        index.init_index(max_elements=capacity, ef_construction=100, M=self.m,
                         random_seed=self.seed)  # fmt: skip
        index.set_num_threads(1)
        index.set_ef(self.ef)
        return index

    @property
    def size(self) -> int:
        """Vectors held, deleted ones included."""
        return int(self._index.get_current_count())

    @property
    def n_live(self) -> int:
        """Vectors a search can return."""
        return self.size - self.n_deleted

    def add(self, vectors: NDArray[np.float32], labels: NDArray[np.int64]) -> None:
        """Insert vectors in order (growing the index as needed)."""
        if vectors.shape[0] == 0:
            return
        need = self.size + vectors.shape[0]
        capacity = int(self._index.get_max_elements())
        if need > capacity:
            self._index.resize_index(max(need, 2 * capacity))
        self._index.add_items(vectors, labels, num_threads=1)
        if self._flat is not None:
            if self._flat.size + vectors.shape[0] > self.flat_limit:
                self._flat = None  # the graph serves from now on; free the copy
            else:
                self._flat.add(vectors, labels)

    def delete(self, label: int) -> None:
        """Hide one vector from searches."""
        self._index.mark_deleted(int(label))
        self.n_deleted += 1
        if self._flat is not None:
            self._flat.delete(int(label))

    def rebuild(self, vectors: NDArray[np.float32], labels: NDArray[np.int64]) -> None:
        """Replace the whole index by these vectors, inserted in order.

        The graph is then reloaded from its own saved state, which seeds hnswlib's level
        generator afresh: an index restored from a snapshot of it (:meth:`load_graph`)
        then grows exactly as this one does.
        """
        self._index = self._new(max(1024, vectors.shape[0]))
        self.n_deleted = 0
        self._reset_flat()
        self.add(vectors, labels)
        if self.size:
            self._index = self._restored(self.graph_state())

    def _restored(self, params: Mapping[str, Any]) -> hnswlib.Index:
        index = hnswlib.Index(dict(params))
        index.set_num_threads(1)
        index.set_ef(self.ef)
        return index

    def query(
        self, vectors: NDArray[np.float32], k: int
    ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """The ``k`` nearest live vectors of each query, best first: ``(labels, similarities)``.

        ``k`` must not exceed the number of live vectors. A zero vector has similarity 0
        with everything.
        """
        if k <= 0 or vectors.shape[0] == 0:
            return np.zeros((vectors.shape[0], 0), np.int64), np.zeros((vectors.shape[0], 0))
        if self._flat is not None:
            return self._flat.query(vectors, k)
        ef = max(self.ef, k)
        try:
            for _ in range(3):
                self._index.set_ef(ef)
                try:
                    labels, dist = self._index.knn_query(vectors, k=k, num_threads=1)
                    return labels.astype(np.int64), 1.0 - dist.astype(np.float64)
                except RuntimeError:  # too few live vectors reached: search wider
                    ef = min(4 * ef, self.size)
        finally:
            self._index.set_ef(self.ef)
        return self._exact(vectors, k)

    def _exact(
        self, vectors: NDArray[np.float32], k: int
    ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """Brute-force search over the live vectors (the rare case the graph cannot serve)."""
        labels = np.asarray(self._index.get_ids_list(), dtype=np.int64)
        if self.n_deleted:
            live = [lb for lb in labels if not self._is_deleted(int(lb))]
            labels = np.asarray(live, dtype=np.int64)
        stored = np.asarray(self._index.get_items(labels), dtype=np.float64)
        stored /= np.maximum(np.linalg.norm(stored, axis=1, keepdims=True), 1e-30)
        q = vectors.astype(np.float64)
        q /= np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-30)
        sims = q @ stored.T
        order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
        return labels[order], np.take_along_axis(sims, order, axis=1)

    def graph_state(self) -> dict[str, Any]:
        """The hnswlib graph as plain values and arrays (for model snapshots): restoring
        it with :meth:`load_graph` skips rebuilding, which is most of a large tenant's
        load time (about 5 s for 21,000 items), and gives the very same graph.

        Raises ValueError if vectors are deleted (the caller compacts first).
        """
        if self.n_deleted:
            raise ValueError("compact the index before saving its graph")
        params = dict(self._index.__getstate__()[0])
        count = int(params["cur_element_count"])
        params["element_levels"] = np.asarray(params["element_levels"])[:count].copy()
        params["max_elements"] = count
        return params

    def load_graph(self, params: Mapping[str, Any], vectors: NDArray[np.float32],
                   labels: NDArray[np.int64]) -> None:
        """Replace the index by a saved graph of exactly these labelled vectors (see
        :meth:`graph_state`); the vectors also refill the exhaustive copy of a small index.

        Raises ValueError if the graph is not one of these vectors under these labels, or
        is malformed in a way that would make hnswlib read outside its arrays.
        """
        _check_graph(params, self.width, vectors, labels)
        self._index = self._restored(params)
        self.n_deleted = 0
        self._reset_flat()
        if self._flat is not None and labels.shape[0] <= self.flat_limit:
            self._flat.add(vectors, labels)
        else:
            self._flat = None

    def _is_deleted(self, label: int) -> bool:
        try:
            self._index.get_items([label])
        except RuntimeError:
            return True
        return False


_GRAPH_ARRAYS = {"label_lookup_external": np.uint64, "label_lookup_internal": np.uint32,
                 "element_levels": np.int32, "data_level0": np.int8, "link_lists": np.int8}


def _check_graph(params: Mapping[str, Any], width: int, vectors: NDArray[np.float32],
                 labels: NDArray[np.int64]) -> None:
    """Refuse a saved graph unless it is a cosine graph of exactly ``vectors`` under
    ``labels`` whose every size, count, link and label stays inside its arrays (hnswlib
    itself trusts what it is given, and reads out of bounds otherwise)."""
    try:
        count = int(params["cur_element_count"])
        m, m0 = int(params["max_M"]), int(params["max_M0"])
        per_element = int(params["size_data_per_element"])
        links_per_level = int(params["size_links_per_element"])
        offsets = (int(params["offset_level0"]), int(params["offset_data"]),
                   int(params["label_offset"]))
        entry, top = int(params["enterpoint_node"]), int(params["max_level"])
        arrays = {k: params[k] for k in _GRAPH_ARRAYS}
        ok = (params["space"] == "cosine" and int(params["dim"]) == width
              and not params["has_deletions"] and count == labels.shape[0] > 0
              and int(params["max_elements"]) == count and 0 < m <= m0 <= 4096
              and links_per_level == 4 + 4 * m
              and offsets == (0, 4 + 4 * m0, 4 + 4 * m0 + 4 * width)
              and per_element == offsets[2] + 8 and 0 <= entry < count)
    except (KeyError, TypeError, ValueError, OverflowError) as e:
        raise ValueError(f"malformed analogy graph: {e!r}") from e
    if not ok:
        raise ValueError("the analogy graph does not match the stored items")
    for key, dtype in _GRAPH_ARRAYS.items():
        value = arrays[key]
        if not isinstance(value, np.ndarray) or value.dtype != dtype or value.ndim != 1:
            raise ValueError(f"malformed analogy graph: {key}")
    levels = arrays["element_levels"].astype(np.int64)
    if (arrays["data_level0"].shape[0] != count * per_element or levels.shape[0] != count
            or arrays["label_lookup_external"].shape[0] != count
            or arrays["label_lookup_internal"].shape[0] != count
            or np.any(levels < 0) or np.any(levels > 64) or levels[entry] != top
            or top != levels.max()
            or arrays["link_lists"].shape[0] != int(levels.sum()) * links_per_level):
        raise ValueError("malformed analogy graph: array sizes do not match")
    internal = arrays["label_lookup_internal"].astype(np.int64)
    if not np.array_equal(np.sort(internal), np.arange(count)):
        raise ValueError("malformed analogy graph: internal ids")
    rows = arrays["data_level0"].view(np.uint8).reshape(count, per_element)
    _check_links(rows[:, :offsets[1]], m0, count)
    upper = arrays["link_lists"].view(np.uint8).reshape(-1, links_per_level)
    _check_links(upper, m, count)
    stored = np.ascontiguousarray(rows[:, offsets[2]:]).view(np.uint64).reshape(count)
    external = arrays["label_lookup_external"].astype(np.int64)
    if not np.array_equal(stored[internal].astype(np.int64), external):
        raise ValueError("malformed analogy graph: labels")
    if not np.array_equal(np.sort(external), np.sort(labels)):
        raise ValueError("the analogy graph does not hold the stored items")
    order = np.argsort(labels)
    position = order[np.searchsorted(labels[order], external)]
    data = np.ascontiguousarray(rows[:, offsets[1]:offsets[2]]).view(np.float32)
    expected = unit_rows(vectors[position])
    if not np.allclose(data[internal], expected, atol=1e-5):
        raise ValueError("the analogy graph does not hold the stored vectors")


def _check_links(blocks: NDArray[np.uint8], most: int, count: int) -> None:
    """Each block: a link count (the first two bytes) of at most ``most``, then that many
    node ids below ``count``."""
    if blocks.shape[0] == 0:
        return
    counts = np.ascontiguousarray(blocks[:, :2]).view(np.uint16).reshape(-1).astype(np.int64)
    ids = np.ascontiguousarray(blocks[:, 4:4 + 4 * most]).view(np.uint32)
    used = np.arange(most)[None, :] < counts[:, None]
    if np.any(counts > most) or np.any(ids[used] >= count):
        raise ValueError("malformed analogy graph: links")
