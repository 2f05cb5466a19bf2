"""Runs the measurements a configuration asks for: one step, a rate sweep, one rate sweep per
node count, or one rate sweep per compared system, each against its target."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace

from bench.cluster_setup import postgres, scratch_dir
from bench.harness.openloop import (
    PoolConfig,
    RunResult,
    Schedule,
    run_blocking,
    run_open_loop,
)
from bench.harness.options import BenchConfig
from bench.harness.progress import ProgressBar
from bench.harness.report import SweepRecord
from bench.harness.scenarios import Scenario
from bench.harness.sweep import (
    KindLatency,
    Objective,
    Step,
    SweepResult,
    rate_steps,
    rate_sweep,
)
from bench.harness.targets import (
    Endpoint,
    check_reachable,
    live_nodes,
    parse_url,
    started_cluster,
    started_echo_server,
    started_peer,
)
from bench.peers import PEERS


def to_step(result: RunResult) -> Step:
    """Reduce an open-loop run to a sweep step."""
    s = result.latency.summary()
    by_kind = {}
    if len(result.kinds) > 1:
        for kind, stats in sorted(result.kinds.items()):
            k = stats.latency.summary()
            by_kind[kind] = KindLatency(stats.ok, stats.failed, k.p50_ms, k.p99_ms)
    return Step(offered=result.offered_rate, achieved=result.achieved_rate,
                units_rate=result.units_rate, p50_ms=s.p50_ms, p90_ms=s.p90_ms,
                p99_ms=s.p99_ms, p999_ms=s.p999_ms, max_ms=s.max_ms,
                scheduled=result.scheduled, failures=result.failures, by_kind=by_kind,
                failure_kinds=result.failure_kinds(),
                failure_examples={f"HTTP {k}": v for k, v in result.error_examples.items()
                                  if v})


@dataclass
class Runner:
    """Measures steps against one endpoint with one scenario, within a deadline."""

    config: BenchConfig
    endpoint: Endpoint
    scenario: Scenario
    progress: ProgressBar
    deadline: float

    def run_step(self, rate: float, duration: float, label: str) -> RunResult:
        """One open-loop run at ``rate`` for ``duration`` seconds."""
        c = self.config
        schedule = Schedule(rate, duration, c.max_requests, c.arrivals, c.seed)
        pool = PoolConfig(c.connections, c.start_timeout, c.request_timeout)
        self.progress.start(label)
        return run_blocking(run_open_loop(self.endpoint.host, self.endpoint.port,
                                          self.scenario, schedule, pool, self.progress.update,
                                          self.endpoint.addresses[1:]))

    def measure(self, rate: float) -> Step:
        """A measured step, reported on stderr when done."""
        result = self.run_step(rate, self.config.duration, f"{rate:,.0f}/s offered")
        step = to_step(result)
        self.progress.finish(
            f"  offered {step.offered:8,.0f}/s  achieved {step.achieved:8,.0f}/s  "
            f"p50 {step.p50_ms:7.2f} ms  p99 {step.p99_ms:7.2f} ms  max {step.max_ms:7.1f} ms"
            f"  failures {step.failures}/{step.scheduled}"
            + (f" ({step.failures_text})" if step.failures else "")
            + "".join(f"\n    the first {kind} answered: {' '.join(body.split())[:200]}"
                      for kind, body in sorted(step.failure_examples.items())))
        return step

    def sweep(self) -> SweepResult:
        """The configured single run or rate sweep (stops early at the deadline)."""
        c = self.config
        if c.rate is not None:
            rates: Iterator[float] = iter([c.rate])
        else:
            rates = rate_steps(c.start, c.step, c.factor, c.max_rate, c.max_steps)
        objective = Objective(c.p99_s * 1000.0, c.max_failure_rate)
        if c.warmup > 0:
            self.run_step(c.rate or c.start, c.warmup, "warm-up")
            self.progress.finish()
        cut: list[str] = []
        result = rate_sweep(self.measure, self._until_deadline(rates, cut), objective,
                            c.confirm, c.refine, more_time=self._more_time)
        if result.broken_by is None and cut:
            result.cut_short = cut[0]
        return result

    def _more_time(self) -> bool:
        """Whether one more step fits before the deadline."""
        return time.monotonic() + self.config.step_bound <= self.deadline

    def _until_deadline(self, rates: Iterator[float], cut: list[str]) -> Iterator[float]:
        """``rates`` while a step fits before the deadline; says in ``cut`` when it stopped
        them."""
        for rate in rates:
            if not self._more_time():
                cut.append(f"stopped at the --max-time bound before {rate:,.0f}/s")
                return
            yield rate


def key_scopes(config: BenchConfig) -> tuple[str, ...]:
    """The API key scopes a run needs: ``read`` for estimates and forecasts, ``write`` for
    actuals and for importing the demo history."""
    reads = bool(set(config.weights) & {"estimate", "batch", "forecast"})
    writes = "actual" in config.weights or config.prepare
    return ("read",) * reads + ("write",) * writes


def _scenario(config: BenchConfig, endpoint: Endpoint) -> Scenario:
    return Scenario(endpoint.host, endpoint.port, endpoint.key or "", config.weights,
                    config.batch_size, config.seed, more_keys=endpoint.more_keys)


def _sweep_endpoint(config: BenchConfig, endpoint: Endpoint, label: str,
                    progress: ProgressBar, deadline: float) -> SweepResult:
    scenario = _scenario(config, endpoint)
    if config.prepare and scenario.needs_history and not endpoint.seeded:
        progress.finish(f"{label}: importing the demo history")
        scenario.prepare(endpoint.url)
    described = endpoint.description
    progress.finish(described if described.startswith(label) else f"{label}: {described}")
    return Runner(config, endpoint, scenario, progress, deadline).sweep()


@contextmanager
def _admin_postgres() -> Iterator[tuple[str, ExitStack]]:
    with ExitStack() as stack:
        tmp = stack.enter_context(scratch_dir())
        admin = stack.enter_context(postgres(tmp))
        yield admin, stack


@contextmanager
def _reckon_cluster(nodes: int, coordinators: int, tenants: int) -> Iterator[Endpoint]:
    with _admin_postgres() as (admin, stack):
        workdir = stack.enter_context(scratch_dir())
        with started_cluster(admin, nodes, workdir, coordinators=coordinators,
                             tenants=tenants) as endpoint:
            yield endpoint


def _compare(config: BenchConfig, progress: ProgressBar, deadline: float
             ) -> tuple[list[SweepRecord], str]:
    """The same sweep against each system of ``--compare`` in turn, each started alone (its
    database too) and stopped before the next starts."""
    records, described = [], []
    for system in config.compare:
        nodes: int | None = None
        if system == "reckon":
            nodes = config.node_counts[0]
            label = f"reckon ({nodes} node{'s' if nodes != 1 else ''}" + (
                f", {config.coordinators} coordinators)" if config.coordinators > 1 else ")")
            target = _reckon_cluster(nodes, config.coordinators, config.tenants)
        else:
            label, target = PEERS[system].label, started_peer(system, config.peer_workers)
        with target as endpoint:
            result = _sweep_endpoint(config, endpoint, label, progress, deadline)
        described.append(f"{label}: {endpoint.description}")
        records.append(SweepRecord(label, nodes, result, system))
        if time.monotonic() >= deadline:
            break
    return records, ("each system started in turn by the command, alone on this machine with "
                     "the load generator — " + "; ".join(described))


def run_all(config: BenchConfig, progress: ProgressBar) -> tuple[list[SweepRecord], str]:
    """Every sweep the configuration asks for, and a description of the target.

    Raises :class:`~bench.harness.targets.TargetError` when a target is unusable and
    :class:`~bench.harness.scenarios.ScenarioError` when its data cannot be prepared.
    Started clusters and servers are always stopped, also on error or interrupt.
    """
    deadline = time.monotonic() + config.max_time
    if config.url is not None:
        endpoint = Endpoint(parse_url(config.url), config.key or "", f"cluster at {config.url}")
        check_reachable(endpoint, scopes=key_scopes(config))
        nodes = live_nodes(endpoint)
        label = f"{config.url} ({nodes} live nodes)" if nodes else config.url
        result = _sweep_endpoint(config, endpoint, label, progress, deadline)
        return [SweepRecord(label, nodes, result)], endpoint.description
    if config.peer is not None:
        label = PEERS[config.peer].label
        with started_peer(config.peer, config.peer_workers) as endpoint:
            result = _sweep_endpoint(config, endpoint, label, progress, deadline)
            return [SweepRecord(label, None, result, config.peer)], endpoint.description
    if config.compare:
        return _compare(config, progress, deadline)
    if config.echo_server:
        with started_echo_server() as endpoint:
            result = _sweep_endpoint(config, endpoint, "echo server", progress, deadline)
            return [SweepRecord("echo server", None, result)], endpoint.description
    records = []
    with _admin_postgres() as (admin, stack):
        workdir = stack.enter_context(scratch_dir())
        for n in config.node_counts:
            label = f"{n} node{'s' if n != 1 else ''}"
            with started_cluster(admin, n, workdir / f"n{n}",
                                 coordinators=config.coordinators,
                                 tenants=config.tenants) as endpoint:
                at_n = replace(config, start=config.start * n) if config.start_per_node \
                    else config
                result = _sweep_endpoint(at_n, endpoint, label, progress, deadline)
            records.append(SweepRecord(label, n, result))
            if time.monotonic() >= deadline:
                break
    counts = ",".join(str(n) for n in config.node_counts)
    coordinators = (f"{config.coordinators} coordinators (the generator's connections "
                    "spread over them)" if config.coordinators > 1 else "1 coordinator")
    tenants = (f", the load spread over {config.tenants} tenants" if config.tenants > 1
               else "")
    return records, (f"local cluster(s) started by the command: {coordinators} and {counts} "
                     f"node(s), R=min(2,N), all on loopback with the load generator{tenants}")
