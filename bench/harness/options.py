"""``reckon bench`` options: the parser, unit parsing and the typed run configuration."""

from __future__ import annotations

import argparse
import math
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

from bench.harness.scenarios import KINDS, parse_mix
from bench.peers import INSTALL_HINT, PEERS

SCENARIOS = (*KINDS, "mix")
SYSTEMS = ("reckon", *PEERS)
PEER_KINDS = frozenset({"estimate", "batch"})
_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(us|µs|ms|s)?\s*$")
#: The most operations a second a single run or a sweep may offer (the generator, one
#: process, manages some tens of thousands).
MAX_RATE = 1_000_000.0
REDACTED = "REDACTED"


class UsageError(Exception):
    """A bad command line: reported in one line, exit status 2."""


def parse_duration(text: str, default_unit: str) -> float:
    """``"10ms"``, ``"0.5s"``, ``"200us"`` or a bare number in ``default_unit`` → seconds."""
    m = _DURATION.match(text)
    if not m:
        raise ValueError(f"bad duration {text!r} (e.g. 10ms, 0.5s, 200us)")
    unit = m.group(2) or default_unit
    scale = {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0}[unit]
    seconds = float(m.group(1)) * scale
    if not math.isfinite(seconds):
        raise ValueError(f"bad duration {text!r}: too large")
    return seconds


def normalise_url(url: str) -> str:
    """A ``http://host:port`` base URL (IPv6 hosts in brackets); raises :class:`ValueError`
    with a one-line reason when unusable."""
    try:
        parts = urlsplit(url)
        port = parts.port or 80
    except ValueError as e:
        raise ValueError(f"{url!r}: not a usable URL ({e})") from e
    if parts.scheme != "http":
        raise ValueError(f"{url!r}: only plain http:// URLs are supported (the load "
                         "generator speaks HTTP/1.1 without TLS)")
    host = parts.hostname
    if not host:
        raise ValueError(f"{url!r}: no host in the URL")
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def redact_key(argv: list[str]) -> list[str]:
    """``argv`` with the value of ``--key`` (``--key K``, ``--key=K`` or an abbreviation
    argparse accepts, such as ``--ke K``) replaced, so the recorded command holds no secret."""
    out, hide_next = [], False
    for arg in argv:
        name, eq, _ = arg.partition("=")
        if hide_next:
            out.append(REDACTED)
            hide_next = False
        elif len(name) >= 3 and "--key".startswith(name):
            out.append(f"{name}={REDACTED}" if eq else arg)
            hide_next = not eq
        else:
            out.append(arg)
    return out


def parse_node_counts(text: str) -> list[int]:
    """``"1,2,4"`` → [1, 2, 4]; each between 1 and 64."""
    try:
        counts = [int(x) for x in text.split(",") if x.strip()]
    except ValueError as e:
        raise ValueError(f"bad node counts {text!r} (e.g. 1,2,4)") from e
    if not counts or any(not 1 <= n <= 64 for n in counts):
        raise ValueError(f"bad node counts {text!r}: each must be between 1 and 64")
    return sorted(set(counts))


def parse_systems(text: str) -> list[str]:
    """``"reckon,fastapi,ray"`` → the systems in that order; at least two, each once."""
    names = [x.strip() for x in text.split(",") if x.strip()]
    unknown = [n for n in names if n not in SYSTEMS]
    if unknown:
        raise ValueError(f"bad --compare entry {unknown[0]!r}: expected some of "
                         f"{','.join(SYSTEMS)}")
    if len(names) < 2 or len(set(names)) != len(names):
        raise ValueError("--compare needs at least two different systems, e.g. "
                         "reckon,fastapi,ray")
    return names


