"""Peers for ``reckon bench --peer`` and ``--compare``: the same estimator served by other
architectures, so the harness can measure them side by side with reckon.

- :mod:`~bench.peers.service` — the estimate endpoints both peers share: the same
  :class:`kernels.Estimator`, trained on the same history as a benchmark cluster, the same
  request validation and response shape as reckon's coordinator;
- :mod:`~bench.peers.fastapi_monolith` — a FastAPI app on Uvicorn computing in-process;
- :mod:`~bench.peers.ray_serve` — a Ray Serve deployment behind Serve's HTTP proxy (needs the
  ``peers`` extra).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import time
from dataclasses import dataclass

INSTALL_HINT = "install the peers extra: pip install '.[peers]'"


@dataclass(frozen=True)
class PeerSpec:
    """How the harness starts one peer: ``python -m module --port P`` plus the flag that sets
    its number of worker processes (Uvicorn workers, Serve replicas)."""

    name: str
    label: str
    module: str
    requires: tuple[str, ...]
    workers_flag: str
    workers_noun: str
    setup: str
    start_timeout: float
    scratch_flag: str | None = None  # takes a directory for its files, removed after it stops

    def argv(self, python: str, port: int, workers: int, scratch: str | None = None
             ) -> list[str]:
        """The command line that serves this peer on 127.0.0.1:``port``."""
        argv = [python, "-m", self.module, "--port", str(port), self.workers_flag, str(workers)]
        if self.scratch_flag and scratch:
            argv += [self.scratch_flag, scratch]
        return argv

    def describe(self, workers: int) -> str:
        """One line for reports."""
        return f"{self.label} ({self.setup}; {self.workers_noun}: {workers}), on loopback"

    def missing(self) -> list[str]:
        """The packages this peer needs that are not installed."""
        return [m for m in self.requires if importlib.util.find_spec(m) is None]


PEERS: dict[str, PeerSpec] = {
    "fastapi": PeerSpec("fastapi", "FastAPI + Uvicorn", "bench.peers.fastapi_monolith",
                        ("fastapi", "uvicorn"), "--workers", "Uvicorn workers",
                        "the estimator in each worker process, async endpoints", 60.0),
    "ray": PeerSpec("ray", "Ray Serve", "bench.peers.ray_serve", ("ray", "fastapi"),
                    "--replicas", "Serve replicas",
                    "local Ray bounded to 2 CPUs, HTTP through Serve's proxy to the replicas, "
                    "the estimator in each replica", 180.0, "--temp-dir"),
}


def remove_dir(path: str, attempts: int = 20, pause: float = 0.25) -> None:
    """Remove a directory tree; exiting processes may still write there for a moment, so
    try up to ``attempts`` times."""
    for _ in range(attempts):
        shutil.rmtree(path, ignore_errors=True)
        if not os.path.exists(path):
            return
        time.sleep(pause)
