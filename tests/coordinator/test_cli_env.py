"""The service processes run numpy's BLAS, and a node Numba, on one thread unless the operator
says otherwise."""

from __future__ import annotations

import os
import subprocess
import sys

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


def test_a_node_process_runs_numba_on_one_thread_unless_told_otherwise() -> None:
    # A stand-in for the node's main, to see what Numba sees in a node process.
    probe = ("import sys, types; from coordinator import cli; "
             "sys.modules['node.main'] = types.SimpleNamespace(main=lambda argv: "
             "print(__import__('numba').get_num_threads()) or 0); cli._node([])")
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_NUM_THREADS"}
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         env=env, timeout=120, check=True)
    assert run.stdout.strip() == "1"
    if (os.cpu_count() or 1) >= 2:
        run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                             env={**env, "NUMBA_NUM_THREADS": "2"}, timeout=120, check=True)
        assert run.stdout.strip() == "2"
