"""Sweep logic with no I/O: step the offered rate until the objective breaks; scaling.

A step *passes* when its p99 is within the objective, its failures (errors, non-2xx,
timeouts, drops) are within ``max_failure_rate``, and the achieved throughput keeps up with
the offered rate (at least ``min_achieved`` of it). The sustainable throughput is the achieved
rate of the last passing step before the first failing one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class Objective:
    """What "sustainable" means."""

    p99_ms: float
    max_failure_rate: float = 0.001
    min_achieved: float = 0.95


@dataclass(frozen=True)
class KindLatency:
    """One operation kind's share of a step (mixed loads)."""

    ok: int
    failed: int
    p50_ms: float
    p99_ms: float


@dataclass(frozen=True)
class Step:
    """One measured step, reduced to what the sweep and the report need."""

    offered: float
    achieved: float
    units_rate: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    scheduled: int
    failures: int
    tries: int = 1  # measurements at this rate (more than 1 when a break was re-measured)
    by_kind: dict[str, KindLatency] = field(default_factory=dict)  # when more than one kind
    #: The failures by what went wrong: ``HTTP 401``, ``timeout``, ``error``, ``dropped``.
    failure_kinds: dict[str, int] = field(default_factory=dict)
    #: What the first failure of a kind answered (``HTTP 503``: its body's start).
    failure_examples: dict[str, str] = field(default_factory=dict)

    @property
    def failure_rate(self) -> float:
        """Failures over scheduled operations."""
        return self.failures / self.scheduled if self.scheduled else 0.0

    @property
    def failures_text(self) -> str:
        """The failures by kind in a few words, most frequent first, e.g.
        ``HTTP 401: 50, timeout: 2`` (empty when there were none or they are not known)."""
        kinds = sorted(self.failure_kinds.items(), key=lambda kv: (-kv[1], kv[0]))
        return ", ".join(f"{k}: {n}" for k, n in kinds if n)


def verdict(step: Step, objective: Objective) -> str | None:
    """Why ``step`` breaks ``objective``, or None when it passes."""
    if step.p99_ms > objective.p99_ms:
        return f"p99 {step.p99_ms:.2f} ms > {objective.p99_ms:g} ms"
    if step.failure_rate > objective.max_failure_rate:
        kinds = step.failures_text
        return f"{step.failures} of {step.scheduled} operations failed" + (
            f" ({kinds})" if kinds else "")
    if step.achieved < objective.min_achieved * step.offered:
        return (f"achieved {step.achieved:.0f}/s < {objective.min_achieved:.0%} of offered "
                f"{step.offered:.0f}/s")
    return None


def rate_steps(start: float, step: float | None = None, factor: float | None = None,
               max_rate: float = 1e6, max_steps: int = 20) -> Iterator[float]:
    """Offered rates: ``start``, then ``+step`` or ``*factor``; at most ``max_steps``, each at
    most ``max_rate``."""
    if start <= 0:
        raise ValueError("the start rate must be positive")
    if (step is None) == (factor is None):
        raise ValueError("give exactly one of step and factor")
    if step is not None and step <= 0:
        raise ValueError("the step must be positive")
    if factor is not None and factor <= 1:
        raise ValueError("the factor must be above 1")
    rate = start
    for _ in range(max_steps):
        if rate > max_rate:
            return
        yield rate
        rate = rate + step if step is not None else rate * (factor or 2.0)


@dataclass
class SweepResult:
    """Every step measured, the sustainable one and why the sweep stopped: ``broken_by``
    when a step broke the objective, ``cut_short`` when a bound (``--max-time``) stopped it
    first. Without ``broken_by`` the capacity was not reached: it is at least the last step.
    """

    steps: list[Step] = field(default_factory=list)
    sustainable: Step | None = None
    broken_by: str | None = None
    cut_short: str | None = None

    @property
    def sustainable_rate(self) -> float:
        """The achieved rate at the sustainable step (0 when even the first step broke)."""
        return self.sustainable.achieved if self.sustainable is not None else 0.0

    @property
    def capacity_reached(self) -> bool:
        """Whether a step broke the objective, so :attr:`sustainable_rate` is the capacity
        (else it is only a lower bound)."""
        return self.broken_by is not None


def rate_sweep(measure: Callable[[float], Step], rates: Iterator[float],
               objective: Objective, confirm: int = 0, refine: int = 0,
               more_time: Callable[[], bool] = lambda: True) -> SweepResult:
    """Measure each rate in turn until one breaks ``objective``; bounded by ``rates``.

    A step that breaks it is measured again up to ``confirm`` times (a machine shared with
    other work has latency spikes of its own); the sweep stops only when every try breaks
    it. The last try is the step recorded, with its number of tries. Then up to ``refine``
    more steps bisect the gap between the last sustainable rate and the breaking one (while
    ``more_time()`` allows), so the answer does not depend on how coarse the steps were;
    ``steps`` stay in order of offered rate.
    """
    result = SweepResult()
    for rate in rates:
        step, reason = _measure_confirmed(measure, rate, objective, confirm)
        result.steps.append(step)
        if reason is not None:
            result.broken_by = f"at {rate:.0f}/s offered: {reason}" + (
                f" ({step.tries} tries)" if step.tries > 1 else "")
            _bisect(measure, result, objective, confirm, refine, more_time)
            return result
        result.sustainable = step
    result.broken_by = None  # never broke: the capacity is at least the last step
    return result


def _measure_confirmed(measure: Callable[[float], Step], rate: float, objective: Objective,
                       confirm: int) -> tuple[Step, str | None]:
    step = measure(rate)
    reason = verdict(step, objective)
    tries = 1
    while reason is not None and tries <= confirm:
        step = measure(rate)
        reason = verdict(step, objective)
        tries += 1
    return replace(step, tries=tries), reason


def _bisect(measure: Callable[[float], Step], result: SweepResult, objective: Objective,
            confirm: int, refine: int, more_time: Callable[[], bool]) -> None:
    """Refine a broken sweep between its sustainable step and the step that broke."""
    if result.sustainable is None:
        return
    low, high = result.sustainable.offered, result.steps[-1].offered
    for _ in range(refine):
        rate = (low + high) / 2
        if high - low < max(1.0, 0.02 * low) or not more_time():
            return
        step, reason = _measure_confirmed(measure, rate, objective, confirm)
        result.steps.append(step)
        result.steps.sort(key=lambda s: s.offered)
        if reason is None:
            result.sustainable, low = step, rate
        else:
            high = rate


def sustainable_under(steps: list[Step], objective: Objective) -> Step | None:
    """The last step of the leading run of steps that pass ``objective`` (what a sweep
    stopping at ``objective`` would have called sustainable), or None."""
    best = None
    for step in steps:
        if verdict(step, objective) is not None:
            break
        best = step
    return best


def scaling_efficiency(throughput: dict[int, float]) -> dict[int, float]:
    """throughput(N) / (N * throughput(1)) per node count; needs a measurement at N = 1."""
    base = throughput.get(1, 0.0)
    if base <= 0:
        return {}
    return {n: t / (n * base) for n, t in sorted(throughput.items())}
