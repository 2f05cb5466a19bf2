"""Blend weights and conformal quantiles from out-of-sample residuals on the log scale.

The calibrator keeps a window of the most recent out-of-sample records: an item's log
actual and what each component model predicted for it before it was learned (or, after a
refit, with it left out). From these it derives

* blend weights, each component's inverse mean absolute error raised to ``power``
  (components a record lacks, NaN, are left out of that record's blend);
* conformal quantiles: split-conformal order statistics of the blended residuals (the
  ``n + 1`` finite-sample rank, see :func:`conformal_quantiles`), spread about their
  median by an inflation factor.

The inflation adapts online (adaptive conformal inference): every new record that falls
outside the current central ``level`` band raises it, every one inside lowers it, so the
long-run miss rate is held at ``1 - level`` even when accuracy drifts. Together with the
sliding window this follows a tenant whose work changes. Records carry their item's id: when
an item's actual is corrected, its old record and the inflation step it gave are dropped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray


def sorted_quantiles(
    values: NDArray[np.float64], levels: NDArray[np.float64]
) -> NDArray[np.float64]:
    """``np.quantile(values, levels)`` (linear interpolation) of already sorted values;
    on the online path, where ``np.quantile``'s own sort and checks dominate."""
    n = values.shape[0]
    return np.interp(np.asarray(levels, dtype=np.float64) * (n - 1), np.arange(n), values)


