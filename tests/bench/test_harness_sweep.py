"""Sweep logic on synthetic measurements, and the capacity answer."""

from __future__ import annotations

import pytest

from bench.harness.capacity import capacity_for
from bench.harness.sweep import (
    Objective,
    Step,
    rate_steps,
    rate_sweep,
    scaling_efficiency,
    sustainable_under,
    verdict,
)


def synthetic(capacity: float, failures_above: float = 1e9):
    """A server whose p99 grows sharply as the offered rate nears ``capacity``."""

    def measure(rate: float) -> Step:
        util = min(rate / capacity, 0.999)
        p99 = 2.0 / (1.0 - util)
        achieved = min(rate, capacity)
        failures = 5 if rate > failures_above else 0
        return Step(rate, achieved, achieved, p99 / 3, p99 / 2, p99, p99 * 1.5, p99 * 2,
                    int(rate * 5), failures)

    return measure


def test_rate_steps_add_or_multiply_and_are_bounded() -> None:
    assert list(rate_steps(200, step=200, max_steps=4)) == [200, 400, 600, 800]
    assert list(rate_steps(100, factor=2, max_rate=500)) == [100, 200, 400]
    with pytest.raises(ValueError):
        list(rate_steps(100, step=10, factor=2))
    with pytest.raises(ValueError):
        list(rate_steps(100, factor=1.0))


def test_sweep_finds_the_break_point() -> None:
    # p99 = 2 / (1 - r/1001) ms: within 10 ms while r <= 800.
    result = rate_sweep(synthetic(1001), rate_steps(200, step=200), Objective(10.0))
    assert [s.offered for s in result.steps] == [200, 400, 600, 800, 1000]
    assert result.sustainable is not None and result.sustainable.offered == 800
    assert result.sustainable_rate == 800
    assert result.broken_by is not None and "p99" in result.broken_by


def test_sweep_stops_on_failures_and_on_falling_behind() -> None:
    r = rate_sweep(synthetic(1e6, failures_above=500), rate_steps(200, step=200),
                   Objective(10.0))
    assert r.sustainable_rate == 400 and "failed" in (r.broken_by or "")
    behind = Step(1000, 800, 800, 1, 1, 1, 1, 1, 5000, 0)
    assert "achieved" in (verdict(behind, Objective(10.0)) or "")


def test_sweep_that_never_breaks_and_one_that_breaks_at_once() -> None:
    never = rate_sweep(synthetic(1e6), rate_steps(100, step=100, max_steps=3), Objective(10))
    assert never.broken_by is None and never.sustainable_rate == 300
    at_once = rate_sweep(synthetic(50), rate_steps(100, step=100), Objective(10))
    assert at_once.sustainable is None and at_once.sustainable_rate == 0 and len(at_once.steps) == 1


def test_scaling_efficiency() -> None:
    eff = scaling_efficiency({1: 1000.0, 2: 1800.0, 4: 3000.0})
    assert eff == pytest.approx({1: 1.0, 2: 0.9, 4: 0.75})
    assert scaling_efficiency({2: 100.0}) == {}


def test_capacity_measured_and_extrapolated() -> None:
    measured = capacity_for(1500, 10, {1: 1000.0, 2: 1800.0}, cores_per_server=2)
    assert measured is not None and not measured.extrapolated
    assert (measured.nodes, measured.servers) == (2, 1)
    far = capacity_for(9000, 10, {1: 1000.0, 2: 1800.0}, cores_per_server=2)
    assert far is not None and far.extrapolated
    assert far.per_node_rate == 900 and (far.nodes, far.servers) == (10, 5)
    assert "extrapolated" in far.sentence() and "5 servers" in far.sentence()
    assert capacity_for(100, 10, {1: 0.0}, 2) is None


def test_confirm_re_measures_a_break_before_stopping() -> None:
    objective = Objective(10.0)
    calls: list[float] = []
    spikes = {400: 1, 600: 9}  # tries at this rate that spike before a clean one

    def noisy(rate: float) -> Step:
        calls.append(rate)
        spiky = calls.count(rate) <= spikes.get(int(rate), 0)
        p99 = 50.0 if spiky else 2.0
        return Step(rate, rate, rate, 1, 1, p99, p99, p99, 100, 0)

    plain = rate_sweep(noisy, rate_steps(200, step=200, max_steps=4), objective)
    assert [s.offered for s in plain.steps] == [200, 400] and plain.sustainable_rate == 200
    calls.clear()
    confirmed = rate_sweep(noisy, rate_steps(200, step=200, max_steps=4), objective, confirm=2)
    assert calls == [200, 400, 400, 600, 600, 600]
    assert [(s.offered, s.tries) for s in confirmed.steps] == [(200, 1), (400, 2), (600, 3)]
    assert confirmed.sustainable_rate == 400 and "(3 tries)" in (confirmed.broken_by or "")


