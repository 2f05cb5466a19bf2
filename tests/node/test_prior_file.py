"""The packaged cold-start prior loads and seeds new tenants' models."""

import numpy as np
import pytest

from kernels import Estimator, EstimatorConfig
from node.prior_file import load_prior


def test_packaged_prior_loads_and_centres_a_new_tenant() -> None:
    prior = load_prior(None)
    assert prior is not None
    est = Estimator(EstimatorConfig(), prior=prior)
    p = est.predict("a new story", "", {}, np.array([0.1, 0.5, 0.9]))
    assert p.median == pytest.approx(np.exp(prior.log_median), rel=0.35)
    assert load_prior("none") is None


def test_unusable_prior_file_is_a_clear_error(tmp_path) -> None:
    bad = tmp_path / "p.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="cannot load the prior"):
        load_prior(str(bad))
    with pytest.raises(ValueError, match="cannot load the prior"):
        load_prior(str(tmp_path / "missing.npz"))
