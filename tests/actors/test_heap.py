"""Freezing the start-up heap: a full collection then sees only what came after."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import gc
import scipy.stats  # a typical service import: tens of thousands of objects
from actors.heap import YOUNG_THRESHOLD, freeze_startup_objects
frozen = freeze_startup_objects()
assert gc.get_threshold()[0] == YOUNG_THRESHOLD > 700
assert frozen == gc.get_freeze_count() > 10_000, frozen
assert len(gc.get_objects(generation=2)) < 1_000, len(gc.get_objects(generation=2))
garbage = [[i] for i in range(1000)]  # new objects are collected as before
del garbage
assert gc.collect() >= 0
print("ok", frozen)
"""


def test_start_up_objects_leave_the_collected_generations():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ok ")
