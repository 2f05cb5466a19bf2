"""Fits the cold-start prior of a new tenant on the public story-point data.

Run ``python -m bench.evaluation.fit_prior [--data DIR] [--out FILE] [--check]``. Each
public project stands for one tenant. The prior's bias is the mean over projects of the
log median story points, with the spread of those medians between projects as its
variance; the noise prior is an inverse gamma matched to the mean and the spread over
projects of the within-project variance of log story points (what a tenant's items vary
by before any feature explains them). The coefficient prior variances are the config's.
The result is written as named arrays to ``node/priors/public_prior.npz``.

``--check`` shows what the prior buys: for every project, a prior fitted on the *other*
projects against the generic default, each replaying that project's first items in
order (estimate, then learn the actual), as a new tenant would.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from kernels import Estimator, EstimatorConfig, PublicPrior

DATA_DIR = Path("/work/shared/datasets")
OUT = Path(__file__).resolve().parents[2] / "node" / "priors" / "public_prior.npz"
#: The noise prior counts as at most this many pseudo-observations (times two).
MAX_STRENGTH = 20.0

Project = tuple[list[str], list[str], NDArray[np.float64]]


def load_projects(data_dir: Path) -> dict[str, Project]:
    """Titles, descriptions and story points of every project, in creation order."""
    out: dict[str, Project] = {}
    for path in sorted((data_dir / "storypoints").glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
        out[path.stem] = (
            [r["title"] for r in rows],
            [r["description"] for r in rows],
            np.array([float(r["storypoint"]) for r in rows]),
        )
    return out


def fit_prior(efforts: Sequence[NDArray[np.float64]], config: EstimatorConfig) -> PublicPrior:
    """The prior implied by several tenants' actuals (one array per tenant, each > 0)."""
    if len(efforts) < 2:
        raise ValueError("need at least two tenants to fit a prior")
    logs = [np.log(np.asarray(e, dtype=np.float64)) for e in efforts]
    medians = np.array([np.median(y) for y in logs])
    variances = np.array([np.var(y, ddof=1) for y in logs])
    noise_var = float(np.mean(variances))
    spread = float(np.var(variances, ddof=1))
    # Inverse gamma with mean m and variance v has shape 2 + m^2 / v.
    strength = min(2.0 + noise_var**2 / spread, MAX_STRENGTH) if spread > 0 else MAX_STRENGTH
    return PublicPrior(
        log_median=float(np.mean(medians)),
        bias_var=max(float(np.var(medians, ddof=1)), 1e-3) / noise_var,
        noise_scale=math.sqrt(noise_var),
        noise_strength=strength,
        meta_var=config.prior_meta_var,
        text_var=config.prior_text_var,
    )


def early_errors(
    project: Project, n_items: int, prior: PublicPrior | Mapping[str, NDArray] | None
) -> NDArray[np.float64]:
    """Absolute errors of a new tenant's estimates of its first ``n_items`` items, each
    estimated before its actual is learned."""
    titles, descriptions, efforts = project
    est = Estimator(EstimatorConfig(), prior=prior)
    levels = np.array([0.5])
    errors = np.empty(min(n_items, efforts.shape[0]))
    for i in range(errors.shape[0]):
        pred = est.predict(titles[i], descriptions[i], {}, levels)
        errors[i] = abs(pred.median - efforts[i])
        est.learn(f"i{i}", titles[i], descriptions[i], {}, float(efforts[i]))
    return errors


def leave_one_out_check(
    projects: Mapping[str, Project], n_items: int
) -> dict[str, tuple[float, float]]:
    """Per project: early MAE with the generic default prior and with a prior fitted on
    the other projects only."""
    config = EstimatorConfig()
    out = {}
    for name, project in projects.items():
        others = [p[2] for other, p in projects.items() if other != name]
        prior = fit_prior(others, config)
        out[name] = (
            float(np.mean(early_errors(project, n_items, None))),
            float(np.mean(early_errors(project, n_items, prior))),
        )
    return out


def main(argv: list[str] | None = None) -> int:
    """Fit the prior on every project and write it (and, with ``--check``, compare)."""
    parser = argparse.ArgumentParser(prog="python -m bench.evaluation.fit_prior")
    parser.add_argument("--data", type=Path, default=DATA_DIR)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--check", action="store_true", help="leave-one-project-out check")
    parser.add_argument("--items", type=int, default=20, help="early items in the check")
    args = parser.parse_args(argv)
    projects = load_projects(args.data)
    prior = fit_prior([p[2] for p in projects.values()], EstimatorConfig())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("wb") as f:
        np.savez(f, allow_pickle=False, **prior.to_arrays())
    print(f"{prior} -> {args.out} ({args.out.stat().st_size} bytes)")
    if args.check:
        results = leave_one_out_check(projects, args.items)
        print(f"MAE of the first {args.items} items: default prior / fitted prior")
        for name, (default, fitted) in results.items():
            print(f"{name:12s} {default:7.2f} {fitted:7.2f}")
        better = sum(fitted < default for default, fitted in results.values())
        print(f"fitted prior better on {better} of {len(results)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
