"""Running standardisation kernel against a numpy reference."""

from __future__ import annotations

import numpy as np
import pytest

from kernels.numeric_scaling import NumericScaler, standardise_auto


def test_signed_columns_match_reference_and_prediction_uses_final_statistics() -> None:
    # Every column holds a value <= 0 from its first row, so all take the signed log1p.
    rng = np.random.default_rng(0)
    raw = rng.lognormal(2.0, 1.5, size=(60, 4)) * rng.choice([-1, 1], size=(60, 4))
    raw[rng.random(raw.shape) < 0.2] = np.nan
    raw[0, :3] = -1.0
    raw[:, 3] = 0.0  # constant column: unit scale, z = 0
    count, mean, m2 = np.zeros(4), np.zeros(4), np.zeros(4)
    log_mean, log_m2, nonpos = np.zeros(4), np.zeros(4), np.zeros(4)
    z = standardise_auto(raw, count, mean, m2, log_mean, log_m2, nonpos, True, 3.0)
    np.testing.assert_allclose(z, ref_standardise_auto(raw, 3.0), atol=1e-12)
    logged = np.sign(raw) * np.log1p(np.abs(raw))
    np.testing.assert_allclose(mean, np.nanmean(logged, axis=0), rtol=1e-12)
    np.testing.assert_array_equal(count, np.sum(np.isfinite(raw), axis=0))
    np.testing.assert_array_equal(nonpos, np.sum(np.isfinite(raw) & (raw <= 0), axis=0))
    state = (count, mean, m2, log_mean, log_m2, nonpos)
    before = tuple(a.copy() for a in state)
    query = np.array([[1.0, np.nan, -3.0, 0.0]])
    zq = standardise_auto(query, *state, False, 3.0)
    for got, was in zip(state, before, strict=True):
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


def ref_standardise_auto(raw: np.ndarray, z_clip: float) -> np.ndarray:
    """Per value: ``log`` against the positive values seen so far while every value of the
    column seen so far (this one included) is positive, the signed ``log1p`` otherwise."""
    signed = np.sign(raw) * np.log1p(np.abs(raw))
    out = np.zeros_like(raw)
    for i in range(raw.shape[0]):
        for j in range(raw.shape[1]):
            if not np.isfinite(raw[i, j]):
                continue
            seen_raw = raw[: i + 1, j]
            seen_raw = seen_raw[np.isfinite(seen_raw)]
            if np.all(seen_raw > 0):
                seen, x = np.log(seen_raw), np.log(raw[i, j])
            else:
                seen, x = np.sign(seen_raw) * np.log1p(np.abs(seen_raw)), signed[i, j]
            scale = seen.std() if seen.size >= 2 and seen.var() > 1e-12 else 1.0
            out[i, j] = np.clip((x - seen.mean()) / scale, -z_clip, z_clip)
    return out


def test_positive_columns_take_log_and_switch_to_signed_log1p_at_a_non_positive_value() -> None:
    rng = np.random.default_rng(2)
    raw = rng.lognormal(0.0, 0.4, size=(50, 3))  # multipliers around 1: log, not log1p
    raw[rng.random(raw.shape) < 0.15] = np.nan
    raw[30, 1] = 0.0  # column 1 turns signed-log1p from row 30 on
    raw[10, 2] = -2.0  # column 2 from row 10 on
    scaler = NumericScaler()
    for name in ("a", "b", "c"):
        scaler.register(name)
    z = scaler.transform(raw, True, 4.0)
    np.testing.assert_allclose(z, ref_standardise_auto(raw, 4.0), atol=1e-12)
    np.testing.assert_array_equal(scaler.nonpos, [0.0, 1.0, 1.0])
    # prediction uses the final statistics: log for column 0, signed log1p for 1 and 2
    query = np.array([[1.5, 1.5, 1.5], [0.0, 3.0, 3.0]])
    zq = scaler.transform(query, False, 4.0)
    positive = raw[:, 0][np.isfinite(raw[:, 0])]
    want = (np.log(1.5) - np.log(positive).mean()) / np.log(positive).std()
    assert zq[0, 0] == pytest.approx(want, rel=1e-12)
    assert zq[1, 0] == -4.0  # below every value learned for a positive-only column
    b = raw[:, 1][np.isfinite(raw[:, 1])]
    lb = np.log1p(b)
    assert zq[0, 1] == pytest.approx((np.log1p(1.5) - lb.mean()) / lb.std(), rel=1e-12)
    restored = NumericScaler.from_state(scaler.to_state())
    np.testing.assert_array_equal(restored.transform(query, False, 4.0), zq)


def test_log_scaling_is_invariant_to_the_unit_of_a_positive_column() -> None:
    rng = np.random.default_rng(3)
    raw = rng.lognormal(1.0, 1.0, size=(40, 1))
    a, b = NumericScaler(), NumericScaler()
    a.register("size")
    b.register("size")
    np.testing.assert_allclose(a.transform(raw, True, 5.0), b.transform(raw * 1000.0, True, 5.0),
                               atol=1e-9)  # fmt: skip
