"""Prior variances of the linear model chosen by marginal likelihood (type-II maximum
likelihood), for the background refit.

The Normal-Inverse-Gamma model has a closed-form evidence ``log p(y)``. Only coordinates
that some item uses matter (the others keep their prior and cancel out of the evidence),
so the sufficient statistics are gathered on that active set, which is small for
structured data and at most the feature dimension for text.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.linalg
from numba import njit
from numpy.typing import NDArray
from scipy.special import gammaln


@njit(cache=True, nogil=True)
def gram_statistics(
    indptr: NDArray[np.int64],
    indices: NDArray[np.int32],
    values: NDArray[np.float64],
    ys: NDArray[np.float64],
    position: NDArray[np.int64],
    n_active: int,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``X^T X`` and ``X^T y`` over the active coordinates (``position`` maps a coordinate
    to its active index); accumulated row by row from the sparse rows."""
    xtx = np.zeros((n_active, n_active), dtype=np.float64)
    xty = np.zeros(n_active, dtype=np.float64)
    for i in range(indptr.shape[0] - 1):
        lo, hi = indptr[i], indptr[i + 1]
        for k in range(lo, hi):
            a = position[indices[k]]
            va = values[k]
            xty[a] += va * ys[i]
            for m in range(lo, hi):
                xtx[a, position[indices[m]]] += va * values[m]
    return xtx, xty


@dataclass(frozen=True)
class EvidenceProblem:
    """Sufficient statistics of the data on the active coordinates, with the prior mean."""

    xtx: NDArray[np.float64]
    xty: NDArray[np.float64]
    yty: float
    n: int
    prior_mean: NDArray[np.float64]
    active: NDArray[np.int64]

    @classmethod
    def from_rows(
        cls,
        indptr: NDArray[np.int64],
        indices: NDArray[np.int32],
        values: NDArray[np.float64],
        ys: NDArray[np.float64],
        prior_mean: NDArray[np.float64],
    ) -> EvidenceProblem:
        """Gather the statistics of CSR rows with targets ``ys``."""
        active = np.unique(indices).astype(np.int64)
        position = np.full(prior_mean.shape[0], -1, dtype=np.int64)
        position[active] = np.arange(active.shape[0])
        xtx, xty = gram_statistics(indptr, indices, values, ys, position, active.shape[0])
        return cls(xtx, xty, float(ys @ ys), int(ys.shape[0]), prior_mean[active], active)


def log_evidence(
    problem: EvidenceProblem, prior_var: NDArray[np.float64], a0: float, b0: float
) -> float:
    """``log p(y)`` under prior variances ``prior_var`` (full length; only the active ones are
    read) and the inverse-gamma noise prior ``(a0, b0)``; ``-inf`` if the posterior is improper.
    """
    v0 = prior_var[problem.active]
    p0 = 1.0 / v0
    precision = problem.xtx + np.diag(p0)
    try:
        factor = scipy.linalg.cho_factor(precision, lower=True)
    except np.linalg.LinAlgError:
        return -math.inf
    eta = p0 * problem.prior_mean + problem.xty
    mean = scipy.linalg.cho_solve(factor, eta)
    an = a0 + 0.5 * problem.n
    bn = b0 + 0.5 * (
        problem.yty + float(problem.prior_mean @ (p0 * problem.prior_mean)) - float(mean @ eta)
    )
    if not bn > 0:
        return -math.inf
    logdet_precision = 2.0 * float(np.sum(np.log(np.diag(factor[0]))))
    return (
        -0.5 * logdet_precision
        - 0.5 * float(np.sum(np.log(v0)))
        + a0 * math.log(b0)
        - an * math.log(bn)
        + float(gammaln(an) - gammaln(a0))
        - 0.5 * problem.n * math.log(2.0 * math.pi)
    )


