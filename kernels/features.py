"""Feature vectors of work items: bias, numeric, categorical and hashed-text blocks.

A batch of items becomes one CSR matrix (``indptr`` int64, ``indices`` int32 ascending per
row, ``values`` float64). Values are rounded to float32 precision when built, so a row kept
in float32 for later (the item store) is bit-for-bit the row the model learned from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit
from numpy.typing import NDArray

from kernels.config import EstimatorConfig
from kernels.hashing import encode_texts, hash_texts, hash_tokens
from kernels.numeric_scaling import NumericScaler

FeatureValue = float | int | str | None
MISSING = "<missing>"
_TOKEN_CACHE_LIMIT = 1 << 16


@dataclass(frozen=True)
class LabelParts:
    """The named (non-text) entries of a batch of rows, kept as the arrays they were built
    from: numeric columns ``names`` with their scaled values ``z`` (rows x columns), and the
    hashed ``name=value`` tokens of each row (CSR over ``tokens`` by ``tok_indptr``).
    Positions are coordinates of the feature vector; signs are the hashing signs."""

    names: list[str]
    z: NDArray[np.float64]
    col_pos: NDArray[np.int64]
    col_sign: NDArray[np.float64]
    tokens: list[str]
    tok_indptr: NDArray[np.int64]
    tok_pos: NDArray[np.int64]
    tok_sign: NDArray[np.float64]

    def row(self, i: int) -> list[tuple[str, int, float]]:
        """Row ``i``'s named entries as ``(label, coordinate, value)``: each numeric column
        with a non-zero value, column by column, then the tokens."""
        out: list[tuple[str, int, float]] = []
        for j, nm in enumerate(self.names):
            if self.z[i, j] != 0.0:
                out.append((nm, int(self.col_pos[j]), float(self.col_sign[j] * self.z[i, j])))
        for k in range(self.tok_indptr[i], self.tok_indptr[i + 1]):
            out.append((self.tokens[k], int(self.tok_pos[k]), float(self.tok_sign[k])))
        return out


@dataclass(frozen=True)
class FeatureRows:
    """A batch of feature vectors in CSR form.

    ``parts`` (only when asked for) holds the named, non-text entries; :attr:`labels` lists
    them per row as ``(label, coordinate, value)``. Text coordinates have no names (they
    are hashed).
    """

    indptr: NDArray[np.int64]
    indices: NDArray[np.int32]
    values: NDArray[np.float64]
    parts: LabelParts | None = None

    def __len__(self) -> int:
        return int(self.indptr.shape[0] - 1)

    def row(self, i: int) -> tuple[NDArray[np.int32], NDArray[np.float64]]:
        """Indices and values of row ``i``."""
        lo, hi = self.indptr[i], self.indptr[i + 1]
        return self.indices[lo:hi], self.values[lo:hi]

    @property
    def labels(self) -> list[list[tuple[str, int, float]]]:
        """Per row, the named entries as ``(label, coordinate, value)`` (empty without
        ``parts``)."""
        if self.parts is None:
            return []
        return [self.parts.row(i) for i in range(len(self))]


@njit(cache=True, nogil=True)
def assemble_rows(
    text_start: int,
    z: NDArray[np.float64],
    col_pos: NDArray[np.int64],
    col_sign: NDArray[np.float64],
    tok_indptr: NDArray[np.int64],
    tok_pos: NDArray[np.int64],
    tok_sign: NDArray[np.float64],
    text_indptr: NDArray[np.int64],
    text_indices: NDArray[np.int32],
    text_values: NDArray[np.float64],
) -> tuple[NDArray[np.int64], NDArray[np.int32], NDArray[np.float64]]:
    """Merge bias, numeric, token and text parts into CSR rows with float32-rounded values.

    Coordinates below ``text_start`` are summed in a dense scratch row (hashed tokens may
    collide); the text part is already sorted, deduplicated and at or above ``text_start``.
    """
    n_items, n_cols = z.shape
    indptr = np.zeros(n_items + 1, dtype=np.int64)
    capacity = text_indices.shape[0] + n_items * text_start
    indices = np.empty(capacity, dtype=np.int32)
    values = np.empty(capacity, dtype=np.float64)
    head = np.zeros(text_start, dtype=np.float64)
    nnz = 0
    for i in range(n_items):
        head[:] = 0.0
        head[0] = 1.0
        for j in range(n_cols):
            head[col_pos[j]] += col_sign[j] * z[i, j]
        for k in range(tok_indptr[i], tok_indptr[i + 1]):
            head[tok_pos[k]] += tok_sign[k]
        for k in range(text_start):
            if head[k] != 0.0:
                indices[nnz] = k
                values[nnz] = np.float64(np.float32(head[k]))
                nnz += 1
        for k in range(text_indptr[i], text_indptr[i + 1]):
            v = np.float64(np.float32(text_values[k]))
            if v != 0.0:
                indices[nnz] = text_indices[k]
                values[nnz] = v
                nnz += 1
        indptr[i + 1] = nnz
    return indptr, indices[:nnz].copy(), values[:nnz].copy()


class Featurizer:
    """Turns (title, description, features) into feature vectors; owns the numeric scaling.

    Feature values may be numbers (scaled, see :mod:`kernels.numeric_scaling`), strings
    (hashed as ``name=value`` tokens) or None/NaN (missing). A numeric feature that the
    model has learned and an item lacks is taken at its mean (a zero after scaling): what
    a client leaves out says nothing about the item. (With an indicator for each missing
    column, one featureless item taught the linear model that every sparse query is like
    it, and made it every sparse query's closest analogy.) A missing value of a feature
    the model has not learned as a number is the category ``name=<missing>``.
    """

    def __init__(self, config: EstimatorConfig, scaler: NumericScaler | None = None) -> None:
        self.config = config
        self.scaler = scaler if scaler is not None else NumericScaler()
        self._positions: (
            tuple[tuple[str, ...], NDArray[np.int64], NDArray[np.float64]] | None
        ) = None
        self._token_cache: dict[str, tuple[int, float]] = {}

    def transform(
        self,
        titles: list[str],
        descriptions: list[str],
        features: list[dict[str, Any]],
        learn: bool,
        with_labels: bool = False,
    ) -> FeatureRows:
        """Feature vectors of a batch; with ``learn`` the numeric statistics absorb it in order.

        Raises ValueError on a feature value that is not a number, string or None (the
        scaler is left untouched in that case).
        """
        cfg = self.config
        n = len(titles)
        if len(descriptions) != n or len(features) != n:
            raise ValueError("titles, descriptions and features must have the same length")
        scaler = self.scaler
        n_known = len(scaler.names)
        new_cols: dict[str, int] = {}
        entries: list[tuple[int, int, float]] = []
        tokens: list[list[str]] = [[] for _ in range(n)]
        for i, item in enumerate(features):
            for name, value in item.items():
                if not isinstance(name, str):
                    raise ValueError(f"feature names must be strings, got {name!r}")
                if isinstance(value, str):
                    tokens[i].append(f"{name}={value}")
                    continue
                if value is not None and not isinstance(
                    value, (int, float, np.integer, np.floating)
                ):
                    raise ValueError(f"feature {name!r}: unsupported value {value!r}")
                try:
                    number = math.nan if value is None else float(value)
                except OverflowError:
                    raise ValueError(f"feature {name!r}: {value!r} is too large") from None
                col = scaler.column(name)
                if col < 0:
                    col = new_cols.get(name, -1)
                if col < 0 and learn and math.isfinite(number):
                    col = n_known + len(new_cols)
                    new_cols[name] = col
                    entries.append((i, col, number))
                elif col >= 0:
                    entries.append((i, col, number))
                elif not math.isfinite(number):
                    tokens[i].append(f"{name}={MISSING}")
        names = scaler.names + list(new_cols)
        raw = np.full((n, len(names)), np.nan)
        for i, col, number in entries:
            raw[i, col] = number
        for name in new_cols:
            scaler.register(name)
        z = scaler.transform(raw, learn, cfg.z_clip)

        col_pos, col_sign = self._column_positions(names)
        flat = [t for row in tokens for t in row]
        tok_pos, tok_sign = self._known_token_positions(flat)
        tok_indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum([len(row) for row in tokens], out=tok_indptr[1:])

        buffer, offsets = encode_texts(
            [f"{t}\n{d}" for t, d in zip(titles, descriptions, strict=True)]
        )
        text_indptr, text_indices, text_values = hash_texts(
            buffer, offsets, cfg.text_start, cfg.dim - cfg.text_start, cfg.hash_seed,
            cfg.word_ngrams, cfg.char_ngram_min, cfg.char_ngram_max, cfg.char_ngram_bytes,
            cfg.word_weight, cfg.char_weight,
        )  # fmt: skip
        indptr, indices, values = assemble_rows(
            cfg.text_start, z, col_pos, col_sign,
            tok_indptr, tok_pos, tok_sign, text_indptr, text_indices, text_values,
        )  # fmt: skip
        parts = None
        if with_labels:
            parts = LabelParts(names, z, col_pos, col_sign, flat, tok_indptr, tok_pos, tok_sign)
        return FeatureRows(indptr, indices, values, parts)

    def _column_positions(self, names: list[str]) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """Where each numeric column's value goes (with its sign); kept until the columns
        change, which is rare once a tenant has some history."""
        key = tuple(names)
        if self._positions is None or self._positions[0] != key:
            col_pos, col_sign = self._numeric_positions(names)
            self._positions = (key, col_pos, col_sign)
        return self._positions[1:]

    def _known_token_positions(
        self, tokens: list[str]
    ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """:meth:`_token_positions` through a cache: a tenant's ``name=value`` tokens repeat,
        and hashing a handful of them costs more than looking them up."""
        if not tokens:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
        cache = self._token_cache
        distinct = list(dict.fromkeys(tokens))
        new = [t for t in distinct if t not in cache]
        if new:
            if len(cache) + len(new) > _TOKEN_CACHE_LIMIT:
                cache.clear()
                new = distinct
            pos, sign = self._token_positions(new)
            cache.update(zip(new, zip(pos.tolist(), sign.tolist(), strict=True), strict=True))
        pairs = [cache[t] for t in tokens]
        return (np.fromiter((p for p, _ in pairs), dtype=np.int64, count=len(pairs)),
                np.fromiter((s for _, s in pairs), dtype=np.float64, count=len(pairs)))

    def _token_positions(self, tokens: list[str]) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        cfg = self.config
        buffer, offsets = encode_texts(tokens)
        buckets, signs = hash_tokens(buffer, offsets, cfg.meta_width, cfg.hash_seed)
        return buckets + cfg.meta_start, signs

    def _numeric_positions(self, names: list[str]) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        slots = min(len(names), self.config.numeric_slots)
        pos, sign = self._token_positions(names)
        pos[:slots] = np.arange(1, slots + 1)
        sign[:slots] = 1.0
        return pos, sign
