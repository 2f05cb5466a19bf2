"""The HDR-style histogram against numpy percentiles, and merging."""

from __future__ import annotations

import numpy as np
import pytest

from bench.harness.histogram import (
    LatencyHistogram,
    bucket_index,
    bucket_indices,
    bucket_midpoints,
    nearest_rank,
)

QS = (50.0, 90.0, 99.0, 99.9)


def _reference_us(values_s: np.ndarray, q: float) -> float:
    """The exact nearest-rank percentile: the ceil(q/100 * n)-th smallest value, the rank in
    integer arithmetic on per-mille levels (numpy's ``inverted_cdf`` rounds 99.9/100 * 1000
    up to 1000, the maximum)."""
    us = np.sort(np.clip(np.rint(values_s * 1e6), 1, None))
    per_mille = round(q * 10)
    rank = max(1, -(-per_mille * len(us) // 1000))
    return float(us[rank - 1])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_percentiles_match_numpy_within_bucket_precision(seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = rng.lognormal(np.log(0.002), 1.2, size=20_000)
    h = LatencyHistogram()
    h.record_many(values)
    for q in QS:
        ref = _reference_us(values, q)
        assert h.percentile_us(q) == pytest.approx(ref, rel=1 / 256, abs=1.0)
    assert h.percentile_us(100) == pytest.approx(np.rint(values.max() * 1e6), abs=1)
    assert h.total == len(values)


def test_record_one_by_one_equals_record_many() -> None:
    values = np.random.default_rng(3).exponential(0.01, size=2000)
    a, b = LatencyHistogram(), LatencyHistogram()
    for v in values:
        a.record(float(v))
    b.record_many(values)
    assert np.array_equal(a.counts, b.counts)
    assert (a.min_us, a.max_us, a.total, a.sum_us) == (b.min_us, b.max_us, b.total, b.sum_us)


def test_merge_is_the_histogram_of_the_union() -> None:
    rng = np.random.default_rng(4)
    x, y = rng.uniform(0, 0.05, 3000), rng.uniform(0.01, 2.0, 1000)
    a, b, both = LatencyHistogram(), LatencyHistogram(), LatencyHistogram()
    a.record_many(x)
    b.record_many(y)
    both.record_many(np.concatenate([x, y]))
    a.merge(b)
    assert np.array_equal(a.counts, both.counts)
    assert a.summary() == both.summary()


def test_buckets_are_monotone_and_precise() -> None:
    v = np.arange(1, 3_000_000, dtype=np.int64)
    idx = bucket_indices(v)
    assert np.all(np.diff(idx) >= 0)
    assert [bucket_index(int(x)) for x in v[::9973]] == list(idx[::9973])
    mids = bucket_midpoints(int(idx.max()) + 1)
    assert np.max(np.abs(mids[idx] - v) / v) <= 1 / 256


def test_out_of_range_values_are_clamped_and_counted() -> None:
    h = LatencyHistogram(highest_us=1_000_000)
    h.record(5.0)
    h.record(-1.0)
    assert h.clamped == 1 and h.max_us == 1_000_000 and h.min_us == 1
    assert LatencyHistogram().percentile_ms(99) == 0.0


def test_nearest_rank_is_exact_when_the_count_is_a_multiple_of_1000() -> None:
    # 99.9 / 100 * 1000 is 999.0000000000001 in floating point: rounding that up made p99.9
    # the maximum.
    h = LatencyHistogram()
    h.record_many(np.full(999, 0.001))
    h.record(1.0)
    s = h.summary()
    assert s.p999_ms == pytest.approx(1.0, rel=1 / 256) and s.max_ms == 1000.0
    for q in (50, 90, 99, 99.9, 99.99, 12.5):
        per_million = round(q * 10_000)
        for n in (1, 7, 1000, 2000, 5000, 10_000, 123_456):
            assert nearest_rank(q, n) == max(1, -(-per_million * n // 1_000_000)), (q, n)
    assert nearest_rank(np.float64(99.9), 3000) == 2997