def conformal_quantiles(
    values: NDArray[np.float64], levels: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Split-conformal quantiles of already sorted values: for a level ``p`` above 1/2 the
    ``ceil(p (n + 1))``-th smallest value, below 1/2 the ``floor(p (n + 1))``-th (clamped
    to the sample), and the interpolated median at 1/2.

    An interval between the levels ``p`` and ``1 - p`` then holds a new exchangeable
    value with probability at least ``1 - 2 p`` (a value at an end counts as inside),
    which interpolated sample quantiles undershoot on a small sample or, once the
    effort scale is discrete, on a sample with many ties.
    """
    n = values.shape[0]
    ranks = np.where(
        levels > 0.5, np.ceil(levels * (n + 1) - 1e-9), np.floor(levels * (n + 1) + 1e-9)
    )
    idx = np.clip(ranks.astype(np.int64) - 1, 0, n - 1)
    out = values[idx]
    return np.where(levels == 0.5, sorted_quantiles(values, np.array([0.5]))[0], out)


class ConformalCalibrator:
    """Out-of-sample records of ``n_components`` models and what they imply (see module)."""

    def __init__(
        self,
        n_components: int,
        window: int = 256,
        power: float = 2.0,
        step: float = 0.05,
        level: float = 0.8,
        min_records: int = 12,
    ) -> None:
        if n_components < 1 or window < 2 or not 0 < level < 1:
            raise ValueError("need n_components >= 1, window >= 2 and 0 < level < 1")
        self.n_components = n_components
        self.window = window
        self.power = power
        self.step = step
        self.level = level
        self.min_records = min_records
        self.ys = np.zeros(0)
        self.comps = np.zeros((0, n_components))
        #: The item each record is of ("" where unknown), so that a replaced item's record
        #: can go (:meth:`drop`).
        self.ids: list[str] = []
        #: How much each record moved the log inflation when it was added (0 for records a
        #: refit computed), so that dropping it undoes its step too.
        self.steps = np.zeros(0)
        self.inflation = 1.0
        self._weights: NDArray[np.float64] | None = None
        self._residuals: NDArray[np.float64] | None = None
        self._quantiles: dict[bytes, NDArray[np.float64]] = {}

    @property
    def n_records(self) -> int:
        """Records in the window."""
        return int(self.ys.shape[0])

    @property
    def ready(self) -> bool:
        """Whether there are enough records to calibrate."""
        return self.n_records >= self.min_records

    def _changed(self) -> None:
        self._weights = None
        self._residuals = None
        self._quantiles.clear()

    def reset(self, ys: NDArray[np.float64], comps: NDArray[np.float64],
              ids: Sequence[str] | None = None) -> None:
        """Replace the records (e.g. by leave-one-out ones after a refit) of the items
        ``ids`` (unknown if None); inflation back to 1."""
        self.ys = np.asarray(ys, dtype=np.float64)[-self.window :].copy()
        self.comps = np.asarray(comps, dtype=np.float64).reshape(-1, self.n_components)
        self.comps = self.comps[-self.window :].copy()
        self.ids = list(ids)[-self.window :] if ids is not None else [""] * self.n_records
        if len(self.ids) != self.n_records:
            raise ValueError("need one id per record")
        self.steps = np.zeros(self.n_records)
        self.inflation = 1.0
        self._changed()

    def drop(self, item_id: str) -> None:
        """Remove the records of an item whose actual was replaced: its old actual is no
        longer evidence of how well the models do. The step each gave the inflation is
        taken back (exactly, unless the inflation met a bound since)."""
        if not item_id or item_id not in self.ids:
            return
        keep = np.array([i != item_id for i in self.ids])
        back = float(self.steps[~keep].sum())
        self.inflation = min(max(self.inflation * math.exp(-back), 0.5), 3.0)
        self.ys, self.comps, self.steps = self.ys[keep], self.comps[keep], self.steps[keep]
        self.ids = [i for i in self.ids if i != item_id]
        self._changed()

    def add(self, y: float, comps: NDArray[np.float64], item_id: str = "") -> None:
        """Append one out-of-sample record of ``item_id``, first adapting the inflation to
        whether it fell inside the current band."""
        moved = 0.0
        if self.ready:
            lo, hi = self.residual_quantiles(np.array([0.5 - self.level / 2, 0.5 + self.level / 2]))
            r = y - float(self.blend(comps[None, :])[0])
            miss = 0.0 if lo <= r <= hi else 1.0
            before = self.inflation
            self.inflation *= math.exp(self.step * (miss - (1.0 - self.level)))
            self.inflation = min(max(self.inflation, 0.5), 3.0)
            moved = math.log(self.inflation / before)
        self.steps = np.append(self.steps, moved)[-self.window :]
        self.ys = np.append(self.ys, y)[-self.window :]
        self.comps = np.vstack([self.comps, comps[None, :]])[-self.window :]
        self.ids.append(item_id)
        del self.ids[: -self.window]
        self._changed()

    def weights(self) -> NDArray[np.float64]:
        """Blend weights (sum 1 over components that have records; uniform without any)."""
        if self._weights is None and self.power == 0 and self.n_records:
            self._weights = self._stacked()
        if self._weights is None:
            w = np.zeros(self.n_components)
            for c in range(self.n_components):
                err = np.abs(self.comps[:, c] - self.ys)
                err = err[np.isfinite(err)]
                if err.size:
                    w[c] = (float(np.mean(err)) + 1e-3) ** -self.power
            self._weights = (
                w / w.sum() if w.sum() > 0 else np.full(self.n_components, 1.0 / self.n_components)
            )
        return self._weights

    def _stacked(self) -> NDArray[np.float64]:
        """Weights on a simplex grid (steps of 0.1) of least mean absolute blended error."""
        steps = 10
        best, best_w = math.inf, np.full(self.n_components, 1.0 / self.n_components)
        grid = np.stack(np.meshgrid(*[np.arange(steps + 1)] * self.n_components), -1)
        grid = grid.reshape(-1, self.n_components)
        grid = grid[grid.sum(axis=1) == steps] / steps
        comps = self.comps
        for w in grid:
            use = np.where(np.isfinite(comps), w[None, :], 0.0)
            total = use.sum(axis=1)
            ok = total > 0
            if not ok.any():
                continue
            pred = (use * np.where(np.isfinite(comps), comps, 0.0)).sum(axis=1)[ok] / total[ok]
            r = self.ys[ok] - pred
            err = float(np.mean(np.abs(r - np.median(r))))
            if err < best - 1e-12:
                best, best_w = err, w
        return best_w

    def blend(self, comps: NDArray[np.float64]) -> NDArray[np.float64]:
        """Weighted blend of each row of component predictions, skipping NaN components."""
        finite = np.isfinite(comps)
        w = np.where(finite, self.weights()[None, :], 0.0)
        total = w.sum(axis=1)
        out = (w * np.where(finite, comps, 0.0)).sum(axis=1)
        ok = total > 0
        if ok.all():
            return out / total
        out[ok] /= total[ok]
        # Rows whose only predictions come from components without weight: their mean.
        rest = comps[~ok]
        counts = np.isfinite(rest).sum(axis=1)
        sums = np.where(np.isfinite(rest), rest, 0.0).sum(axis=1)
        out[~ok] = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
        return out

    def residual_quantiles(self, levels: NDArray[np.float64]) -> NDArray[np.float64]:
        """Conformal quantiles of the blended out-of-sample residuals at ``levels``.

        Raises ValueError when not :attr:`ready`.
        """
        if not self.ready:
            raise ValueError("too few out-of-sample records to calibrate")
        levels = np.asarray(levels, dtype=np.float64)
        key = levels.tobytes()
        cached = self._quantiles.get(key)
        if cached is not None:
            return cached.copy()
        if self._residuals is None:
            self._residuals = np.sort(self.ys - self.blend(self.comps))
        r = self._residuals
        q = conformal_quantiles(r, levels)
        middle = float(sorted_quantiles(r, np.array([0.5]))[0])
        out = middle + self.inflation * (q - middle)
        if len(self._quantiles) < 64:  # the levels clients ask for are few
            self._quantiles[key] = out
        return out.copy()

    def to_state(self) -> dict[str, Any]:
        """Plain-data snapshot."""
        return {"ys": self.ys.copy(), "comps": self.comps.copy(), "ids": list(self.ids),
                "steps": self.steps.copy(), "inflation": self.inflation}

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore records and inflation from :meth:`to_state` output."""
        self.ys = np.array(state["ys"], dtype=np.float64).reshape(-1)
        self.comps = np.array(state["comps"], dtype=np.float64).reshape(-1, self.n_components)
        if self.comps.shape[0] != self.ys.shape[0]:
            raise ValueError("calibration state: records and predictions differ in length")
        n = self.ys.shape[0]
        self.ids = [str(i) for i in state["ids"]]
        self.steps = np.array(state["steps"], dtype=np.float64).reshape(-1)
        if len(self.ids) != n or self.steps.shape[0] != n:
            raise ValueError("calibration state: records, ids and steps differ in length")
        self.inflation = float(state["inflation"])
        if not (np.all(np.isfinite(self.ys)) and not np.any(np.isinf(self.comps))
                and np.all(np.isfinite(self.steps)) and math.isfinite(self.inflation)
                and self.inflation > 0):
            raise ValueError("calibration state: records, steps and inflation must be finite "
                             "(and inflation > 0)")
        self._changed()
