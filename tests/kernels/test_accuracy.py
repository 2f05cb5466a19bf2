"""Sanity accuracy on public story-point data (chronological 80/20 split)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from kernels import Estimator

DATA = Path("/work/shared/datasets/storypoints/MESOS.csv")


@pytest.mark.skipif(not DATA.exists(), reason="public datasets not available")
def test_mesos_beats_median_baseline_with_calibrated_intervals() -> None:
    with DATA.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    efforts = np.array([float(r["storypoint"]) for r in rows])
    cut = int(0.8 * len(rows))
    train, test = rows[:cut], rows[cut:]
    est = Estimator()
    est.learn_many(
        [r["issuekey"] for r in train], [r["title"] for r in train],
        [r["description"] for r in train], [{} for _ in train], efforts[:cut],
    )  # fmt: skip
    preds = est.predict_many(
        [r["title"] for r in test], [r["description"] for r in test], [{} for _ in test],
        np.array([0.1, 0.5, 0.9]),
    )  # fmt: skip
    actual = efforts[cut:]
    median = np.array([p.median for p in preds])
    q = np.array([p.quantiles for p in preds])
    mae = np.mean(np.abs(median - actual))
    baseline = np.mean(np.abs(np.median(efforts[:cut]) - actual))
    coverage = np.mean((q[:, 0] <= actual) & (actual <= q[:, 2]))
    assert mae <= 1.05 * baseline, (mae, baseline)
    assert 0.6 <= coverage <= 0.95, coverage