def choose_block_variances(
    problem: EvidenceProblem,
    base_var: NDArray[np.float64],
    blocks: NDArray[np.int64],
    grids: list[list[float]],
    a0: float,
    b0: float,
) -> tuple[list[float], float]:
    """The per-block prior variances of highest evidence, block by block (coordinate ascent,
    two sweeps). ``blocks[j]`` numbers the block of coordinate ``j`` (-1 = fixed at
    ``base_var``); ``grids[b]`` lists the candidates for block ``b``, the first being the
    current value. Blocks with no active coordinate keep their first candidate.
    Returns ``(variances, log evidence)``.
    """
    chosen = [g[0] for g in grids]
    active_blocks = set(int(b) for b in blocks[problem.active] if b >= 0)

    def variances(values: list[float]) -> NDArray[np.float64]:
        out = base_var.copy()
        for b, v in enumerate(values):
            out[blocks == b] = v
        return out

    best = log_evidence(problem, variances(chosen), a0, b0)
    for _ in range(2):
        for b, grid in enumerate(grids):
            if b not in active_blocks:
                continue
            for candidate in grid:
                trial = list(chosen)
                trial[b] = candidate
                value = log_evidence(problem, variances(trial), a0, b0)
                if value > best + 1e-9:
                    best, chosen = value, trial
    return chosen, best


def choose_coordinate_variances(
    problem: EvidenceProblem,
    prior_var: NDArray[np.float64],
    coords: NDArray[np.int64],
    factors: NDArray[np.float64],
    a0: float,
    b0: float,
    sweeps: int = 2,
) -> tuple[NDArray[np.float64], float]:
    """Automatic relevance determination: a prior variance per coordinate of ``coords``,
    each chosen among its given value and that value times ``factors`` by highest
    evidence (coordinate ascent, ``sweeps`` passes, a change kept only if it raises the
    evidence).

    Changing one prior precision is a rank-one change of the posterior precision, so a
    candidate's evidence follows in O(1) from the current posterior covariance and mean,
    and an accepted change updates them in O(d^2) on the ``d`` active coordinates.
    Coordinates no row uses keep their variance. Returns ``(variances, log evidence)``
    (full length; ``-inf`` evidence and the input variances if the posterior is improper).
    """
    out = np.asarray(prior_var, dtype=np.float64).copy()
    best = log_evidence(problem, out, a0, b0)
    if not math.isfinite(best):
        return out, best
    act = problem.active
    position = {int(c): i for i, c in enumerate(act)}
    local = [(int(c), position[int(c)]) for c in coords if int(c) in position]
    if not local:
        return out, best
    m0 = problem.prior_mean
    p0 = 1.0 / out[act]
    factor = scipy.linalg.cho_factor(problem.xtx + np.diag(p0), lower=True)
    cov = scipy.linalg.cho_solve(factor, np.eye(act.shape[0]))
    eta = p0 * m0 + problem.xty
    mean = cov @ eta
    quad = float(mean @ eta)  # eta^T cov eta
    prior_quad = float(m0 @ (p0 * m0))
    an = a0 + 0.5 * problem.n
    bn = b0 + 0.5 * (problem.yty + prior_quad - quad)
    for _ in range(sweeps):
        for coord, j in local:
            base_var = out[coord]
            c_jj, mean_j, m_j = cov[j, j], mean[j], m0[j]
            chosen = None
            for f in (1.0, *factors):
                var = float(prior_var[coord]) * float(f)
                if var == base_var:
                    continue
                delta = 1.0 / var - 1.0 / base_var
                grow = 1.0 + delta * c_jj
                if not grow > 0:
                    continue
                shift = mean_j + delta * m_j * c_jj
                new_quad = (quad + 2.0 * delta * m_j * mean_j + delta * delta * m_j * m_j * c_jj
                            - delta / grow * shift * shift)  # fmt: skip
                new_bn = b0 + 0.5 * (problem.yty + prior_quad + delta * m_j * m_j - new_quad)
                if not new_bn > 0:
                    continue
                change = (-0.5 * math.log(grow) - 0.5 * math.log(var / base_var)
                          - an * (math.log(new_bn) - math.log(bn)))  # fmt: skip
                if change > 1e-9 and (chosen is None or change > chosen[0]):
                    chosen = (change, var, delta, grow, new_quad, new_bn)
            if chosen is None:
                continue
            change, var, delta, grow, new_quad, new_bn = chosen
            col = cov[:, j].copy()
            cov -= (delta / grow) * np.outer(col, col)
            eta[j] += delta * m0[j]
            mean = cov @ eta
            prior_quad += delta * m0[j] * m0[j]
            quad, bn, best = new_quad, new_bn, best + change
            out[coord] = var
    return out, best
