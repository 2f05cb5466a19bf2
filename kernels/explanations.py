"""Explanations that come with an estimate: the analogies behind it and the features
that pushed it up or down."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from kernels.features import FeatureRows
from kernels.item_store import ItemStore

#: Batches up to this size go row by row: cheaper than setting up the batch arrays.
_ROW_BY_ROW = 8


def analogy_columns(
    items: ItemStore, rows: NDArray[np.int64], sims: NDArray[np.float64], n: int
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
    """The first ``n`` neighbours of each query, best first: ``(rows, efforts,
    similarities)``, similarities clipped to [-1, 1] (a row of -1 is no neighbour)."""
    rows = rows[:, :n]
    return rows, items.efforts[np.maximum(rows, 0)], np.clip(sims[:, :n], -1.0, 1.0)


def drivers_of(
    rows: FeatureRows, i: int, coef: NDArray[np.float64], text_start: int, n: int
) -> tuple[tuple[str, float], ...]:
    """The ``n`` features of row ``i`` with the largest contribution to the linear model's
    log-effort estimate, as ``(name, contribution)``; hashed text counts as one driver,
    ``"text"``. Needs ``rows`` built with labels. (One row at a time: the reference for
    :func:`drivers_many`.)"""
    if n == 0:
        return ()
    if rows.parts is None:
        raise ValueError("drivers need rows built with labels")
    contributions: dict[str, float] = {}
    for label, pos, value in rows.parts.row(i):
        contributions[label] = contributions.get(label, 0.0) + value * float(coef[pos])
    idx, val = rows.row(i)
    text = idx >= text_start
    # The text is a candidate of its own, after the features (as in drivers_many), even
    # beside a feature that happens to be named "text".
    candidates = [*contributions.items(), ("text", float(val[text] @ coef[idx[text]]))]
    ranked = sorted(candidates, key=lambda kv: -abs(kv[1]))
    return tuple((name, c) for name, c in ranked[:n] if c != 0.0)


def drivers_many(
    rows: FeatureRows, coef: NDArray[np.float64], text_start: int, n: int
) -> list[tuple[tuple[str, float], ...]]:
    """:func:`drivers_of` for every row, computed for the whole batch at once.

    Each row's candidates sit in one row of a matrix, in the order :func:`drivers_of`
    meets them (its numeric columns, then its tokens, then the text), so a stable sort by
    magnitude ranks ties the same way. Small batches, and a batch whose token labels
    repeat within a row or coincide with a column's label (contributions that
    :func:`drivers_of` adds up), go row by row.
    """
    count = len(rows)
    parts = rows.parts
    if n == 0 or count == 0:
        return [() for _ in range(count)]
    if parts is None:
        raise ValueError("drivers need rows built with labels")
    if count <= _ROW_BY_ROW:
        return [drivers_of(rows, i, coef, text_start, n) for i in range(count)]
    names = parts.names
    column_labels = set(names)
    widths = np.diff(parts.tok_indptr)
    if any(t in column_labels for t in parts.tokens) or any(
        len(set(parts.tokens[lo:hi])) != hi - lo
        for lo, hi in zip(parts.tok_indptr[:-1], parts.tok_indptr[1:], strict=True) if hi - lo > 1
    ):
        return [drivers_of(rows, i, coef, text_start, n) for i in range(count)]
    n_cols = len(names)
    width = int(widths.max()) if widths.size else 0
    cand = np.zeros((count, n_cols + width + 1))
    if n_cols:
        cand[:, :n_cols] = parts.z * (parts.col_sign * coef[parts.col_pos])
    if width:
        row_of = np.repeat(np.arange(count), widths)
        slot = np.arange(len(parts.tokens)) - parts.tok_indptr[row_of]
        cand[row_of, n_cols + slot] = parts.tok_sign * coef[parts.tok_pos]
    product = np.where(rows.indices >= text_start, rows.values * coef[rows.indices], 0.0)
    filled = np.diff(rows.indptr) > 0
    if product.size:
        cand[filled, -1] = np.add.reduceat(product, rows.indptr[:-1][filled])
    take = min(n, cand.shape[1])
    order = np.argsort(-np.abs(cand), axis=1, kind="stable")[:, :take]
    top = np.take_along_axis(cand, order, axis=1)
    out: list[tuple[tuple[str, float], ...]] = []
    base = n_cols
    last = cand.shape[1] - 1
    for lo, order_row, top_row in zip(parts.tok_indptr.tolist(), order.tolist(), top.tolist(),
                                      strict=False):
        found = []
        for slot_i, c in zip(order_row, top_row, strict=True):
            if c == 0.0:
                continue
            if slot_i < base:
                found.append((names[slot_i], c))
            elif slot_i == last:
                found.append(("text", c))
            else:
                found.append((parts.tokens[lo + slot_i - base], c))
        out.append(tuple(found))
    return out
