"""A description of the machine a benchmark ran on, for the report."""

from __future__ import annotations

import importlib.metadata
import os
import platform
from dataclasses import dataclass
from pathlib import Path

PACKAGES = ("reckon", "hypercorn", "starlette", "pynng", "numba", "numpy")
PEER_PACKAGES = ("fastapi", "uvicorn", "ray")


@dataclass(frozen=True)
class Machine:
    """Cores, CPU model, memory, Python and package versions."""

    cores: int
    cpu_model: str
    memory_gib: float
    python: str
    system: str
    packages: dict[str, str]
    load_average: tuple[float, float, float] = (0.0, 0.0, 0.0)  # 1, 5, 15 min, when described


def _cpu_model(cpuinfo: Path) -> str:
    try:
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib(meminfo: Path) -> float:
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0.0


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def describe_machine(proc: Path = Path("/proc"), peers: bool = False) -> Machine:
    """The machine this process runs on (the usable cores, as the scheduler allows); with
    ``peers``, the versions of the peers' packages too."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return Machine(
        cores=cores, cpu_model=_cpu_model(proc / "cpuinfo"),
        memory_gib=_memory_gib(proc / "meminfo"),
        python=f"{platform.python_implementation()} {platform.python_version()}",
        system=f"{platform.system()} {platform.release()} {platform.machine()}",
        packages={p: _version(p) for p in PACKAGES + (PEER_PACKAGES if peers else ())},
        load_average=_load_average(),
    )


def _load_average() -> tuple[float, float, float]:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return (0.0, 0.0, 0.0)
    return (one, five, fifteen)
