"""The forecast kernel: known answers, agreement with the numpy reference, wire forms."""

from __future__ import annotations

import msgpack
import numpy as np
import pytest

from kernels.forecast import (
    GRID_PROBS,
    KIND_FIXED,
    KIND_GRID,
    KIND_PERT,
    ForecastPart,
    ForecastPlan,
    simulate_part,
)
from kernels.forecast_merge import merge_parts
from kernels.forecast_reference import reference_part

Task = tuple[int, tuple[float, float, float], list[int]]


def make_plan(tasks: list[Task], risks: list[tuple[float, float, list[int]]] = (),  # type: ignore[assignment]
              correlation: float = 0.0, grids: dict[int, np.ndarray] | None = None,
              sensitivity_trials: int = 4096) -> ForecastPlan:  # fmt: skip
    """A plan from (kind, params, predecessors) in a topological input order."""
    n = len(tasks)
    grid_row = np.full(n, -1, np.int64)
    grid_tasks = [i for i, t in enumerate(tasks) if t[0] == KIND_GRID]
    grid_row[grid_tasks] = np.arange(len(grid_tasks))
    grid_log = np.full((len(grid_tasks), GRID_PROBS.size), np.nan)
    plan = ForecastPlan(
        task_ids=tuple(f"t{i}" for i in range(n)), order=np.arange(n, dtype=np.int64),
        pred_ptr=np.concatenate([[0], np.cumsum([len(t[2]) for t in tasks])]).astype(np.int64),
        pred_idx=np.asarray([p for t in tasks for p in t[2]], np.int64),
        kind=np.asarray([t[0] for t in tasks], np.int8),
        params=np.asarray([t[1] for t in tasks], np.float64).reshape(n, 3),
        grid_row=grid_row, grid_log=grid_log,
        risk_ids=tuple(f"r{j}" for j in range(len(risks))),
        risk_prob=np.asarray([r[0] for r in risks], np.float64),
        risk_extra=np.asarray([r[1] for r in risks], np.float64),
        risk_ptr=np.concatenate([[0], np.cumsum([len(r[2]) for r in risks])]).astype(np.int64),
        risk_tasks=np.asarray([i for r in risks for i in r[2]], np.int64),
        correlation=correlation, sensitivity_trials=sensitivity_trials)  # fmt: skip
    plan.check()
    return plan.with_grids(grids) if grids else plan


def fixed(v: float, preds: list[int] | None = None) -> Task:
    return KIND_FIXED, (v, 0.0, 0.0), preds or []


def pert(o: float, m: float, p: float, preds: list[int] | None = None) -> Task:
    return KIND_PERT, (o, m, p), preds or []


def lognormal_grid(mu: float, sigma: float) -> np.ndarray:
    from scipy import special

    return mu + sigma * special.ndtri(GRID_PROBS)


def summary(plan: ForecastPlan, n: int = 20_000, seed: int = 1):  # type: ignore[no-untyped-def]
    return merge_parts(plan, [simulate_part(plan, 0, n, seed)], [10, 50, 90], 10)


def test_chain_of_fixed_efforts_is_exact() -> None:
    plan = make_plan([fixed(2), fixed(3, [0]), fixed(5, [1])])
    part = simulate_part(plan, 0, 500, 9)
    assert np.all(part.totals == 10.0) and np.all(part.durations == 10.0)
    assert np.all(part.critical_counts == 500)


def test_parallel_fixed_tasks_take_the_longest_and_sum() -> None:
    plan = make_plan([fixed(2), fixed(7), fixed(4)])
    part = simulate_part(plan, 0, 300, 9)
    assert np.all(part.durations == 7.0) and np.all(part.totals == 13.0)
    assert part.critical_counts.tolist() == [0, 300, 0]


def test_chain_of_pert_tasks_has_the_sum_of_pert_means() -> None:
    rng = np.random.default_rng(0)
    points = np.sort(rng.uniform(1, 20, size=(30, 3)), axis=1)
    plan = make_plan([pert(*p, preds=[i - 1] if i else []) for i, p in enumerate(points)])
    s = summary(plan, 20_000)
    expected = float(((points[:, 0] + 4 * points[:, 1] + points[:, 2]) / 6).sum())
    assert s.effort.mean == pytest.approx(expected, rel=0.003)
    assert s.duration.mean == pytest.approx(expected, rel=0.003)
    # A 30-task chain: the total is close to normal, so P50 is near the mean.
    assert s.effort.values[1] == pytest.approx(expected, rel=0.01)