def test_refine_bisects_between_the_last_good_rate_and_the_break() -> None:
    objective = Objective(10.0)
    measure = synthetic(1001)  # p99 within 10 ms while the offered rate is <= 800.8/s
    coarse = rate_sweep(measure, rate_steps(200, step=400), objective)
    assert [s.offered for s in coarse.steps] == [200, 600, 1000]
    assert coarse.sustainable_rate == 600
    fine = rate_sweep(measure, rate_steps(200, step=400), objective, refine=4)
    offered = [s.offered for s in fine.steps]
    assert offered == sorted(offered) and offered[:2] == [200, 600] and offered[-1] == 1000
    assert offered[2:-1] == [800, 825, 850, 900]  # 800 passes, then 900, 850, 825 break
    assert fine.sustainable_rate == 800
    assert fine.broken_by is not None and fine.broken_by.startswith("at 1000/s")
    # The steps' leading run agrees with the refined answer (what --also-p99 reads).
    assert sustainable_under(fine.steps, objective) is fine.sustainable
    # No refinement without a sustainable step, or without time left.
    assert rate_sweep(measure, rate_steps(1200, step=400), objective, refine=4).steps[0] \
        .offered == 1200
    calls: list[float] = []

    def counting(rate: float) -> Step:
        calls.append(rate)
        return measure(rate)

    rate_sweep(counting, rate_steps(200, step=400), objective, refine=4,
               more_time=lambda: False)
    assert calls == [200, 600, 1000]


def test_capacity_from_runs_that_never_broke_is_only_an_upper_bound() -> None:
    # A single 10/s step that passed: the capacity is at least 10/s, not 10/s.
    bound = capacity_for(100, 10, {1: 10.0}, cores_per_server=2, not_reached={1})
    assert bound is not None and bound.at_most and (bound.nodes, bound.servers) == (10, 5)
    text = bound.sentence()
    assert "Upper bound only" in text and "capacity was not reached" in text
    assert "at least 10/s per node" in text and "No exact server count" in text
    assert "at most 5 servers" in text and "you need 5 servers" not in text
    # The same numbers from a sweep that broke are the answer.
    answer = capacity_for(100, 10, {1: 10.0}, cores_per_server=2)
    assert answer is not None and not answer.at_most
    assert "you need 5 servers" in answer.sentence()
    # A count that sustained the target is measured, but a smaller one that never broke
    # might do too.
    maybe = capacity_for(900, 10, {1: 800.0, 2: 1500.0}, 1, not_reached={1})
    assert maybe is not None and maybe.at_most and maybe.nodes == 2
    assert "at most 2 servers" in maybe.sentence() and "fewer may do" in maybe.sentence()
    sure = capacity_for(900, 10, {1: 800.0, 2: 1500.0}, 1, not_reached={2})
    assert sure is not None and not sure.at_most


def test_capacity_unit_and_unknown_server_cores() -> None:
    batches = capacity_for(100, 10, {1: 50.0}, 4, unit="batches/s")
    assert batches is not None and "100 batches/s" in batches.sentence()
    assert "req/s" not in batches.sentence()
    remote = capacity_for(100, 10, {3: 60.0}, cores_per_server=None)
    assert remote is not None and remote.servers is None and remote.nodes == 5
    text = remote.sentence()
    assert "5 node processes" in text and "--cores-per-server" in text
    assert "servers of this kind" not in text


def test_a_sweep_says_whether_it_reached_capacity() -> None:
    objective = Objective(10.0)
    broke = rate_sweep(synthetic(1001), rate_steps(200, step=200), objective)
    never = rate_sweep(synthetic(1e6), rate_steps(100, step=100, max_steps=3), objective)
    assert broke.capacity_reached and not never.capacity_reached
    failing = Step(100, 0, 0, 1, 1, 1, 1, 1, 50, 50, failure_kinds={"HTTP 401": 48,
                                                                      "timeout": 2})
    assert verdict(failing, objective) == "50 of 50 operations failed (HTTP 401: 48, timeout: 2)"
