"""The periodic background refit of an estimator, run off the request path.

From everything an estimator has learned it builds a fresh one:

1. numeric features are rescaled with the current running statistics (each stored item
   was scaled with the statistics of its own time), keeping the stored text vectors;
2. the prior variances of the bias, the structured and the text coefficients are chosen
   by marginal likelihood (:mod:`kernels.evidence`), then, within the structured block,
   a variance per coordinate (automatic relevance determination, so that a strong driver
   such as log size is left nearly unshrunk), and the linear model is refitted
   from the prior in one block (a tenant whose typical effort is far from the cold-start
   prior's, say hours where the prior expects points, earns a loose bias prior, so the
   prior does not pull every estimate towards its own scale);
3. the analogy index is rebuilt, and the calibration records are recomputed for the
   most recent items by leave-one-out (closed form for the linear model; an item is left
   out of its own analogies, whose size adjustment uses the linear coefficients fitted
   without it), so blend weights and quantiles describe the new model;
4. the number of analogies is chosen by that same leave-one-out error of the analogy
   component: a tenant whose items differ mostly by noise earns many, which average
   towards the typical effort of similar items.
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING

import numpy as np
import scipy.linalg
from numba import njit
from numpy.typing import NDArray

from kernels.analogy_estimate import analogy_estimates
from kernels.blr import BayesianLinearRegression
from kernels.evidence import EvidenceProblem, choose_block_variances, choose_coordinate_variances
from kernels.features import FeatureRows
from kernels.item_store import ItemStore
from kernels.numeric_scaling import NumericScaler
from kernels.running_median import RunningMedian, exact_logs

if TYPE_CHECKING:
    from kernels.estimator import Estimator

#: Candidate prior variances (in units of the noise variance) per coefficient block.
#: The bias may go loose: the cold-start prior's scale can be far from a tenant's. The
#: structured block may go nearly unshrunk, as an ordinary least-squares fit of log effort
#: on log size (ATLM) is what does best on project-level data with a few strong drivers.
#: The text block stops at 0.5: the marginal likelihood of hashed text of a few hundred
#: items keeps rising past it (near-duplicate items), while estimates of later items get
#: worse than the tenant's median (story-point projects of 300 to 400 items).
BIAS_GRID = [1.0, 10.0, 100.0]
META_GRID = [0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 16.0, 64.0]
TEXT_GRID = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5]
#: Factors on the structured block's variance for its coordinates one by one (automatic
#: relevance determination): a strong driver such as log size goes nearly unshrunk while
#: the block's other features are shrunk harder.
META_FACTORS = [0.1, 0.25, 4.0, 16.0]
#: Candidate numbers of analogies, chosen by leave-one-out error of the analogy estimate on
#: the calibration window. Most story-point projects choose 40 or 80 (their items differ
#: mostly by noise); beyond 80 nothing is gained and estimates slow down (every neighbour
#: is read per estimate). Fewer than 10 wins leave-one-out on small projects with
#: near-duplicate items yet does worse on their later items, so the grid starts at 10.
ANALOGY_K_GRID = [10, 20, 40, 80]


@njit(cache=True, nogil=True)
def merge_heads(
    h_indptr: NDArray[np.int64],
    h_indices: NDArray[np.int32],
    h_values: NDArray[np.float64],
    indptr: NDArray[np.int64],
    indices: NDArray[np.int32],
    values: NDArray[np.float64],
    text_start: int,
) -> tuple[NDArray[np.int64], NDArray[np.int32], NDArray[np.float64]]:
    """Rows taking coordinates below ``text_start`` from the first CSR and the rest from
    the second (both sorted by coordinate, so the result is too)."""
    n = h_indptr.shape[0] - 1
    out_indptr = np.zeros(n + 1, dtype=np.int64)
    cap = h_indices.shape[0] + indices.shape[0]
    out_indices = np.empty(cap, dtype=np.int32)
    out_values = np.empty(cap, dtype=np.float64)
    nnz = 0
    for i in range(n):
        for k in range(h_indptr[i], h_indptr[i + 1]):
            if h_indices[k] < text_start:
                out_indices[nnz] = h_indices[k]
                out_values[nnz] = h_values[k]
                nnz += 1
        for k in range(indptr[i], indptr[i + 1]):
            if indices[k] >= text_start:
                out_indices[nnz] = indices[k]
                out_values[nnz] = values[k]
                nnz += 1
        out_indptr[i + 1] = nnz
    return out_indptr, out_indices[:nnz].copy(), out_values[:nnz].copy()


def _set_posterior(model: BayesianLinearRegression, problem: EvidenceProblem) -> None:
    """Condition a model still at its (diagonal) prior on the data of ``problem``.

    Only the active coordinates change, so the update costs a solve of that size rather
    than of the full dimension (the same posterior as folding the rows in).
    """
    act = problem.active
    v0 = np.diag(model.cov_)[act]
    p0 = 1.0 / v0
    precision = problem.xtx + np.diag(p0)
    factor = scipy.linalg.cho_factor(precision)
    cov = scipy.linalg.cho_solve(factor, np.eye(act.shape[0]))
    eta = p0 * problem.prior_mean + problem.xty
    mean = scipy.linalg.cho_solve(factor, eta)
    model.cov_[np.ix_(act, act)] = 0.5 * (cov + cov.T)
    model.mean_[act] = mean
    model.a_ += 0.5 * problem.n
    fit = float(problem.prior_mean @ (p0 * problem.prior_mean)) - float(mean @ eta)
    model.b_ += 0.5 * (problem.yty + fit)


def refit_estimator(est: Estimator) -> Estimator:
    """A refitted copy of ``est`` (which is left unchanged); see the module docstring."""
    from kernels.estimator import N_COMPONENTS, Estimator, prior_model

    cfg = est.config
    old = est._items
    live = np.flatnonzero(old.alive)
    n = live.shape[0]
    raw = [json.loads(old.features[r]) for r in live]
    head = est._features.transform([""] * n, [""] * n, raw, learn=False)
    stored = old.rows(live)
    indptr, indices, values = merge_heads(
        head.indptr, head.indices, head.values, *stored, cfg.text_start
    )
    logs = np.log(old.efforts[live])

    if n > 0:
        base = prior_model(cfg)
        blocks = np.full(cfg.dim, 1, dtype=np.int64)
        blocks[0] = 2
        blocks[1 : cfg.text_start] = 0
        problem = EvidenceProblem.from_rows(indptr, indices, values, logs, base.mean_)
        grids = [
            [cfg.prior_meta_var, *META_GRID],
            [min(cfg.prior_text_var, TEXT_GRID[-1]), *TEXT_GRID],
            [cfg.prior_bias_var, *BIAS_GRID],
        ]
        (meta_var, text_var, bias_var), _ = choose_block_variances(
            problem, np.diag(base.cov_).copy(), blocks, grids, base.a_, base.b_
        )
        cfg = dataclasses.replace(
            cfg, prior_meta_var=meta_var, prior_text_var=text_var, prior_bias_var=bias_var,
            prior_meta_scales=(),
        )  # fmt: skip
        structured = np.arange(1, cfg.text_start)
        prior_var, _ = choose_coordinate_variances(
            problem, np.diag(prior_model(cfg).cov_).copy(), structured,
            np.array(META_FACTORS), base.a_, base.b_,
        )  # fmt: skip
        scales = prior_var[structured] / meta_var
        if np.any(scales != 1.0):
            cfg = dataclasses.replace(cfg, prior_meta_scales=tuple(float(f) for f in scales))

    new = Estimator(cfg)
    new._features.scaler = NumericScaler.from_state(est._features.scaler.to_state())
    items = ItemStore(first_coord=old.first_coord)
    items.append([old.ids[r] for r in live], [old.titles[r] for r in live], old.efforts[live],
                 FeatureRows(indptr, indices, values), [old.features[r] for r in live])  # fmt: skip
    new._items = items
    if n > 0:
        _set_posterior(new._model, problem)
    new._rebuild_index()
    new._median = RunningMedian(exact_logs(old.efforts[live]))

    window = min(n, cfg.calibration_window)
    if window > 0:
        rows = np.arange(n - window, n, dtype=np.int64)
        w_indptr, w_indices, w_values = items.rows(rows)
        comps = np.full((window, N_COMPONENTS), np.nan)
        comps[:, 0], _ = new._model.loo_moments(w_indptr, w_indices, w_values, logs[rows])
        if n > 1:
            grid = sorted({cfg.analogy_k, *ANALOGY_K_GRID})
            nb, sims = new._neighbours(w_indptr, w_indices, w_values, grid[-1] + 1)
            nb = np.where(nb == rows[:, None], -1, nb)
            coefs = new._model.loo_coefficients(w_indptr, w_indices, w_values, logs[rows],
                                                cfg.text_start)  # fmt: skip
            best, chosen_k = np.inf, cfg.analogy_k
            for k in grid:
                estimates = analogy_estimates(
                    nb, sims, k, logs, w_indptr, w_indices, w_values,
                    items.indptr, items.indices, items.values, coefs, 1,
                    cfg.text_start, cfg.analogy_power,
                )  # fmt: skip
                err = float(np.mean(np.abs(estimates - logs[rows])))
                if err < best - 1e-12:
                    best, comps[:, 1], chosen_k = err, estimates, k
            cfg = dataclasses.replace(cfg, analogy_k=chosen_k)
            new.config = cfg
        comps[:, 2] = new._median.median()
        new._calibrator.reset(logs[rows], comps, [items.ids[r] for r in rows])
    return new
