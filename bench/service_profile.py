"""Where a request's time goes: CPU seconds per request of each process, and py-spy
samples of each process sorted into the layers of the stack.

Used by ``python -m bench.http_load --profile DIR``: while a measurement runs, every
process of the cluster (coordinator, nodes) is sampled with ``py-spy record`` (``pip install
py-spy``; found on PATH or beside the running Python), and its CPU time is read from
``/proc`` before and after.
Each sample is charged to the innermost frame that belongs to a known layer (the HTTP
server, the web framework, reckon's endpoint code, actor messaging, the estimation
kernels, the async runtime, the database client). Samples without Python frames (nng's
I/O threads, mostly waiting) cannot be told busy from idle, so they are left out of the
shares.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

#: Layers, tried in order on each frame from the innermost outwards: (name, path markers).
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("estimation kernels", ("kernels/", "numpy/", "numba/", "scipy/", "hnswlib")),
    ("actor messaging (nng, msgpack, HMAC)", ("actors/", "pynng/", "msgpack/", "hmac.py")),
    ("HTTP server (Hypercorn, h11)", ("hypercorn/", "h11/")),
    ("web framework (Starlette)", ("starlette/",)),
    ("PostgreSQL client (asyncpg)", ("asyncpg/",)),
    ("reckon coordinator code", ("coordinator/",)),
    ("reckon node code", ("node/",)),
    ("async runtime (asyncio, uvloop, anyio, trio)",
     ("asyncio/", "uvloop", "anyio/", "trio/", "selectors.py", "contextlib.py",
      "runners.py")),
]
OTHER = "other Python (stdlib, json, uuid, logging)"
NATIVE = "native threads (no Python frame)"


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def layer_of(frames: list[str]) -> str:
    """The layer a sample is charged to; ``frames`` run from the outermost to the innermost."""
    if not frames:
        return NATIVE
    for frame in reversed(frames):
        for name, markers in LAYERS:
            if any(m in frame for m in markers):
                return name
    return OTHER


def layer_shares(raw_lines: Iterable[str]) -> Counter[str]:
    """Samples per layer from py-spy's ``--format raw`` output (``a;b;c COUNT`` lines)."""
    counts: Counter[str] = Counter()
    for line in raw_lines:
        stack, _, n = line.rstrip("\n").rpartition(" ")
        if not n.isdigit():
            continue
        frames = [f for f in stack.split(";") if f.strip()]
        # py-spy puts the thread name first when it knows it ("thread (0x..)" / "process ...").
        frames = [f for f in frames if not f.startswith(("process ", "thread "))]
        counts[layer_of(frames)] += int(n)
    return counts


@dataclass
class ProcessProfile:
    """One process's share of a measurement."""

    label: str
    pid: int
    cpu_before: float = 0.0
    cpu_after: float = 0.0
    raw_path: Path | None = None
    recorder: subprocess.Popen[bytes] | None = None

    @property
    def cpu(self) -> float:
        """CPU seconds used during the measurement."""
        return self.cpu_after - self.cpu_before

    def layers(self) -> Counter[str]:
        """Samples per layer (empty if py-spy recorded nothing)."""
        if self.raw_path is None or not self.raw_path.exists():
            return Counter()
        with self.raw_path.open() as f:
            return layer_shares(f)


def py_spy() -> str:
    """The py-spy executable; raises RuntimeError with the fix when it is missing."""
    found = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if found is None:
        raise RuntimeError("py-spy is not installed: pip install py-spy")
    return found


class ServiceProfiler:
    """Samples a set of processes while a measurement runs (a context manager)."""

    def __init__(self, processes: dict[str, int], out_dir: Path, seconds: float,
                 rate: int = 250) -> None:
        self.executable = py_spy()
        self.out_dir = out_dir
        self.seconds = seconds
        self.rate = rate
        self.profiles = [ProcessProfile(label, pid) for label, pid in processes.items()]

    def __enter__(self) -> ServiceProfiler:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for p in self.profiles:
            p.raw_path = self.out_dir / f"{p.label}.txt"
            p.recorder = subprocess.Popen(
                [self.executable, "record", "--pid", str(p.pid), "--duration",
                 str(max(1, int(self.seconds))), "--rate", str(self.rate), "--format", "raw",
                 "--output", str(p.raw_path), "--nonblocking"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            p.cpu_before = cpu_seconds(p.pid)
        return self

    def __exit__(self, *exc: object) -> None:
        for p in self.profiles:
            p.cpu_after = cpu_seconds(p.pid)
        for p in self.profiles:
            if p.recorder is not None:
                try:
                    p.recorder.wait(timeout=self.seconds + 30)
                except subprocess.TimeoutExpired:
                    p.recorder.kill()
                    p.recorder.wait()

    def report(self, requests: int) -> str:
        """A markdown table: CPU per request of each process and where its samples went."""
        lines = [
            "| process | CPU ms per request | layer | share of its samples |",
            "|---|---|---|---|",
        ]
        for p in self.profiles:
            per_request = 1000.0 * p.cpu / requests if requests else float("nan")
            counts = p.layers()
            counts.pop(NATIVE, None)
            total = sum(counts.values())
            if not total:
                lines.append(f"| {p.label} | {per_request:.3f} | (no samples) | |")
                continue
            first = True
            for layer, n in counts.most_common():
                head = f"{p.label} | {per_request:.3f}" if first else " | "
                lines.append(f"| {head} | {layer} | {100.0 * n / total:.1f}% |")
                first = False
        return "\n".join(lines)
