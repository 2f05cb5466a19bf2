"""Blend weights, conformal quantiles and the adaptive inflation."""

from __future__ import annotations

import numpy as np
import pytest

from kernels.calibration import ConformalCalibrator, conformal_quantiles


def test_weights_follow_inverse_error_and_blend_skips_missing() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(size=200)
    comps = np.stack([y + rng.normal(0, 0.1, 200), y + rng.normal(0, 1.0, 200)], axis=1)
    cal = ConformalCalibrator(2, window=256, power=2.0)
    cal.reset(y, comps)
    w = cal.weights()
    assert w.sum() == pytest.approx(1.0) and w[0] > 0.95
    mae = np.abs(comps - y[:, None]).mean(axis=0) + 1e-3
    np.testing.assert_allclose(w, mae**-2 / (mae**-2).sum())
    blended = cal.blend(np.array([[1.0, 3.0], [np.nan, 3.0]]))
    assert blended[0] == pytest.approx(w @ [1.0, 3.0]) and blended[1] == 3.0


def test_quantiles_cover_and_inflation_adapts_to_drift() -> None:
    rng = np.random.default_rng(1)
    cal = ConformalCalibrator(1, window=200, step=0.05)
    for y in rng.normal(0, 1.0, 400):
        cal.add(float(y), np.array([0.0]))
    lo, mid, hi = cal.residual_quantiles(np.array([0.1, 0.5, 0.9]))
    assert lo < mid < hi and hi - lo == pytest.approx(2 * 1.2816, rel=0.25)
    calm = cal.inflation
    misses = 0
    for y in rng.normal(0, 3.0, 300):  # accuracy drifts: errors triple
        lo, hi = cal.residual_quantiles(np.array([0.1, 0.9]))
        misses += not lo <= y <= hi
        cal.add(float(y), np.array([0.0]))
    assert cal.inflation > calm
    assert misses / 300 < 0.45  # the window and the inflation keep up
    state = cal.to_state()
    other = ConformalCalibrator(1, window=200)
    other.load_state(state)
    np.testing.assert_array_equal(
        other.residual_quantiles(np.array([0.1, 0.9])), cal.residual_quantiles(np.array([0.1, 0.9]))
    )


def test_not_ready_without_records() -> None:
    cal = ConformalCalibrator(3)
    assert not cal.ready
    with pytest.raises(ValueError, match="too few"):
        cal.residual_quantiles(np.array([0.5]))


def test_conformal_quantiles_are_the_finite_sample_order_statistics() -> None:
    values = np.arange(1.0, 20.0)  # n = 19, so p (n + 1) = 20 p
    q = conformal_quantiles(values, np.array([0.05, 0.1, 0.12, 0.5, 0.88, 0.9, 0.99]))
    # 0.1 * 20 = 2 -> 2nd smallest; 0.12 * 20 = 2.4 -> floor 2; 0.9 * 20 = 18 -> 18th;
    # 0.88 * 20 = 17.6 -> ceil 18; 0.99 * 20 = 19.8 -> ceil 20, clamped to the largest
    np.testing.assert_array_equal(q, [1.0, 2.0, 2.0, 10.0, 18.0, 18.0, 19.0])
    # on ties (a discrete effort scale) the 80% band holds at least 80% of fresh draws
    rng = np.random.default_rng(5)
    support = np.log([1.0, 2.0, 3.0, 5.0, 8.0])
    probs = [0.15, 0.3, 0.35, 0.15, 0.05]
    hits = []
    for _ in range(300):
        sample = np.sort(rng.choice(support, size=40, p=probs))
        lo, hi = conformal_quantiles(sample, np.array([0.1, 0.9]))
        fresh = rng.choice(support, size=200, p=probs)
        hits.append(np.mean((lo <= fresh) & (fresh <= hi)))
    assert np.mean(hits) >= 0.8