@pytest.mark.parametrize("points", [(0.0, 1.0, 100.0), (2.0, 5.0, 14.0)])
def test_pert_tails_hold_their_probability(points: tuple[float, float, float]) -> None:
    """Of 1,000,000 draws of one skewed beta-PERT task, 0.1% and 0.01% fall beyond the
    exact P99.9 and P99.99, and 0.1% below the exact P0.1 (within four binomial standard
    deviations): the tails of the tabulated inverse CDF are the distribution's."""
    from scipy import stats

    o, m, p = points
    alpha, beta = 1 + 4 * (m - o) / (p - o), 1 + 4 * (p - m) / (p - o)
    n = 1_000_000
    totals = simulate_part(make_plan([pert(o, m, p)]), 0, n, 11).totals
    for tail, beyond in ((1e-3, True), (1e-4, True), (1e-3, False)):
        level = 1 - tail if beyond else tail
        exact = o + (p - o) * stats.beta.ppf(level, alpha, beta)
        share = np.mean(totals > exact) if beyond else np.mean(totals < exact)
        assert abs(share - tail) < 4 * np.sqrt(tail * (1 - tail) / n), (level, share)
    assert totals.std() == pytest.approx((p - o) * stats.beta.std(alpha, beta), rel=2e-3)


def test_parallel_identical_tasks_share_criticality() -> None:
    k = 4
    plan = make_plan([pert(1, 2, 4) for _ in range(k)] + [fixed(1, list(range(k)))])
    s = summary(plan, 20_000)
    assert np.allclose(s.criticality[:k], 1 / k, atol=0.015)
    assert s.criticality[k] == 1.0
    assert s.criticality[:k].sum() == pytest.approx(1.0)


def test_risk_event_happens_with_its_probability() -> None:
    plan = make_plan([fixed(3), fixed(4, [0])], risks=[(0.3, 10.0, [1])])
    part = simulate_part(plan, 0, 20_000, 5)
    hit = part.totals > 7.0
    assert hit.mean() == pytest.approx(0.3, abs=0.01)
    assert np.all(part.totals[hit] == 17.0) and np.all(part.durations[hit] == 17.0)


def test_correlation_widens_the_total() -> None:
    tasks = [pert(1, 2, 6) for _ in range(20)]
    independent = summary(make_plan(tasks), 10_000)
    correlated = summary(make_plan(tasks, correlation=0.6), 10_000)
    assert correlated.effort.std > 2.0 * independent.effort.std
    assert correlated.effort.mean == pytest.approx(independent.effort.mean, rel=0.02)


def test_quantile_grid_reproduces_a_lognormal() -> None:
    mu, sigma = np.log(5.0), 0.5
    plan = make_plan([(KIND_GRID, (0, 0, 0), [])], grids={0: lognormal_grid(mu, sigma)})
    part = simulate_part(plan, 0, 50_000, 2)
    assert np.median(part.totals) == pytest.approx(5.0, rel=0.02)
    assert np.log(part.totals).std() == pytest.approx(sigma, rel=0.02)
    # The tails extend the end segments: some trials fall beyond P1 and P99.
    assert (part.totals > np.exp(mu + sigma * 2.3263)).mean() == pytest.approx(0.01, abs=0.003)


def test_missing_grid_is_refused() -> None:
    plan = make_plan([(KIND_GRID, (0, 0, 0), [])])
    with pytest.raises(ValueError, match="no quantile grid"):
        simulate_part(plan, 0, 10, 1)


def _mixed_plan(correlation: float) -> ForecastPlan:
    rng = np.random.default_rng(3)
    tasks: list[Task] = []
    for i in range(25):
        preds = sorted({int(j) for j in rng.integers(0, i, size=2)}) if i else []
        if i % 5 == 0:
            tasks.append((KIND_GRID, (0, 0, 0), preds))
        elif i % 5 == 1:
            tasks.append(fixed(float(rng.uniform(1, 3)), preds))
        else:
            o, m, p = np.sort(rng.uniform(1, 10, 3))
            tasks.append(pert(o, m, p, preds))
    grids = {i: lognormal_grid(1.0 + 0.1 * i, 0.4) for i in range(0, 25, 5)}
    return make_plan(tasks, risks=[(0.25, 3.0, [2, 7]), (0.1, 8.0, [11])],
                     correlation=correlation, grids=grids, sensitivity_trials=300)  # fmt: skip


