"""The cold-start prior fitted on public data, and what it does for a new tenant."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.evaluation.fit_prior import early_errors, fit_prior, load_projects, main
from kernels import EstimatorConfig, PublicPrior

DATA = Path("/work/shared/datasets")


def test_fit_prior_recovers_tenant_spread() -> None:
    rng = np.random.default_rng(0)
    tenants = [np.exp(rng.normal(m, 0.8, 400)) for m in rng.normal(1.5, 0.4, 30)]
    prior = fit_prior(tenants, EstimatorConfig())
    assert prior.log_median == pytest.approx(1.5, abs=0.2)
    assert prior.noise_scale == pytest.approx(0.8, abs=0.05)
    assert prior.bias_var * prior.noise_scale**2 == pytest.approx(0.16, rel=0.6)


@pytest.mark.skipif(not (DATA / "storypoints").exists(), reason="public datasets not available")
def test_written_prior_loads_and_serves_a_new_tenant(tmp_path: Path) -> None:
    out = tmp_path / "prior.npz"
    assert main(["--data", str(DATA), "--out", str(out)]) == 0
    with np.load(out) as f:
        prior = PublicPrior.from_arrays(dict(f))
    project = load_projects(DATA)["MESOS"]
    errors = early_errors(project, 20, prior)
    assert errors.shape == (20,) and np.all(np.isfinite(errors))
