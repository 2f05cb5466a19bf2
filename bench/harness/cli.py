"""``reckon bench``: open-loop capacity benchmarks with a report.

Exit status: 0 on success, 2 for a bad command line, an unwritable results folder or an
unreachable target or refused key (one line on stderr, no traceback), 1 when a started
cluster or the test data failed or no step could be measured, 130 on interrupt.

The command line is recorded in the report with the value of ``--key`` redacted.
"""

from __future__ import annotations

import math
import shlex
import sys

from bench.harness.capacity import CapacityAnswer, capacity_for
from bench.harness.comparison import compare_systems
from bench.harness.machine import describe_machine
from bench.harness.options import (
    BenchConfig,
    UsageError,
    build_parser,
    config_from_args,
    redact_key,
)
from bench.harness.progress import ProgressBar
from bench.harness.report import ReportData, SweepRecord, prepare_output, write_report
from bench.harness.runner import run_all
from bench.harness.scenarios import ScenarioError
from bench.harness.sweep import Objective
from bench.harness.targets import TargetError
from bench.peers import PEERS


def _significant(x: float) -> float:
    """``x`` rounded to two significant digits."""
    return round(x, 1 - math.floor(math.log10(x))) if x > 0 else 0.0


def main(argv: list[str] | None = None) -> int:
    """Run ``reckon bench`` with ``argv`` (without the program name)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help") for a in argv):
        build_parser().print_help()
        return 0
    try:
        config = config_from_args(build_parser().parse_args(argv))
        _prepare_output(config)
    except UsageError as e:
        print(f"reckon bench: {e}", file=sys.stderr)
        return 2
    progress = ProgressBar()
    try:
        records, target = run_all(config, progress)
    except TargetError as e:
        progress.finish()
        print(f"reckon bench: {e}", file=sys.stderr)
        return 2 if config.url is not None else 1
    except ScenarioError as e:
        progress.finish()
        print(f"reckon bench: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        progress.finish()
        print("reckon bench: interrupted", file=sys.stderr)
        return 130
    return _report(config, argv, records, target)


def _prepare_output(config: BenchConfig) -> None:
    """The report folder can be written (checked before any load); :class:`UsageError`
    when not."""
    try:
        prepare_output(config.results_dir, config.name)
    except OSError as e:
        raise UsageError(f"cannot write the report under --results-dir {config.results_dir}: "
                         f"{e.strerror or e}") from e


def _report(config: BenchConfig, argv: list[str], records: list[SweepRecord],
            target: str) -> int:
    """Write the report, print the answer; the exit status."""
    machine = describe_machine(peers=bool(config.peer or config.compare))
    objective = Objective(config.p99_s * 1000.0, config.max_failure_rate)
    answer = None if config.compare or config.echo_server else \
        _capacity(config, records, objective, machine.cores)
    objectives = sorted({objective, *([Objective(config.also_p99_s * 1000.0,
                                                 config.max_failure_rate)]
                                      if config.also_p99_s is not None else [])},
                        key=lambda o: o.p99_ms)
    comparison = (compare_systems(records, objectives)
                  if config.compare or config.also_p99_s is not None else None)
    units = "estimates" if set(config.weights) == {"batch"} else None
    data = ReportData(
        name=config.name, command="reckon bench " + shlex.join(redact_key(argv)),
        machine=machine, scenario=f"{'noop' if config.echo_server else _scenario_name(config)}",
        target=target, objective=objective, sweeps=records, capacity=answer, units=units,
        settings=_settings(config), notes=_notes(config), comparison=comparison)
    path = write_report(data, config.results_dir)
    if answer is not None:
        print(answer.sentence())
    if comparison is not None:
        for p in comparison.objectives:
            print(comparison.sentence(p))
    for r in records:
        print(f"{r.label}: sustainable {r.result.sustainable_rate:,.0f} ops/s"
              + (f" ({r.result.sustainable.units_rate:,.0f} estimates/s)"
                 if units and r.result.sustainable else ""))
    print(f"report: {path}")
    if not any(r.result.steps for r in records):
        print("reckon bench: no step was measured before the --max-time bound",
              file=sys.stderr)
        return 1
    return 0


def _capacity(config: BenchConfig, records: list[SweepRecord], objective: Objective,
              cores: int) -> CapacityAnswer | None:
    """The capacity answer; with --url the servers' cores are unknown unless given."""
    sustainable = {r.nodes: r.result.sustainable_rate for r in records if r.nodes is not None}
    not_reached = {r.nodes for r in records
                   if r.nodes is not None and not r.result.capacity_reached}
    best = max(sustainable.values(), default=0.0)
    target_rate = (config.capacity_for if config.capacity_for is not None
                   else _significant(10 * best))
    if config.cores_per_server is not None:
        cores_per_server: int | None = config.cores_per_server
    else:
        cores_per_server = None if config.url is not None else cores
    return capacity_for(target_rate, objective.p99_ms, sustainable, cores_per_server,
                        not_reached, rate_unit(config.weights))


def rate_unit(weights: dict[str, float]) -> str:
    """What the capacity answer's rate counts: one kind's operations by name, else
    operations."""
    names = {"estimate": "estimates/s", "batch": "batches/s", "forecast": "forecasts/s"}
    kinds = set(weights)
    return names.get(next(iter(kinds)), "operations/s") if len(kinds) == 1 else "operations/s"


def _settings(config: BenchConfig) -> dict[str, str]:
    peers = [n for n in ([config.peer] if config.peer else config.compare) if n in PEERS]
    return {"arrivals": config.arrivals, "seed": str(config.seed),
            "seconds per step": f"{config.duration:g}",
            "warm-up seconds": f"{config.warmup:g}",
            "connection pool": f"{config.connections} keep-alive connections, opened before "
                               "each step",
            "start timeout (drop)": f"{config.start_timeout:g} s",
            "request timeout": f"{config.request_timeout:g} s",
            **({"batch size": str(config.batch_size)} if "batch" in config.weights else {}),
            **({"peer workers/replicas": str(config.peer_workers)} if peers else {}),
            **({"a breaking step re-measured up to": f"{config.confirm} more time(s)"}
               if config.confirm else {}),
            **({"bisection steps after the break": str(config.refine)}
               if config.refine else {})}


def _notes(config: BenchConfig) -> list[str]:
    notes = []
    if config.peer or config.compare:
        notes.append("Every system under test shares this machine's cores with the load "
                     "generator (and reckon with its coordinator and PostgreSQL); each ran "
                     "alone, one after the other.")
        notes.append("The peers (bench/peers) compute the same estimate with the same "
                     "estimator, prior and history in-process, with the same validation and "
                     "response shape, but keep no estimate ledger, database or replica: "
                     "they do less per request than reckon.")
    elif config.url is None:
        notes.append("The load generator, the coordinator(s), the nodes and PostgreSQL share "
                     "this machine's cores: per-node capacity on dedicated servers is likely "
                     "higher.")
    if not config.echo_server and not config.peer and not config.compare:
        notes.append("The capacity answer assumes one node process per core and that the "
                     "coordinators and database are not the bottleneck (run more coordinators "
                     "with --coordinators N).")
    return notes


def _scenario_name(config: BenchConfig) -> str:
    if config.scenario != "mix":
        return str(config.scenario)
    return "mix(" + ",".join(f"{k}={w * 100:.0f}%" for k, w in sorted(config.weights.items())) \
        + ")"
