"""The cold-start prior: validation, array round trip and its use by the estimator."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kernels import Estimator, EstimatorConfig, PublicPrior

PRIOR = PublicPrior(log_median=math.log(5.0), bias_var=0.3, noise_scale=0.9,
                    noise_strength=4.0, meta_var=1.0, text_var=0.05)  # fmt: skip


def test_arrays_round_trip_and_validation() -> None:
    assert PublicPrior.from_arrays(PRIOR.to_arrays()) == PRIOR
    arrays = PRIOR.to_arrays()
    with pytest.raises(ValueError, match="version"):
        PublicPrior.from_arrays({**arrays, "version": np.array(99)})
    with pytest.raises(ValueError, match="missing"):
        PublicPrior.from_arrays({k: v for k, v in arrays.items() if k != "bias_var"})
    with pytest.raises(ValueError):
        PublicPrior.from_arrays({**arrays, "noise_scale": np.array(-1.0)})


def test_estimator_starts_from_the_prior_and_keeps_it() -> None:
    est = Estimator(EstimatorConfig(), prior=PRIOR.to_arrays())
    assert est.config.prior_median == pytest.approx(5.0)
    assert est.predict("anything", "", {}, np.array([0.5])).median == pytest.approx(5.0)
    est.learn_many([f"i{i}" for i in range(30)], [f"t {i}" for i in range(30)], [""] * 30,
                   [{}] * 30, np.full(30, 2.0))  # fmt: skip
    assert Estimator.from_state(est.to_state()).config == est.config
    assert est.refit().config.prior_median == pytest.approx(5.0)
