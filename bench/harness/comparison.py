"""Systems side by side, with no I/O: each system's sustainable throughput under each
objective, its p99 there, its lowest p99 anywhere, and the throughput ratio of the baseline
(reckon) to it.

The objectives are evaluated from the same measured steps: a sweep run until a loose
objective breaks also answers for a stricter one (:func:`~bench.harness.sweep.sustainable_under`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.harness.sweep import Objective, sustainable_under

if TYPE_CHECKING:
    from bench.harness.report import SweepRecord


@dataclass(frozen=True)
class Standing:
    """One system under one objective."""

    label: str
    system: str | None
    p99_objective_ms: float
    rate: float  # achieved ops/s at the sustainable step; 0 when no step met the objective
    p99_ms: float | None  # at that step
    ratio: float | None  # baseline rate / this rate; None without a baseline or when 0
    at_least: bool = False  # the last step passed: the capacity is at least ``rate``

    @property
    def shown_rate(self) -> str:
        """The rate for a table, with ``≥`` when it is a lower bound."""
        return ("≥" if self.at_least else "") + f"{self.rate:,.0f}"


@dataclass(frozen=True)
class Lowest:
    """A system's lowest p99 over all its steps, and where it was measured."""

    label: str
    p99_ms: float
    offered: float
    achieved: float


@dataclass(frozen=True)
class Comparison:
    """Every system under every objective, in the order measured."""

    baseline: str | None
    objectives: list[float]
    standings: list[Standing]
    lowest: list[Lowest]

    def under(self, p99_ms: float) -> list[Standing]:
        """The standings under the objective ``p99_ms``."""
        return [s for s in self.standings if s.p99_objective_ms == p99_ms]

    def sentence(self, p99_ms: float) -> str:
        """The comparison under one objective in one sentence."""
        rows = self.under(p99_ms)
        base = next((s for s in rows if s.label == self.baseline), None)
        parts = []
        for s in rows:
            if s.rate <= 0:
                parts.append(f"{s.label}: no step met it")
            elif s is base or s.ratio is None:
                parts.append(f"{s.label}: {s.shown_rate} ops/s")
            else:
                parts.append(f"{s.label}: {s.shown_rate} ops/s ({self.baseline} sustains "
                             f"{ratio_text(s, base)} that)")
        return f"At p99 ≤ {p99_ms:g} ms, sustainable throughput — " + "; ".join(parts) + "."


def ratio_text(s: Standing, base: Standing | None) -> str:
    """``s.ratio`` for text: ``≤`` when only this system's rate is a lower bound, ``≥`` when
    only the baseline's is, nothing to add when both or neither are."""
    mark = "" if base is None or s.at_least == base.at_least else \
        "≤" if s.at_least else "≥"
    return f"{mark}{s.ratio:.1f}x"


def compare_systems(records: list[SweepRecord], objectives: list[Objective],
                    baseline_system: str = "reckon") -> Comparison:
    """Standings of each record under each objective, with ratios against the record whose
    ``system`` is ``baseline_system`` (none when it was not measured)."""
    base = next((r for r in records if r.system == baseline_system), None)
    standings = []
    for objective in objectives:
        base_step = sustainable_under(base.result.steps, objective) if base else None
        base_rate = base_step.achieved if base_step is not None else 0.0
        for r in records:
            step = sustainable_under(r.result.steps, objective)
            rate = step.achieved if step is not None else 0.0
            ratio = base_rate / rate if base is not None and rate > 0 and base_rate > 0 \
                else None
            standings.append(Standing(r.label, r.system, objective.p99_ms, rate,
                                      step.p99_ms if step is not None else None, ratio,
                                      step is not None and step is r.result.steps[-1]))
    lowest = []
    for r in records:
        if r.result.steps:
            s = min(r.result.steps, key=lambda x: x.p99_ms)
            lowest.append(Lowest(r.label, s.p99_ms, s.offered, s.achieved))
    return Comparison(base.label if base else None, [o.p99_ms for o in objectives],
                      standings, lowest)
