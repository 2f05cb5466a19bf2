"""The node's warm-up compiles every kernel the request path and the background refit use."""

from __future__ import annotations

import subprocess
import sys

_PROBE = """
from node.warmup import warm_up
from kernels import evidence, refit
warm_up(200)
print(len(evidence.gram_statistics.signatures), len(refit.merge_heads.signatures))
"""


def test_warm_up_compiles_the_refit_kernels():
    # In a fresh interpreter: nothing else has compiled them there. A refit compiling them
    # in its worker thread would hold the GIL, and the node's event loop, for seconds.
    out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True,
                         timeout=300, check=True)
    gram, merge = (int(x) for x in out.stdout.split())
    assert gram >= 1 and merge >= 1
