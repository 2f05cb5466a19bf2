"""Running standardisation kernel against a numpy reference."""

from __future__ import annotations

import numpy as np

from kernels.numeric_scaling import NumericScaler, standardise


def ref_standardise(raw: np.ndarray, z_clip: float) -> np.ndarray:
    """z of each value against the statistics of its column up to and including its row."""
    logged = np.sign(raw) * np.log1p(np.abs(raw))
    out = np.zeros_like(raw)
    for i in range(raw.shape[0]):
        for j in range(raw.shape[1]):
            if not np.isfinite(raw[i, j]):
                continue
            seen = logged[: i + 1, j]
            seen = seen[np.isfinite(seen)]
            scale = seen.std() if seen.size >= 2 and seen.var() > 1e-12 else 1.0
            out[i, j] = np.clip((logged[i, j] - seen.mean()) / scale, -z_clip, z_clip)
    return out


def test_learning_matches_reference_and_prediction_uses_final_statistics() -> None:
    rng = np.random.default_rng(0)
    raw = rng.lognormal(2.0, 1.5, size=(60, 4)) * rng.choice([-1, 1], size=(60, 4))
    raw[rng.random(raw.shape) < 0.2] = np.nan
    raw[:, 3] = 7.0  # constant column: unit scale, z = 0
    count, mean, m2 = np.zeros(4), np.zeros(4), np.zeros(4)
    z = standardise(raw, count, mean, m2, True, 3.0)
    np.testing.assert_allclose(z, ref_standardise(raw, 3.0), atol=1e-12)
    logged = np.sign(raw) * np.log1p(np.abs(raw))
    np.testing.assert_allclose(mean, np.nanmean(logged, axis=0), rtol=1e-12)
    np.testing.assert_array_equal(count, np.sum(np.isfinite(raw), axis=0))
    before = (count.copy(), mean.copy(), m2.copy())
    query = np.array([[1.0, np.nan, -3.0, 7.0]])
    zq = standardise(query, count, mean, m2, False, 3.0)
    for got, was in zip((count, mean, m2), before, strict=True):
        np.testing.assert_array_equal(got, was)
    lq = np.sign(query) * np.log1p(np.abs(query))
    cols = [0, 2]
    want = np.clip((lq[0, cols] - mean[cols]) / np.sqrt(m2[cols] / count[cols]), -3, 3)
    np.testing.assert_allclose(zq[0, cols], want, rtol=1e-12)
    assert zq[0, 1] == 0.0 and zq[0, 3] == 0.0


def test_batch_equals_rows_one_at_a_time_and_state_round_trips() -> None:
    rng = np.random.default_rng(1)
    raw = rng.normal(10, 5, size=(30, 2))
    a, b = NumericScaler(), NumericScaler()
    for s in (a, b):
        s.register("x")
        s.register("y")
    za = a.transform(raw, True, 5.0)
    zb = np.vstack([b.transform(raw[i : i + 1], True, 5.0) for i in range(30)])
    np.testing.assert_array_equal(za, zb)
    c = NumericScaler.from_state(a.to_state())
    assert c.names == ["x", "y"] and c.column("y") == 1 and c.column("z") == -1
    np.testing.assert_array_equal(c.transform(raw, False, 5.0), a.transform(raw, False, 5.0))
