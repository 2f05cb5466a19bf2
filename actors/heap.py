"""The garbage collector in long-running service processes."""

from __future__ import annotations

import gc


def freeze_startup_objects() -> int:
    """Move every object allocated so far into the collector's permanent generation.

    Call it once start-up is done (modules imported, kernels compiled, configuration read).
    A process with numpy, scipy and Numba loaded holds over 100,000 container objects from
    its imports alone, and a full collection walks them all: about 100 ms, a latency spike
    for every request in flight. Frozen, they are never walked again; full collections
    then see only what the service allocates while it runs. Returns how many objects were
    frozen.
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
