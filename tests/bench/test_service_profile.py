"""The service profiler: charging py-spy samples to layers, and a real recording of a busy
process (py-spy attached to a child, CPU time from /proc)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.service_profile import (
    NATIVE,
    OTHER,
    ServiceProfiler,
    cpu_seconds,
    layer_of,
    layer_shares,
    py_spy,
)


def test_samples_go_to_the_innermost_known_layer():
    assert layer_of(["main (coordinator/main.py:83)", "Runner.run (asyncio/runners.py:118)",
                     "H11Protocol.handle (hypercorn/protocol/h11.py:116)",
                     "create_estimate (coordinator/api/estimates.py:75)",
                     "Router.read (coordinator/router.py:131)",
                     "Socket.send (pynng/nng.py:492)"]) == "actor messaging (nng, msgpack, HMAC)"
    assert layer_of(["main (coordinator/main.py:83)",
                     "H11Protocol.handle (hypercorn/protocol/h11.py:116)",
                     "create_estimate (coordinator/api/estimates.py:75)",
                     "uuid4 (uuid.py:723)"]) == "reckon coordinator code"
    assert layer_of(["TenantEstimator._estimate (node/tenant_estimator.py:114)",
                     "predict (kernels/blr.py:299)", "_wrapreduction (numpy/_core/x.py:83)"]
                    ) == "estimation kernels"
    assert layer_of(["<module> (x.py:1)", "uuid4 (uuid.py:723)"]) == OTHER
    assert layer_of([]) == NATIVE


def test_raw_lines_are_counted_by_layer():
    raw = [
        "main (coordinator/main.py:83);Socket.send (pynng/nng.py:492) 7\n",
        "main (coordinator/main.py:83);H11Protocol.handle (hypercorn/protocol/h11.py:116) 3\n",
        "thread (0x7f);main (coordinator/main.py:83) 2\n",
        " 5\n",
        "garbage\n",
    ]
    counts = layer_shares(raw)
    assert counts == {"actor messaging (nng, msgpack, HMAC)": 7,
                      "HTTP server (Hypercorn, h11)": 3, "reckon coordinator code": 2,
                      NATIVE: 5}


BUSY = """
import time
def spin_in_kernels():
    end = time.time() + 8
    x = 0
    while time.time() < end:
        x += 1
spin_in_kernels()
"""


def test_records_a_busy_process_cpu_and_samples(tmp_path: Path):
    try:
        py_spy()
    except RuntimeError:
        pytest.skip("py-spy is not installed")
    child = subprocess.Popen([sys.executable, "-c", BUSY])
    try:
        time.sleep(0.3)
        before = cpu_seconds(child.pid)
        with ServiceProfiler({"busy": child.pid}, tmp_path, seconds=2) as profiler:
            time.sleep(2)
        [profile] = profiler.profiles
        assert profile.cpu > 0.5 and profile.cpu_before >= before
        layers = profile.layers()
        if not layers:
            pytest.skip("py-spy may not attach here (ptrace restricted)")
        assert layers.most_common(1)[0][0] == OTHER  # the <string> frames are no known layer
        table = profiler.report(requests=1000)
        assert "| busy |" in table and "% |" in table
    finally:
        child.kill()
        child.wait()
