"""Merging forecast parts: any split of the trials gives exactly the same forecast."""

from __future__ import annotations

import numpy as np
import pytest

from kernels.forecast import simulate_part
from kernels.forecast_merge import merge_parts
from tests.kernels.test_forecast import _mixed_plan

PERCENTILES = [5, 10, 50, 80, 90, 95]


@pytest.mark.parametrize("correlation", [0.0, 0.5])
def test_split_parts_merge_exactly(correlation: float) -> None:
    plan = _mixed_plan(correlation)
    n = 3000
    whole = merge_parts(plan, [simulate_part(plan, 0, n, 77)], PERCENTILES, 25)
    cuts = [(0, 170), (170, 2001), (2171, n - 2171)]  # uneven; the sample spans two parts
    parts = [simulate_part(plan, s, c, 77, n_chunks=k + 2) for k, (s, c) in enumerate(cuts)]
    split = merge_parts(plan, parts[::-1], PERCENTILES, 25)  # order does not matter
    assert split.trials == whole.trials == n
    for a, b in ((whole.effort, split.effort), (whole.duration, split.duration)):
        np.testing.assert_array_equal(a.values, b.values)
        np.testing.assert_array_equal(a.edges, b.edges)
        np.testing.assert_array_equal(a.counts, b.counts)
        assert a.mean == b.mean and a.minimum == b.minimum and a.maximum == b.maximum
    np.testing.assert_array_equal(whole.criticality, split.criticality)
    np.testing.assert_array_equal(whole.sensitivity, split.sensitivity)
    assert whole.sensitivity_trials == 300


def test_merged_histogram_and_percentiles_are_of_the_union() -> None:
    plan = _mixed_plan(0.0)
    parts = [simulate_part(plan, 0, 500, 3), simulate_part(plan, 500, 700, 3)]
    s = merge_parts(plan, parts, [50], 10)
    union = np.concatenate([p.durations for p in parts])
    assert s.duration.values[0] == np.percentile(union, 50)
    assert s.duration.edges[0] == union.min() and s.duration.edges[-1] == union.max()
    assert s.duration.counts.sum() == 1200


def test_sensitivity_ranks_the_driving_task() -> None:
    from tests.kernels.test_forecast import make_plan, pert

    # Task 0 is wide and on the only path; task 1 is narrow and in parallel with it.
    plan = make_plan([pert(1, 5, 30), pert(1, 1.5, 2), pert(1, 2, 3, [0])])
    s = merge_parts(plan, [simulate_part(plan, 0, 5000, 1)], [50], 10)
    assert s.sensitivity[0] > 0.9 and abs(s.sensitivity[1]) < 0.1


def test_bad_splits_are_refused() -> None:
    plan = _mixed_plan(0.0)
    a, b = simulate_part(plan, 0, 100, 1), simulate_part(plan, 150, 100, 1)
    with pytest.raises(ValueError, match="gap or overlap"):
        merge_parts(plan, [a, b], [50], 10)
    with pytest.raises(ValueError, match="different seeds"):
        merge_parts(plan, [a, simulate_part(plan, 100, 50, 2)], [50], 10)
    with pytest.raises(ValueError, match="no forecast parts"):
        merge_parts(plan, [], [50], 10)


def test_a_range_too_narrow_for_its_bins_gives_one_bin() -> None:
    from kernels.forecast_merge import summarise

    values = np.array([1e9, 1e9 + 1e-6, 1e9 + 2e-7])
    s = summarise(values, np.array([50.0]), 20)
    assert s.counts.tolist() == [3] and s.edges.tolist() == [1e9, 1e9 + 1e-6]
    wide = summarise(np.array([1.0, 2.0, 3.0]), np.array([50.0]), 2)
    assert wide.counts.tolist() == [1, 2]


def test_trials_all_alike_give_one_bin_at_their_value() -> None:
    """A project of milestones totals 0 in every trial: one bin [0, 0], not numpy's
    [-0.5, 0.5] (a negative effort on the chart)."""
    from kernels.forecast_merge import summarise

    for value in (0.0, 7.5):
        s = summarise(np.full(1000, value), np.array([50.0]), 20)
        assert s.counts.tolist() == [1000] and s.edges.tolist() == [value, value]
