"""The capacity answer: how many servers of the measured kind a target load needs.

Model: a server runs one node process per core. When a measured node count already sustains
the target, the answer is that count (measured). Otherwise the per-node capacity at the
largest node count measured (which includes whatever scaling loss was seen) is extended
linearly, and the answer is marked as extrapolated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class CapacityAnswer:
    """N servers (and node processes) for ``target_rate`` at p99 under ``p99_ms``."""

    target_rate: float
    p99_ms: float
    cores_per_server: int
    nodes: int
    servers: int
    per_node_rate: float
    extrapolated: bool
    basis: str

    def sentence(self, unit: str = "req/s") -> str:
        """The answer in one sentence."""
        plural = "server" if self.servers == 1 else "servers"
        text = (f"For {self.target_rate:,.0f} {unit} at p99 under {self.p99_ms:g} ms you need "
                f"{self.servers} {plural} of this kind ({self.cores_per_server} cores, "
                f"{self.nodes} node process{'es' if self.nodes != 1 else ''} in all).")
        if self.extrapolated:
            text += (f" This is extrapolated beyond what was measured: {self.basis}.")
        else:
            text += f" Measured: {self.basis}."
        return text


def capacity_for(target_rate: float, p99_ms: float, sustainable: dict[int, float],
                 cores_per_server: int) -> CapacityAnswer | None:
    """Answer for ``target_rate`` from sustainable throughput per node count; None when no
    node count sustained anything."""
    measured = {n: r for n, r in sustainable.items() if r > 0}
    if not measured or target_rate <= 0 or cores_per_server < 1:
        return None
    enough = [n for n in sorted(measured) if measured[n] >= target_rate]
    if enough:
        n = enough[0]
        return CapacityAnswer(
            target_rate, p99_ms, cores_per_server, n, math.ceil(n / cores_per_server),
            measured[n] / n, False, f"{n} node(s) sustained {measured[n]:,.0f}/s")
    top = max(measured)
    per_node = measured[top] / top
    nodes = math.ceil(target_rate / per_node)
    basis = (f"{per_node:,.0f}/s per node, from {measured[top]:,.0f}/s sustained with {top} "
             f"node(s), extended linearly to {nodes} nodes")
    return CapacityAnswer(target_rate, p99_ms, cores_per_server, nodes,
                          math.ceil(nodes / cores_per_server), per_node, True, basis)
