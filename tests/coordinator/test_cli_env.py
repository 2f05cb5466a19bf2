"""The service processes run numpy's BLAS on one thread unless the operator says otherwise."""

from __future__ import annotations

import os

import pytest

from coordinator.cli import one_blas_thread


def test_one_blas_thread_is_the_default_and_the_environment_wins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    monkeypatch.setenv("MKL_NUM_THREADS", "4")
    one_blas_thread()
    assert os.environ["OPENBLAS_NUM_THREADS"] == "1"
    assert os.environ["MKL_NUM_THREADS"] == "4"
