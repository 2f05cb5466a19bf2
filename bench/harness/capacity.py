"""The capacity answer: how many servers of the measured kind a target load needs.

Model: a server runs one node process per core. When a measured node count already sustains
the target, the answer is that count (measured). Otherwise the per-node capacity at the
largest node count measured (which includes whatever scaling loss was seen) is extended
linearly, and the answer is marked as extrapolated.

A sweep whose objective never broke did not reach the capacity: what it sustained is a lower
bound on the capacity, so a node count derived from it is only an upper bound on what the
target needs (``at_most``), and the answer says so rather than giving it as the count.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass


@dataclass(frozen=True)
class CapacityAnswer:
    """N servers (and node processes) for ``target_rate`` at p99 under ``p99_ms``.

    ``servers`` and ``cores_per_server`` are None when the servers' cores are unknown (a
    cluster named by URL): the answer then counts node processes only. With ``at_most`` the
    counts are upper bounds, not the answer (the capacity was not reached).
    """

    target_rate: float
    p99_ms: float
    cores_per_server: int | None
    nodes: int
    servers: int | None
    per_node_rate: float
    extrapolated: bool
    basis: str
    at_most: bool = False
    unit: str = "operations/s"

    def _need(self) -> str:
        procs = f"{self.nodes} node process{'es' if self.nodes != 1 else ''}"
        if self.servers is None:
            return (f"{procs} (no server count: give --cores-per-server with the cores of "
                    "the cluster's servers; this machine only ran the load generator)")
        plural = "server" if self.servers == 1 else "servers"
        return (f"{self.servers} {plural} of this kind ({self.cores_per_server} cores, "
                f"{procs} in all)")

    def sentence(self, unit: str | None = None) -> str:
        """The answer in one sentence (two when it is only a bound)."""
        unit = unit or self.unit
        goal = f"{self.target_rate:,.0f} {unit} at p99 under {self.p99_ms:g} ms"
        if self.at_most:
            return (f"Upper bound only, capacity was not reached: {self.basis}. No exact "
                    f"server count can be derived from this run: for {goal} you need at most "
                    f"{self._need()}; sweep to higher rates until the objective breaks for "
                    "the answer.")
        text = f"For {goal} you need {self._need()}."
        if self.extrapolated:
            text += f" This is extrapolated beyond what was measured: {self.basis}."
        else:
            text += f" Measured: {self.basis}."
        return text


def capacity_for(target_rate: float, p99_ms: float, sustainable: dict[int, float],
                 cores_per_server: int | None, not_reached: Collection[int] = (),
                 unit: str = "operations/s") -> CapacityAnswer | None:
    """Answer for ``target_rate`` from sustainable throughput per node count; None when no
    node count sustained anything. ``not_reached`` names the node counts whose sweep never
    broke the objective (their throughput is a lower bound); ``cores_per_server`` None gives
    node processes without a server count."""
    measured = {n: r for n, r in sustainable.items() if r > 0}
    if not measured or target_rate <= 0 or (cores_per_server is not None
                                            and cores_per_server < 1):
        return None

    def servers(nodes: int) -> int | None:
        return None if cores_per_server is None else math.ceil(nodes / cores_per_server)

    enough = [n for n in sorted(measured) if measured[n] >= target_rate]
    if enough:
        n = enough[0]
        basis = f"{n} node(s) sustained {measured[n]:,.0f}/s"
        # A smaller count that never broke the objective may sustain the target too.
        smaller = [m for m in measured if m < n and m in not_reached]
        if smaller:
            m = max(smaller)
            basis += (f", but with {m} node(s) the objective never broke (capacity at least "
                      f"{measured[m]:,.0f}/s): fewer may do")
        return CapacityAnswer(target_rate, p99_ms, cores_per_server, n, servers(n),
                              measured[n] / n, False, basis, bool(smaller), unit)
    top = max(measured)
    per_node = measured[top] / top
    nodes = math.ceil(target_rate / per_node)
    if top in not_reached:
        basis = (f"the objective never broke, so the capacity is at least {per_node:,.0f}/s "
                 f"per node ({measured[top]:,.0f}/s sustained with {top} node(s))")
    else:
        basis = (f"{per_node:,.0f}/s per node, from {measured[top]:,.0f}/s sustained with "
                 f"{top} node(s), extended linearly to {nodes} nodes")
    return CapacityAnswer(target_rate, p99_ms, cores_per_server, nodes, servers(nodes),
                          per_node, True, basis, top in not_reached, unit)
