"""Monte Carlo project forecasts: the simulation plan, part results, and simulating a part.

A :class:`ForecastPlan` is a task graph in arrays: a topological order, predecessors as
CSR, one distribution per task (fixed, beta-PERT from three points, or a quantile grid of
log effort from the tenant's model), risk events and the correlation of the shared latent
factor. :func:`simulate_part` runs an arbitrary range of trial indices; because each
trial's random numbers depend only on ``(seed, trial index)``, parts split any way merge
(:func:`kernels.forecast_merge.merge_parts`) into exactly the same answer.

Both plan and part convert to and from plain dicts of numpy arrays, ints, floats, strs and
lists, so they travel in msgpack frames.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numba
import numpy as np
from numpy.typing import NDArray
from scipy import special, stats

from kernels.forecast_kernel import (
    KIND_FIXED,
    KIND_GRID,
    KIND_PERT,
    PERT_TABLE_Z,
    simulate_trials,
)

__all__ = [
    "GRID_PROBS",
    "KIND_FIXED",
    "KIND_GRID",
    "KIND_PERT",
    "PERT_TABLE_SIZE",
    "PERT_TABLE_Z",
    "SENSITIVITY_TRIALS",
    "ForecastPart",
    "ForecastPlan",
    "simulate_part",
]

WIRE_VERSION = 1
#: Probabilities at which a model-estimated task's log effort is given (0.01 .. 0.99).
GRID_PROBS = np.round(np.arange(1, 100) / 100.0, 2)
#: Points of the tabulated beta-PERT inverse CDF, evenly spaced in normal score over
#: [-PERT_TABLE_Z, PERT_TABLE_Z] (ends included). Spaced in probability, the first and last
#: 1/512 of it were spread linearly out to the optimistic and pessimistic ends, and P99.9 of
#: a skewed task came out 13% high; in normal score linear interpolation is within about
#: 1e-5 of the task's range everywhere. Draws beyond +-8.5 (p < 1e-17) take the ends.
PERT_TABLE_SIZE = 513
#: Sensitivity is computed on trials with index below this (split-invariant subsample).
SENSITIVITY_TRIALS = 4096

_I64 = np.int64
_F64 = np.float64


def _arr(d: dict[str, Any], name: str, dtype: Any, ndim: int) -> NDArray[Any]:
    a = np.asarray(d[name])
    if a.ndim != ndim:
        raise ValueError(f"{name}: expected {ndim} dimensions, got {a.ndim}")
    if a.size and not np.can_cast(a.dtype, dtype, casting="same_kind"):
        raise ValueError(f"{name}: expected {np.dtype(dtype)}, got {a.dtype}")
    if a.size and np.issubdtype(dtype, np.integer) and np.issubdtype(a.dtype, np.integer):
        info = np.iinfo(dtype)  # a narrowing cast would wrap (kind 257 would read as 1)
        if a.min() < info.min or a.max() > info.max:
            raise ValueError(f"{name}: values out of the range of {np.dtype(dtype)}")
    return np.ascontiguousarray(a, dtype=dtype)


@dataclass(frozen=True, eq=False)
class ForecastPlan:
    """A project graph ready to simulate.

    ``kind[i]`` is :data:`KIND_FIXED` (``params[i, 0]`` is the effort), :data:`KIND_PERT`
    (``params[i]`` is optimistic, likely, pessimistic) or :data:`KIND_GRID` (log effort
    at :attr:`grid_probs` in ``grid_log[grid_row[i]]``; NaN until the model fills it).
    Risk event ``r`` occurs with ``risk_prob[r]`` and then adds ``risk_extra[r]`` to the
    effort of each task in ``risk_tasks[risk_ptr[r]:risk_ptr[r+1]]``.
    """

    task_ids: tuple[str, ...]
    order: NDArray[np.int64]
    pred_ptr: NDArray[np.int64]
    pred_idx: NDArray[np.int64]
    kind: NDArray[np.int8]
    params: NDArray[np.float64]
    grid_row: NDArray[np.int64]
    grid_log: NDArray[np.float64]
    grid_probs: NDArray[np.float64] = field(default_factory=lambda: GRID_PROBS.copy())
    risk_ids: tuple[str, ...] = ()
    risk_prob: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    risk_extra: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    risk_ptr: NDArray[np.int64] = field(default_factory=lambda: np.zeros(1, np.int64))
    risk_tasks: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    correlation: float = 0.0
    sensitivity_trials: int = SENSITIVITY_TRIALS

    @property
    def n_tasks(self) -> int:
        """Tasks in the graph."""
        return len(self.task_ids)

    def check(self) -> None:
        """Raise ``ValueError`` unless the arrays describe a consistent acyclic graph."""
        n = self.n_tasks
        shapes = {"order": (n,), "pred_ptr": (n + 1,), "kind": (n,), "params": (n, 3),
                  "grid_row": (n,)}  # fmt: skip
        for name, shape in shapes.items():
            if getattr(self, name).shape != shape:
                raise ValueError(f"{name}: expected shape {shape}")
        if not np.array_equal(np.sort(self.order), np.arange(n)):
            raise ValueError("order is not a permutation of the tasks")
        if self.pred_ptr[0] != 0 or np.any(np.diff(self.pred_ptr) < 0) or (
                self.pred_ptr[-1] != self.pred_idx.shape[0]):
            raise ValueError("pred_ptr is not a CSR index of pred_idx")
        if self.pred_idx.size and (self.pred_idx.min() < 0 or self.pred_idx.max() >= n):
            raise ValueError("pred_idx refers to unknown tasks")
        position = np.empty(n, np.int64)
        position[self.order] = np.arange(n)
        owner = np.repeat(np.arange(n), np.diff(self.pred_ptr))
        if np.any(position[self.pred_idx] >= position[owner]):
            raise ValueError("order is not topological")
        if not np.all(np.isin(self.kind, (KIND_FIXED, KIND_PERT, KIND_GRID))):
            raise ValueError("kind holds an unknown distribution")
        if not np.all(np.isfinite(self.params)) or np.any(self.params < 0):
            raise ValueError("params must be finite and non-negative")
        o, m, p = self.params[self.kind == KIND_PERT].T
        if np.any(o > m) or np.any(m > p) or np.any(o >= p):
            raise ValueError("a PERT task needs optimistic <= likely <= pessimistic, o < p")
        g = self.grid_probs
        if g.ndim != 1 or g.shape[0] < 2 or np.any(np.diff(g) <= 0) or g[0] <= 0 or g[-1] >= 1:
            raise ValueError("grid_probs must be at least 2 increasing values in (0, 1)")
        grid = self.kind == KIND_GRID
        if self.grid_log.ndim != 2 or self.grid_log.shape[1] != g.shape[0]:
            raise ValueError("grid_log must have one column per grid probability")
        rows = self.grid_row[grid]
        if rows.size and (rows.min() < 0 or rows.max() >= self.grid_log.shape[0]):
            raise ValueError("grid_row refers to missing grid rows")
        r = self.risk_prob.shape[0]
        if self.risk_extra.shape != (r,) or self.risk_ptr.shape != (r + 1,) or (
                len(self.risk_ids) != r):
            raise ValueError("risk arrays disagree in length")
        if self.risk_ptr[0] != 0 or np.any(np.diff(self.risk_ptr) < 0) or (
                self.risk_ptr[-1] != self.risk_tasks.shape[0]):
            raise ValueError("risk_ptr is not a CSR index of risk_tasks")
        if self.risk_tasks.size and (self.risk_tasks.min() < 0 or self.risk_tasks.max() >= n):
            raise ValueError("risk_tasks refers to unknown tasks")
        if np.any(~(self.risk_prob >= 0) | (self.risk_prob > 1)) or np.any(
                ~np.isfinite(self.risk_extra) | (self.risk_extra < 0)):
            raise ValueError("risk probabilities must be in [0, 1], extra efforts >= 0")
        if not 0.0 <= self.correlation < 1.0:
            raise ValueError("correlation must be in [0, 1)")
        if not 0 <= self.sensitivity_trials < 2**62:
            raise ValueError("sensitivity_trials must be in [0, 2**62)")

    def missing_grids(self) -> list[int]:
        """Tasks whose quantile grid is not filled in yet."""
        grid = np.flatnonzero(self.kind == KIND_GRID)
        return [int(i) for i in grid if not np.all(np.isfinite(self.grid_log[self.grid_row[i]]))]

    def with_grids(self, grids: dict[int, NDArray[np.float64]]) -> ForecastPlan:
        """A copy with the log-effort quantile grids of model-estimated tasks filled in.

        ``grids[i]`` holds task ``i``'s log effort at :attr:`grid_probs`, non-decreasing.
        """
        grid_log = self.grid_log.copy()
        for i, values in grids.items():
            v = np.asarray(values, dtype=np.float64)
            if self.kind[i] != KIND_GRID or v.shape != self.grid_probs.shape:
                raise ValueError(f"task {i} does not take a grid of {self.grid_probs.size}")
            if not np.all(np.isfinite(v)) or np.any(np.diff(v) < 0):
                raise ValueError(f"task {i}: the grid must be finite and non-decreasing")
            grid_log[self.grid_row[i]] = v
        return _replace(self, grid_log=grid_log)

    @cached_property
    def pert_tables(self) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """Per-task table row and the beta-PERT inverse CDF tables at the normal scores
        ``linspace(-PERT_TABLE_Z, PERT_TABLE_Z, PERT_TABLE_SIZE)`` (built once per plan)."""
        row = self.grid_row.copy()
        pert = np.flatnonzero(self.kind == KIND_PERT)
        row[pert] = np.arange(pert.size)
        o, m, p = (self.params[pert, j][:, None] for j in range(3))
        alpha = 1.0 + 4.0 * (m - o) / (p - o)
        beta = 1.0 + 4.0 * (p - m) / (p - o)
        z = np.linspace(-PERT_TABLE_Z, PERT_TABLE_Z, PERT_TABLE_SIZE)[None, :]
        # Each tail from its own side, so that 1 - p(z) keeps its precision above z = 0;
        # each side only where it is used (the inverse beta is most of the cost).
        low = z[0] < 0.0
        unit = np.empty((pert.size, PERT_TABLE_SIZE))
        unit[:, low] = stats.beta.ppf(special.ndtr(z[:, low]), alpha, beta)
        unit[:, ~low] = stats.beta.isf(special.ndtr(-z[:, ~low]), alpha, beta)
        return row, np.ascontiguousarray(o + (p - o) * unit)

    def to_dict(self) -> dict[str, Any]:
        """A msgpack-friendly dict (numpy arrays, ints, floats, strs, lists)."""
        out: dict[str, Any] = {"version": WIRE_VERSION, "task_ids": list(self.task_ids),
                               "risk_ids": list(self.risk_ids),
                               "correlation": float(self.correlation),
                               "sensitivity_trials": int(self.sensitivity_trials)}  # fmt: skip
        for name in _PLAN_ARRAYS:
            out[name] = getattr(self, name)
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ForecastPlan:
        """The plan :meth:`to_dict` wrote; ``ValueError`` if it is inconsistent."""
        if d.get("version") != WIRE_VERSION:
            raise ValueError(f"unsupported forecast plan version {d.get('version')!r}")
        try:
            arrays = {name: _arr(d, name, dt, nd) for name, (dt, nd) in _PLAN_ARRAYS.items()}
            plan = cls(task_ids=tuple(str(t) for t in d["task_ids"]),
                       risk_ids=tuple(str(r) for r in d["risk_ids"]),
                       correlation=float(d["correlation"]),
                       sensitivity_trials=int(d["sensitivity_trials"]), **arrays)  # fmt: skip
        except (KeyError, TypeError) as e:
            raise ValueError(f"malformed forecast plan: {e}") from e
        plan.check()
        return plan


_PLAN_ARRAYS: dict[str, tuple[Any, int]] = {
    "order": (_I64, 1), "pred_ptr": (_I64, 1), "pred_idx": (_I64, 1), "kind": (np.int8, 1),
    "params": (_F64, 2), "grid_row": (_I64, 1), "grid_log": (_F64, 2),
    "grid_probs": (_F64, 1), "risk_prob": (_F64, 1), "risk_extra": (_F64, 1),
    "risk_ptr": (_I64, 1), "risk_tasks": (_I64, 1),
}  # fmt: skip


def _replace(plan: ForecastPlan, **changes: Any) -> ForecastPlan:
    fields = {name: getattr(plan, name) for name in plan.__dataclass_fields__}
    fields.update(changes)
    return ForecastPlan(**fields)


@dataclass(frozen=True, eq=False)
class ForecastPart:
    """The outcome of trials ``start .. start+count-1`` of one forecast.

    ``totals`` and ``durations`` hold each trial's total effort and critical-path
    duration (8 bytes each per trial); ``critical_counts[i]`` counts trials in which task
    ``i`` had zero slack; ``sample_efforts`` holds the task efforts (float32) of the
    part's trials with index below the plan's ``sensitivity_trials``.
    """

    seed: int
    start: int
    count: int
    totals: NDArray[np.float64]
    durations: NDArray[np.float64]
    critical_counts: NDArray[np.int64]
    sample_efforts: NDArray[np.float32]
    elapsed_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """A msgpack-friendly dict (numpy arrays, ints, floats)."""
        return {"version": WIRE_VERSION, "seed": self.seed, "start": self.start,
                "count": self.count, "totals": self.totals, "durations": self.durations,
                "critical_counts": self.critical_counts,
                "sample_efforts": self.sample_efforts, "elapsed_s": self.elapsed_s}  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ForecastPart:
        """The part :meth:`to_dict` wrote; ``ValueError`` if it is inconsistent."""
        if d.get("version") != WIRE_VERSION:
            raise ValueError(f"unsupported forecast part version {d.get('version')!r}")
        try:
            part = cls(seed=int(d["seed"]), start=int(d["start"]), count=int(d["count"]),
                       totals=_arr(d, "totals", _F64, 1),
                       durations=_arr(d, "durations", _F64, 1),
                       critical_counts=_arr(d, "critical_counts", _I64, 1),
                       sample_efforts=_arr(d, "sample_efforts", np.float32, 2),
                       elapsed_s=float(d.get("elapsed_s", 0.0)))  # fmt: skip
        except (KeyError, TypeError) as e:
            raise ValueError(f"malformed forecast part: {e}") from e
        if part.totals.shape != (part.count,) or part.durations.shape != (part.count,):
            raise ValueError("forecast part: totals and durations must hold count values")
        return part


def simulate_part(
    plan: ForecastPlan, start: int, count: int, seed: int, *, n_chunks: int | None = None
) -> ForecastPart:
    """Simulate trials ``start .. start+count-1`` of ``plan`` under ``seed``.

    A trial's outcome depends only on ``(plan, seed, trial index)``, so any split of a
    trial range gives parts that merge into the same answer. ``n_chunks`` (default: four
    per Numba thread) only affects how work is spread over threads, never the result.
    Raises ``ValueError`` if a model-estimated task has no quantile grid yet, or if the
    range or seed is out of bounds.
    """
    if start < 0 or count < 1 or start + count > 2**62:
        raise ValueError("need start >= 0, count >= 1 and start + count <= 2**62")
    if not 0 <= seed < 2**64:
        raise ValueError("seed must be in [0, 2**64)")
    missing = plan.missing_grids()
    if missing:
        raise ValueError(f"tasks {[plan.task_ids[i] for i in missing]} have no quantile grid")
    row, tables = plan.pert_tables
    if tables.shape[0] == 0:
        tables = np.zeros((1, 2))
    grid_log = plan.grid_log if plan.grid_log.shape[0] else np.zeros((1, plan.grid_probs.size))
    grid_z = special.ndtri(plan.grid_probs)
    value = np.ascontiguousarray(plan.params[:, 0])
    chunks = n_chunks if n_chunks is not None else 4 * numba.get_num_threads()
    t0 = time.perf_counter()
    totals, durations, counts, sample = simulate_trials(
        start, count, np.uint64(seed), plan.order, plan.pred_ptr, plan.pred_idx, plan.kind,
        value, row, tables, grid_z, grid_log, plan.risk_prob, plan.risk_extra,
        plan.risk_ptr, plan.risk_tasks, float(plan.correlation),
        int(plan.sensitivity_trials), int(chunks))  # fmt: skip
    return ForecastPart(seed=seed, start=start, count=count, totals=totals,
                        durations=durations, critical_counts=counts, sample_efforts=sample,
                        elapsed_s=time.perf_counter() - t0)  # fmt: skip
