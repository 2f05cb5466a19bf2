"""The running median against numpy as values come and go."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kernels.running_median import RunningMedian


def test_matches_numpy_as_values_are_added_and_removed():
    rng = np.random.default_rng(7)
    held: list[float] = []
    rm = RunningMedian()
    assert math.isnan(rm.median())
    for step in range(400):
        if held and rng.random() < 0.3:
            value = held.pop(int(rng.integers(len(held))))
            rm.remove(value)
        else:
            value = float(rng.choice([rng.normal(), 1.0]))  # ties too
            held.append(value)
            rm.add(value)
        assert len(rm) == len(held)
        if held:
            assert rm.median() == pytest.approx(float(np.median(held)), abs=1e-12), step


def test_removing_a_value_not_held_raises():
    rm = RunningMedian(np.array([1.0, 2.0]))
    with pytest.raises(ValueError):
        rm.remove(3.0)