@dataclass(frozen=True)
class BenchConfig:
    """Everything a run needs, checked."""

    url: str | None
    key: str | None
    node_counts: list[int]
    echo_server: bool
    peer: str | None
    peer_workers: int
    compare: list[str]
    scenario: str
    weights: dict[str, float]
    batch_size: int
    sweep: str | None
    rate: float | None
    start: float
    step: float | None
    factor: float | None
    max_rate: float
    max_steps: int
    p99_s: float
    also_p99_s: float | None
    max_failure_rate: float
    confirm: int
    refine: int
    duration: float
    warmup: float
    max_requests: int
    arrivals: str
    seed: int
    connections: int
    start_timeout: float
    request_timeout: float
    max_time: float
    name: str
    results_dir: Path
    capacity_for: float | None
    cores_per_server: int | None
    prepare: bool
    coordinators: int = 1
    tenants: int = 1
    #: A node sweep starts each node count at ``start`` times the count.
    start_per_node: bool = False

    @property
    def step_bound(self) -> float:
        """The longest one measured step can take, its --confirm tries included: the time
        a run must have left before --max-time to start one."""
        return (self.duration + self.start_timeout + self.request_timeout) * (1 + self.confirm)


class _ArgumentParser(argparse.ArgumentParser):
    """Raises :class:`UsageError` instead of printing usage and exiting."""

    def error(self, message: str) -> NoReturn:
        """Report a bad command line as a :class:`UsageError`."""
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``reckon bench``."""
    p = _ArgumentParser(
        prog="reckon bench",
        description="Capacity planning: open-loop load against a cluster, rate and node "
                    "sweeps, and a report with plots and a capacity answer.",
        epilog="Examples:\n"
               "  reckon bench --nodes 1 --sweep rate --start 200 --step 200 --until-p99 10ms\n"
               "  reckon bench --sweep nodes --nodes 1,2 --factor 1.5 --until-p99 10ms\n"
               "  reckon bench --url http://10.0.0.5:8080 --key $KEY --scenario mix "
               "--mix estimate=80,batch=5,actual=10,forecast=5 --rate 500\n"
               "  reckon bench --echo-server --sweep rate --start 2000 --step 2000\n"
               "  reckon bench --peer fastapi --sweep rate --start 200 --step 200\n"
               "  reckon bench --compare reckon,fastapi,ray --sweep rate --start 50 --factor 1.5 "
               "--until-p99 100ms --also-p99 10ms",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    t = p.add_argument_group("target (one of)")
    t.add_argument("--url", help="a running cluster's plain-HTTP base URL")
    t.add_argument("--key", help="API key for --url (default $RECKON_API_KEY)")
    t.add_argument("--nodes", help="start a local cluster with N nodes (a list for "
                                   "--sweep nodes); embedded PostgreSQL or $RECKON_DATABASE_URL")
    t.add_argument("--coordinators", type=int, default=1, metavar="N",
                   help="coordinator processes in a local cluster; the generator spreads its "
                        "connections over them (default 1)")
    t.add_argument("--tenants", type=int, default=1, metavar="N",
                   help="tenants in a local cluster, each with the demo history; operation i "
                        "goes to tenant i mod N (default 1; a tenant's reads are served by "
                        "its first owner node, so spreading load over nodes takes several)")
    t.add_argument("--echo-server", action="store_true",
                   help="measure the load generator itself against a trivial local server")
    t.add_argument("--peer", choices=tuple(PEERS),
                   help="start a peer (the same estimator served by another architecture, "
                        "see bench/peers) and measure it")
    t.add_argument("--compare", metavar="SYSTEMS",
                   help="run the same sweep against each of these in turn and compare, e.g. "
                        "reckon,fastapi,ray (reckon: a local cluster with --nodes N, default 1)")
    t2 = p.add_argument_group("peers")
    t2.add_argument("--peer-workers", type=int, default=1,
                    help="Uvicorn workers / Serve replicas of a peer (default 1)")
    s = p.add_argument_group("load")
    s.add_argument("--scenario", choices=SCENARIOS, default="estimate")
    s.add_argument("--mix", default="estimate=80,batch=5,actual=10,forecast=5",
                   help="weights for --scenario mix (default %(default)s)")
    s.add_argument("--batch-size", type=int, default=50, help="items per batch (1..1000)")
    s.add_argument("--rate", type=float, help="offered operations/s (a single run, no sweep)")
    s.add_argument("--arrivals", choices=("constant", "poisson"), default="constant")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--duration", default="5s", help="measured time per step (default 5s)")
    s.add_argument("--warmup", default="2s", help="unmeasured load before a sweep (default 2s)")
    s.add_argument("--max-requests", type=int, default=500_000, help="cap per step")
    s.add_argument("--connections", type=int, default=64, help="connection pool size")
    s.add_argument("--start-timeout", default="1s",
                   help="an operation not started this long after its time is dropped")
    s.add_argument("--request-timeout", default="5s", help="per operation")
    w = p.add_argument_group("sweep")
    w.add_argument("--sweep", choices=("rate", "nodes"))
    w.add_argument("--start", type=float, default=200.0, help="first offered rate")
    w.add_argument("--start-per-node", action="store_true",
                   help="in a node sweep, start each node count at --start times its node "
                        "count (so a big cluster does not climb from a small one's rates)")
    w.add_argument("--step", type=float, help="add this to the rate each step")
    w.add_argument("--factor", type=float, help="multiply the rate by this each step")
    w.add_argument("--until-p99", default="10ms", help="p99 objective (default 10ms)")
    w.add_argument("--also-p99", help="a second, stricter p99 objective the report also "
                                      "evaluates from the same steps")
    w.add_argument("--max-failure-rate", type=float, default=0.001)
    w.add_argument("--confirm", type=int, default=0, metavar="N",
                   help="measure a step that breaks the objective up to N more times before "
                        "stopping (for machines shared with other work; default 0)")
    w.add_argument("--refine", type=int, default=0, metavar="N",
                   help="after the objective breaks, bisect between the last sustainable rate "
                        "and the breaking one with up to N more steps (default 0)")
    w.add_argument("--max-steps", type=int, default=12)
    w.add_argument("--max-rate", type=float, default=100_000.0)
    w.add_argument("--max-time", default="1200s", help="bound on the whole run")
    r = p.add_argument_group("report")
    r.add_argument("--name", help="report folder name (default from the scenario and time)")
    r.add_argument("--results-dir", default="bench/results")
    r.add_argument("--capacity-for", type=float,
                   help="target operations/s for the capacity answer (default 10x measured)")
    r.add_argument("--cores-per-server", type=int,
                   help="cores of the servers to plan for (default this machine's for a "
                        "cluster it starts; with --url, without it, the answer counts node "
                        "processes only)")
    r.add_argument("--no-prepare", action="store_true",
                   help="do not import the demo history into the tenant first")
    return p


def _positive(name: str, value: float) -> None:
    if value <= 0:
        raise UsageError(f"{name} must be positive")


def _check_numbers(args: argparse.Namespace) -> None:
    """The float options are finite and in range; the counts the report uses are positive."""
    for name, value in (("--rate", args.rate), ("--start", args.start), ("--step", args.step),
                        ("--factor", args.factor), ("--max-rate", args.max_rate),
                        ("--max-failure-rate", args.max_failure_rate),
                        ("--capacity-for", args.capacity_for)):
        if value is not None and not math.isfinite(value):
            raise UsageError(f"{name} must be a finite number, not {value}")
    for name, value in (("--rate", args.rate), ("--start", args.start)):
        if value is not None and value > MAX_RATE:
            raise UsageError(f"{name} must be at most {MAX_RATE:,.0f} operations/s")
    if not 0 <= args.max_failure_rate < 1:
        raise UsageError("--max-failure-rate must be at least 0 and below 1 (e.g. 0.001)")
    if args.capacity_for is not None:
        _positive("--capacity-for", args.capacity_for)
    if args.cores_per_server is not None:
        _positive("--cores-per-server", args.cores_per_server)
    if args.seed < 0:
        raise UsageError("--seed must be 0 or more")


def _check_time(config: BenchConfig) -> None:
    """Each step holds at least one operation, and --max-time has room for one step."""
    rate = config.rate if config.rate is not None else config.start
    if rate * config.duration < 1:
        raise UsageError(f"--duration {config.duration:g}s holds no operation at {rate:g}/s: "
                         f"give at least {1 / rate:.3g}s")
    need = config.warmup + config.step_bound
    if config.max_time < need:
        raise UsageError(f"--max-time {config.max_time:g}s leaves no room for one step: give "
                         f"at least {need:g}s (warm-up, then --duration, --start-timeout and "
                         "--request-timeout" + (", for each --confirm try" if config.confirm
                                                else "") + ")")


def config_from_args(args: argparse.Namespace, environ: dict[str, str] | None = None
                     ) -> BenchConfig:
    """Check the parsed arguments; raise :class:`UsageError` with a one-line message."""
    env = dict(os.environ) if environ is None else environ
    targets = sum([args.url is not None, args.nodes is not None and args.compare is None,
                   bool(args.echo_server), args.peer is not None, args.compare is not None])
    if targets != 1:
        raise UsageError("give exactly one target: --url URL --key KEY, --nodes N, "
                         "--peer NAME, --compare SYSTEMS or --echo-server")
    _check_numbers(args)
    try:
        if args.url is not None:
            normalise_url(args.url)
        compare = parse_systems(args.compare) if args.compare is not None else []
        counts = parse_node_counts(args.nodes) if args.nodes is not None else []
        also_p99 = (parse_duration(args.also_p99, "ms") if args.also_p99 is not None
                    else None)
        weights = (parse_mix(args.mix) if args.scenario == "mix" else
                   {"noop": 1.0} if args.echo_server else {args.scenario: 1.0})
        p99 = parse_duration(args.until_p99, "ms")
        duration = parse_duration(args.duration, "s")
        warmup = parse_duration(args.warmup, "s")
        start_timeout = parse_duration(args.start_timeout, "s")
        request_timeout = parse_duration(args.request_timeout, "s")
        max_time = parse_duration(args.max_time, "s")
    except ValueError as e:
        raise UsageError(str(e)) from e
    if compare and "reckon" in compare and not counts:
        counts = [1]
    if compare and counts and "reckon" not in compare:
        raise UsageError("--nodes sets reckon's node count in --compare; add reckon to the list")
    if compare and len(counts) > 1:
        raise UsageError("--compare takes one node count for reckon, e.g. --nodes 1")
    if compare and args.sweep == "nodes":
        raise UsageError("--compare runs a rate sweep per system; it takes no --sweep nodes")
    peers = [n for n in ([args.peer] if args.peer else compare) if n in PEERS]
    for name in peers:
        missing = PEERS[name].missing()
        if missing:
            raise UsageError(f"the {name} peer needs {', '.join(missing)}: {INSTALL_HINT}")
    if peers and not set(weights) <= PEER_KINDS:
        raise UsageError("the peers answer estimates only: use --scenario estimate, batch, or "
                         "a mix of those two")
    if not 0 <= args.confirm <= 5:
        raise UsageError("--confirm must be between 0 and 5")
    if not 0 <= args.refine <= 8:
        raise UsageError("--refine must be between 0 and 8")
    if not 1 <= args.coordinators <= 16:
        raise UsageError("--coordinators must be between 1 and 16")
    if args.coordinators > 1 and not counts:
        raise UsageError("--coordinators is for a local cluster (--nodes N, or reckon in "
                         "--compare)")
    if not 1 <= args.tenants <= 1000:
        raise UsageError("--tenants must be between 1 and 1000")
    if args.tenants > 1 and not counts:
        raise UsageError("--tenants is for a local cluster (--nodes N, or reckon in "
                         "--compare)")
    if not 1 <= args.peer_workers <= 64:
        raise UsageError("--peer-workers must be between 1 and 64")
    if also_p99 is not None and not 0 < also_p99 < p99:
        raise UsageError("--also-p99 must be positive and stricter than --until-p99 (which "
                         "decides when a sweep stops)")
    key = args.key or env.get("RECKON_API_KEY")
    if args.url is not None and not key:
        raise UsageError("--url needs --key KEY (or $RECKON_API_KEY)")
    if args.sweep == "nodes" and args.nodes is None:
        raise UsageError("--sweep nodes needs --nodes with a list of node counts, e.g. 1,2,4")
    if args.sweep != "nodes" and len(counts) > 1:
        raise UsageError("several node counts need --sweep nodes")
    if args.sweep is None and args.rate is None:
        raise UsageError("give --rate R for a single run, or --sweep rate|nodes")
    if args.sweep is not None and args.rate is not None:
        raise UsageError("--rate is for a single run; a sweep uses --start with --step or "
                         "--factor")
    if args.start_per_node and args.sweep != "nodes":
        raise UsageError("--start-per-node is for --sweep nodes")
    if args.step is not None and args.factor is not None:
        raise UsageError("give --step or --factor, not both")
    if args.factor is not None and args.factor <= 1:
        raise UsageError("--factor must be above 1")
    if args.sweep is not None and args.max_rate < args.start:
        raise UsageError(f"--max-rate {args.max_rate:g} is below --start {args.start:g}: the "
                         "sweep would measure nothing")
    for name, value in (("--rate", args.rate if args.rate is not None else 1.0),
                        ("--start", args.start), ("--duration", duration),
                        ("--until-p99", p99), ("--connections", args.connections),
                        ("--max-requests", args.max_requests), ("--max-steps", args.max_steps),
                        ("--start-timeout", start_timeout),
                        ("--request-timeout", request_timeout), ("--max-time", max_time),
                        ("--step", args.step if args.step is not None else 1.0)):
        _positive(name, value)
    if args.connections > 10_000:
        raise UsageError("--connections must be at most 10000")
    if not 1 <= args.batch_size <= 1000:
        raise UsageError("--batch-size must be between 1 and 1000")
    if args.echo_server and args.scenario != "estimate":
        raise UsageError("--echo-server measures the generator only; it takes no --scenario")
    step = args.step if args.step is not None or args.factor is not None else args.start
    prefix = "compare-" if compare else f"{args.peer}-" if args.peer else ""
    name = args.name or (f"{prefix}{'generator' if args.echo_server else args.scenario}-"
                         f"{time.strftime('%Y%m%d-%H%M%S')}")
    if "/" in name or name in ("", ".", ".."):
        raise UsageError(f"bad --name {name!r}")
    config = BenchConfig(
        url=args.url, key=key, node_counts=counts, echo_server=bool(args.echo_server),
        peer=args.peer, peer_workers=args.peer_workers, compare=compare,
        scenario="noop" if args.echo_server else args.scenario, weights=weights,
        batch_size=args.batch_size, sweep=args.sweep, rate=args.rate, start=args.start,
        step=step if args.factor is None else None, factor=args.factor,
        max_rate=args.max_rate, max_steps=args.max_steps, p99_s=p99, also_p99_s=also_p99,
        max_failure_rate=args.max_failure_rate, confirm=args.confirm, refine=args.refine,
        duration=duration,
        warmup=warmup,
        max_requests=args.max_requests, arrivals=args.arrivals, seed=args.seed,
        connections=args.connections, start_timeout=start_timeout,
        request_timeout=request_timeout, max_time=max_time, name=name,
        results_dir=Path(args.results_dir), capacity_for=args.capacity_for,
        cores_per_server=args.cores_per_server, prepare=not args.no_prepare,
        coordinators=args.coordinators, tenants=args.tenants,
        start_per_node=args.start_per_node,
    )
    _check_time(config)
    return config
