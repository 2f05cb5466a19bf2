"""An HDR-style latency histogram: log-linear buckets, mergeable, cheap to record into.

Values are whole microseconds from 1 µs to ``highest_us`` (60 s by default). Below 256 µs every
microsecond has its own bucket; above, each power-of-two range is split into 128 equal
buckets, so a bucket is never wider than 1/128 of its lower bound: percentiles are reported at
the bucket's midpoint, within 0.4 % of the recorded value (better than two significant
digits). Values above the range are clamped to it and counted in ``clamped``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

SUB_BITS = 7  # 2**7 = 128 buckets per power of two (beyond the first 256 exact ones)
_HALF = 1 << SUB_BITS
_EXACT = 2 * _HALF


def bucket_index(value_us: int) -> int:
    """The bucket of a value in whole microseconds (>= 1)."""
    if value_us < _EXACT:
        return value_us
    shift = value_us.bit_length() - 1 - SUB_BITS
    return _HALF * shift + (value_us >> shift)


def bucket_indices(values_us: np.ndarray) -> np.ndarray:
    """:func:`bucket_index` over an integer array."""
    v = np.asarray(values_us, dtype=np.int64)
    bits = np.zeros(v.shape, dtype=np.int64)
    big = v >= _EXACT
    # floor(log2) exactly for integers: frexp gives v = m * 2**e with 0.5 <= m < 1
    bits[big] = np.frexp(v[big].astype(np.float64))[1] - 1
    shift = np.where(big, bits - SUB_BITS, 0)
    return np.where(big, _HALF * shift + (v >> shift), v)


def bucket_midpoints(n_buckets: int) -> np.ndarray:
    """The value (µs) each bucket reports: its midpoint."""
    idx = np.arange(n_buckets, dtype=np.int64)
    shift = np.maximum(idx // _HALF - 1, 0)
    low = np.where(idx < _EXACT, idx, (idx - _HALF * shift) << shift)
    return low + ((1 << shift) - 1) / 2.0


def nearest_rank(q: float, total: int) -> int:
    """The rank (1-based) of percentile ``q`` among ``total`` values: ``ceil(q/100 * total)``,
    at least 1, computed exactly for ``q`` as written in decimal (in floating point,
    ``99.9 / 100 * 1000`` is ``999.0000000000001``, which would round up to the maximum)."""
    return max(1, math.ceil(Fraction(str(float(q))) * total / 100))


@dataclass(frozen=True)
class HistogramSummary:
    """Percentiles of a histogram in milliseconds, and its count."""

    count: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    mean_ms: float


class LatencyHistogram:
    """Counts of latencies in log-linear buckets; see the module docstring for the precision."""

    def __init__(self, highest_us: int = 60_000_000) -> None:
        if highest_us < _EXACT:
            raise ValueError(f"highest_us must be at least {_EXACT}")
        self.highest_us = highest_us
        self.counts = np.zeros(bucket_index(highest_us) + 1, dtype=np.int64)
        self.total = 0
        self.clamped = 0
        self.min_us = 0
        self.max_us = 0
        self.sum_us = 0

    def record(self, seconds: float) -> None:
        """Add one latency given in seconds (negative values count as 1 µs)."""
        v = int(seconds * 1e6 + 0.5)
        if v < 1:
            v = 1
        elif v > self.highest_us:
            v = self.highest_us
            self.clamped += 1
        self.counts[bucket_index(v)] += 1
        if self.total == 0 or v < self.min_us:
            self.min_us = v
        if v > self.max_us:
            self.max_us = v
        self.total += 1
        self.sum_us += v

    def record_many(self, seconds: np.ndarray) -> None:
        """Add an array of latencies given in seconds."""
        raw = np.rint(np.asarray(seconds, dtype=np.float64) * 1e6).astype(np.int64)
        if raw.size == 0:
            return
        self.clamped += int(np.count_nonzero(raw > self.highest_us))
        v = np.clip(raw, 1, self.highest_us)
        self.counts += np.bincount(bucket_indices(v), minlength=len(self.counts))
        lo, hi = int(v.min()), int(v.max())
        self.min_us = lo if self.total == 0 else min(self.min_us, lo)
        self.max_us = max(self.max_us, hi)
        self.total += int(v.size)
        self.sum_us += int(v.sum())

    def merge(self, other: LatencyHistogram) -> None:
        """Add another histogram's counts into this one (same range required)."""
        if other.highest_us != self.highest_us:
            raise ValueError("cannot merge histograms with different ranges")
        if other.total == 0:
            return
        self.counts += other.counts
        self.min_us = other.min_us if self.total == 0 else min(self.min_us, other.min_us)
        self.max_us = max(self.max_us, other.max_us)
        self.total += other.total
        self.clamped += other.clamped
        self.sum_us += other.sum_us

    def percentile_us(self, q: float) -> float:
        """The value (µs) at percentile ``q`` (0..100); 0 when empty.

        The extremes are exact: ``q == 0`` is the minimum and ``q == 100`` the maximum.
        """
        if self.total == 0:
            return 0.0
        if q <= 0:
            return float(self.min_us)
        if q >= 100:
            return float(self.max_us)
        rank = nearest_rank(q, self.total)
        idx = int(np.searchsorted(np.cumsum(self.counts), rank))
        mid = float(bucket_midpoints(idx + 1)[idx])
        return min(max(mid, float(self.min_us)), float(self.max_us))

    def percentile_ms(self, q: float) -> float:
        """:meth:`percentile_us` in milliseconds."""
        return self.percentile_us(q) / 1000.0

    def summary(self) -> HistogramSummary:
        """p50, p90, p99, p99.9, max and mean, in milliseconds."""
        mean = self.sum_us / self.total / 1000.0 if self.total else 0.0
        return HistogramSummary(
            self.total, self.percentile_ms(50), self.percentile_ms(90), self.percentile_ms(99),
            self.percentile_ms(99.9), self.max_us / 1000.0, mean,
        )
