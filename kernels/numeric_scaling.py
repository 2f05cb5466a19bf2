"""Numeric feature scaling: a log transform, then a running standardisation.

Effort drivers such as size counts are heavy-tailed, so every numeric value is first
log-transformed and then standardised with the running mean and variance of that column
(Welford's update, one item at a time, in learning order). A column whose learned values
have all been positive takes ``log(v)``: effort models are multiplicative in size and in
cost-driver multipliers (COCOMO-style ratings around 1), which ``log1p`` would bend. Once
a column has held a value <= 0 it takes the sign-preserving ``sign(v) * log1p(|v|)``
instead; statistics of both transforms are kept, so the switch needs no second pass (a
refit rescales every stored item with the current choice). A query value <= 0 in a
column that has only ever been positive lies below everything learned: it gets the
lowest z, ``-z_clip``. Missing values (NaN) standardise to 0, which is the running mean:
they add nothing to the linear score and nothing to an analogy's similarity.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray


@njit(cache=True, nogil=True)
def standardise_auto(
    raw: NDArray[np.float64],
    count: NDArray[np.float64],
    mean: NDArray[np.float64],
    m2: NDArray[np.float64],
    log_mean: NDArray[np.float64],
    log_m2: NDArray[np.float64],
    nonpos: NDArray[np.float64],
    learn: bool,
    z_clip: float,
) -> NDArray[np.float64]:
    """Scale a batch of raw numeric rows; with ``learn`` fold each row into the statistics
    first. Per column, ``log`` while every learned value has been positive and the signed
    ``log1p`` once one was not (see the module docstring).

    ``raw`` is ``(n_items, n_columns)`` with NaN for missing. ``count``, ``mean``, ``m2``
    (sum of squared deviations) are the signed-``log1p`` statistics of all values;
    ``log_mean`` and ``log_m2`` those of ``log(v)`` over the positive values (there are
    ``count - nonpos`` of them); ``nonpos`` counts the values <= 0. All are updated in
    place, row by row, when ``learn`` is true, so a batch gives the same result as its rows
    one at a time. A column with fewer than two values or no spread has unit scale.
    Results are clipped to ``[-z_clip, z_clip]``.
    """
    n_items, n_cols = raw.shape
    out = np.zeros((n_items, n_cols), dtype=np.float64)
    for i in range(n_items):
        for j in range(n_cols):
            v = raw[i, j]
            if not np.isfinite(v):
                continue
            signed = np.log1p(abs(v)) if v >= 0.0 else -np.log1p(abs(v))
            if learn:
                count[j] += 1.0
                delta = signed - mean[j]
                mean[j] += delta / count[j]
                m2[j] += delta * (signed - mean[j])
                if v > 0.0:
                    n_pos = count[j] - nonpos[j]
                    lv = np.log(v)
                    delta = lv - log_mean[j]
                    log_mean[j] += delta / n_pos
                    log_m2[j] += delta * (lv - log_mean[j])
                else:
                    nonpos[j] += 1.0
            if count[j] == 0.0:
                continue
            if nonpos[j] > 0.0:
                x, mu, n, ss = signed, mean[j], count[j], m2[j]
            elif v > 0.0:
                x, mu, n, ss = np.log(v), log_mean[j], count[j], log_m2[j]
            else:
                out[i, j] = -z_clip
                continue
            var = ss / n
            scale = np.sqrt(var) if n >= 2.0 and var > 1e-12 else 1.0
            z = (x - mu) / scale
            out[i, j] = min(max(z, -z_clip), z_clip)
    return out


class NumericScaler:
    """Running statistics for numeric features, one column per feature name.

    Columns are numbered in the order their names were first registered; the first
    ``n_slots`` names get a dedicated coordinate in the feature vector, later ones are
    hashed (see :mod:`kernels.features`).
    """

    def __init__(self) -> None:
        self.names: list[str] = []
        self._column: dict[str, int] = {}
        self.count = np.zeros(0, dtype=np.float64)
        self.mean = np.zeros(0, dtype=np.float64)
        self.m2 = np.zeros(0, dtype=np.float64)
        self.log_mean = np.zeros(0, dtype=np.float64)
        self.log_m2 = np.zeros(0, dtype=np.float64)
        self.nonpos = np.zeros(0, dtype=np.float64)

    def column(self, name: str) -> int:
        """The column of ``name``, or -1 if it was never registered."""
        return self._column.get(name, -1)

    def register(self, name: str) -> int:
        """The column of ``name``, adding an empty column the first time it is seen."""
        col = self._column.get(name)
        if col is None:
            col = len(self.names)
            self.names.append(name)
            self._column[name] = col
            self.count = np.append(self.count, 0.0)
            self.mean = np.append(self.mean, 0.0)
            self.m2 = np.append(self.m2, 0.0)
            self.log_mean = np.append(self.log_mean, 0.0)
            self.log_m2 = np.append(self.log_m2, 0.0)
            self.nonpos = np.append(self.nonpos, 0.0)
        return col

    def transform(
        self, raw: NDArray[np.float64], learn: bool, z_clip: float
    ) -> NDArray[np.float64]:
        """Standardise ``raw`` (``n_items x n_columns``, NaN = missing); see
        :func:`standardise_auto`."""
        return standardise_auto(raw, self.count, self.mean, self.m2, self.log_mean,
                                self.log_m2, self.nonpos, learn, z_clip)  # fmt: skip

    def to_state(self) -> dict[str, object]:
        """Plain-data snapshot (numpy arrays and a list of names)."""
        return {
            "names": list(self.names),
            "count": self.count.copy(),
            "mean": self.mean.copy(),
            "m2": self.m2.copy(),
            "log_mean": self.log_mean.copy(),
            "log_m2": self.log_m2.copy(),
            "nonpos": self.nonpos.copy(),
        }

    @classmethod
    def from_state(cls, state: dict[str, object]) -> NumericScaler:
        """Rebuild a scaler from :meth:`to_state` output."""
        scaler = cls()
        names = state["names"]
        if not isinstance(names, list | tuple) or not all(isinstance(n, str) for n in names):
            raise ValueError("scaler state: names must be a list of strings")
        scaler.names = list(names)
        scaler._column = {n: i for i, n in enumerate(scaler.names)}
        if len(scaler._column) != len(names):
            raise ValueError("scaler state: duplicate names")
        for key in ("count", "mean", "m2", "log_mean", "log_m2", "nonpos"):
            arr = np.array(state[key], dtype=np.float64).reshape(len(scaler.names))
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"scaler state: {key} must be finite")
            setattr(scaler, key, arr)
        return scaler
