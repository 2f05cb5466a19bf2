"""Capacity planning for reckon: open-loop load, latency histograms, sweeps and a report.

``reckon bench`` (see :mod:`bench.harness.cli`) ties the pieces together:

- :mod:`~bench.harness.histogram` — an HDR-style log-linear latency histogram;
- :mod:`~bench.harness.openloop` — an open-loop load generator free of coordinated omission;
- :mod:`~bench.harness.scenarios` — what is sent (estimates, batches, actuals, forecasts, a mix);
- :mod:`~bench.harness.history` — the history every target is seeded with;
- :mod:`~bench.harness.targets` — a running cluster, one started for the run, or a peer
  (:mod:`bench.peers`);
- :mod:`~bench.harness.sweep` and :mod:`~bench.harness.capacity` — break points and scaling;
- :mod:`~bench.harness.comparison` — systems side by side, ratios against reckon;
- :mod:`~bench.harness.report` — ``report.md`` with plots and the capacity answer.
"""

from bench.harness.histogram import LatencyHistogram
from bench.harness.openloop import Operation, RunResult, Schedule, run_open_loop

__all__ = ["LatencyHistogram", "Operation", "RunResult", "Schedule", "run_open_loop"]