@pytest.mark.parametrize("correlation", [0.0, 0.4])
def test_kernel_agrees_with_numpy_reference(correlation: float) -> None:
    plan = _mixed_plan(correlation)
    got = simulate_part(plan, 100, 1500, 12345, n_chunks=7)
    ref = reference_part(plan, 100, 1500, 12345, chunk=512)
    np.testing.assert_allclose(got.totals, ref.totals, rtol=1e-12)
    np.testing.assert_allclose(got.durations, ref.durations, rtol=1e-12)
    np.testing.assert_array_equal(got.critical_counts, ref.critical_counts)
    assert got.sample_efforts.shape == (200, 25)
    np.testing.assert_allclose(got.sample_efforts, ref.sample_efforts, rtol=1e-6)


def test_result_does_not_depend_on_threads_chunks() -> None:
    plan = _mixed_plan(0.3)
    a = simulate_part(plan, 0, 1000, 8, n_chunks=1)
    b = simulate_part(plan, 0, 1000, 8, n_chunks=13)
    np.testing.assert_array_equal(a.totals, b.totals)
    np.testing.assert_array_equal(a.critical_counts, b.critical_counts)


def test_seeds_differ() -> None:
    plan = _mixed_plan(0.0)
    a, b = simulate_part(plan, 0, 200, 1), simulate_part(plan, 0, 200, 2)
    assert not np.array_equal(a.totals, b.totals)


def _roundtrip(d: dict) -> dict:  # type: ignore[type-arg]
    """Through msgpack, numpy arrays as (dtype, shape, bytes) as the wire does."""
    def enc(o: object) -> object:
        if isinstance(o, np.ndarray):
            return msgpack.ExtType(1, msgpack.packb([o.dtype.str, list(o.shape), o.tobytes()]))
        raise TypeError(type(o))

    def ext(code: int, data: bytes) -> object:
        dt, shape, raw = msgpack.unpackb(data)
        return np.frombuffer(raw, dtype=dt).reshape(shape)

    return msgpack.unpackb(msgpack.packb(d, default=enc), ext_hook=ext)  # type: ignore[no-any-return]


def test_plan_and_part_wire_roundtrip() -> None:
    plan = _mixed_plan(0.25)
    back = ForecastPlan.from_dict(_roundtrip(plan.to_dict()))
    assert back.task_ids == plan.task_ids and back.correlation == plan.correlation
    part = simulate_part(plan, 10, 400, 4)
    again = simulate_part(back, 10, 400, 4)
    np.testing.assert_array_equal(part.totals, again.totals)
    p2 = ForecastPart.from_dict(_roundtrip(part.to_dict()))
    np.testing.assert_array_equal(p2.durations, part.durations)
    np.testing.assert_array_equal(p2.sample_efforts, part.sample_efforts)


def test_inconsistent_plan_dict_is_refused() -> None:
    d = _mixed_plan(0.0).to_dict()
    d["order"] = d["order"][::-1].copy()
    with pytest.raises(ValueError, match="topological"):
        ForecastPlan.from_dict(d)


@pytest.mark.parametrize(("change", "match"), [
    ({"risk_ptr": np.array([0, 2_000_000_000, 3])}, "risk_ptr"),
    ({"risk_ptr": np.array([-1_000_000_000, 2, 3])}, "risk_ptr"),
    ({"risk_ptr": np.array([0, 50_000, 3])}, "risk_ptr"),
    ({"kind": np.full(25, 257)}, "range of int8"),
    ({"sensitivity_trials": 2**64 - 1}, "sensitivity_trials"),
])
def test_plans_the_kernel_would_read_out_of_bounds_are_refused(change: dict, match: str) -> None:
    """CSR indexes that do not start at 0 or fall back (the kernel indexed risk_tasks with
    them, out of bounds), task kinds an int8 would wrap, and counts past int64."""
    d = {**_mixed_plan(0.0).to_dict(), **change}
    with pytest.raises(ValueError, match=match):
        ForecastPlan.from_dict(d)


def test_trial_ranges_past_int64_are_refused() -> None:
    with pytest.raises(ValueError, match="start"):
        simulate_part(_mixed_plan(0.0), 2**64 - 1, 10, 1)
