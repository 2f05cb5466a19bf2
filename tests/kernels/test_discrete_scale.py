"""Estimates on a discrete effort scale: support detection and snapping."""

from __future__ import annotations

import numpy as np

from kernels import Estimator
from kernels.discrete_scale import (
    discrete_support,
    snap_down,
    snap_nearest,
    snap_quantiles,
    snap_up,
)

SUPPORT = np.array([1.0, 2.0, 3.0, 5.0, 8.0])


def test_support_only_for_few_levels() -> None:
    points = np.sort(np.tile(SUPPORT, 10))
    assert np.array_equal(discrete_support(points, 32), SUPPORT)
    assert discrete_support(points[:12], 32) is None  # too few items
    assert discrete_support(np.sort(np.random.default_rng(0).random(100)), 32) is None
    assert discrete_support(points, 0) is None


def test_snapping_matches_a_brute_force_reference() -> None:
    values = np.random.default_rng(1).uniform(0.2, 10.0, 500)
    near = np.array([SUPPORT[np.argmin(np.abs(SUPPORT - v))] for v in values])
    up = np.array([SUPPORT[SUPPORT >= v].min() if v <= 8 else 8.0 for v in values])
    down = np.array([SUPPORT[SUPPORT <= v].max() if v >= 1 else 1.0 for v in values])
    assert np.array_equal(snap_nearest(values, SUPPORT), near)
    assert np.array_equal(snap_up(values, SUPPORT), up)
    assert np.array_equal(snap_down(values, SUPPORT), down)


def test_snapped_intervals_keep_coverage_and_order() -> None:
    rng = np.random.default_rng(2)
    mid = rng.uniform(0.5, 9.0, 300)
    q = np.stack([mid * 0.5, mid, mid * 1.8], axis=1)
    levels = np.array([0.1, 0.5, 0.9])
    snapped, med = snap_quantiles(q, mid, levels, SUPPORT)
    assert np.all(np.diff(snapped, axis=1) >= 0) and np.array_equal(snapped[:, 1], med)
    assert np.all(np.isin(snapped, SUPPORT))
    for s in SUPPORT:  # a support value inside the raw interval stays inside (or meets the median)
        inside = (q[:, 0] <= s) & (s <= q[:, 2])
        assert np.all((snapped[inside, 0] <= s) & (s <= snapped[inside, 2]))


def test_story_point_tenant_gets_scale_values() -> None:
    rng = np.random.default_rng(3)
    efforts = rng.choice(SUPPORT, size=60)
    est = Estimator()
    est.learn_many([f"s{i}" for i in range(60)], [f"task {i % 7}" for i in range(60)],
                   [""] * 60, [{}] * 60, efforts)  # fmt: skip
    pred = est.predict("task 3", "", {}, np.array([0.1, 0.5, 0.9]))
    assert pred.median in SUPPORT and np.all(np.isin(pred.quantiles, SUPPORT))
