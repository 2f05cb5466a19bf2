"""Single-estimate throughput and latency through HTTP: the demo cluster vs no node hop.

    python -m bench.http_load [--duration 10] [--concurrency 1,16] [--nodes 2]
                              [--profile DIR]

Starts an embedded PostgreSQL (or uses $RECKON_DATABASE_URL), then, one after the other in
the same run: (a) the demo cluster — a coordinator and N node processes, R = min(2, N); and
(b) a coordinator that computes estimates in-process. Both get the demo tenant's history and
the same requests; the figures of (b) are the baseline the ratios are taken against. The load
generator is closed-loop and runs on the same machine (it competes for the same cores).

With ``--profile DIR``, the measurement at the highest concurrency also records each
process's CPU time per request and py-spy samples sorted into the layers of the stack
(:mod:`bench.service_profile`; needs ``py-spy`` on PATH), printed after the table; the raw
samples are kept in DIR.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import platform
import secrets
import sys
import time
from importlib import resources
from pathlib import Path

import anyio
import httpx

from bench.cluster_setup import free_port, postgres, prepare_database, scratch_dir
from bench.loadgen import LoadResult, build_request, run_load
from bench.service_profile import ServiceProfiler, py_spy
from coordinator.launcher import LocalCluster, LocalClusterSpec

TITLES = [
    "Rewrite invoicing module",
    "Customer portal with reporting",
    "Inventory sync job",
    "Payroll export to bank format",
    "Order entry screens",
    "Data warehouse loader",
]


def _requests(port: int, key: str) -> list[bytes]:
    out = []
    for i in range(64):
        body = json.dumps(
            {
                "title": TITLES[i % len(TITLES)],
                "features": {
                    "Transactions": 50 + 17 * i,
                    "Entities": 20 + 5 * i,
                    "Language": ["basic", "advanced", "4gl"][i % 3],
                },
            }
        )
        out.append(
            build_request(
                "127.0.0.1",
                port,
                "/v1/estimates",
                body.encode(),
                {"Authorization": f"Bearer {key}"},
            )
        )
    return out


def _measure(
    cluster: LocalCluster, key: str, args: argparse.Namespace, label: str
) -> dict[int, LoadResult]:
    r = httpx.post(
        cluster.url + "/v1/items",
        timeout=60,
        content=resources.files("coordinator.demo_data").joinpath("desharnais.csv").read_bytes(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "text/csv"},
    )
    r.raise_for_status()
    reqs = _requests(cluster.spec.http_port, key)
    asyncio.run(
        run_load(
            "127.0.0.1",
            cluster.spec.http_port,
            reqs,
            concurrency=4,
            duration=2.0,
            max_requests=5000,
        )
    )  # warm-up: JIT, caches, pools
    results = {}
    for c in args.concurrency:
        with contextlib.ExitStack() as stack:
            profiler = None
            if args.profile is not None and c == max(args.concurrency):
                processes = {f"{label.split()[0]} coordinator": _pid(cluster.coordinator)}
                processes.update({f"node-{i}": _pid(p) for i, p in enumerate(cluster.nodes)})
                profiler = stack.enter_context(ServiceProfiler(
                    processes, args.profile / label.split()[0], args.duration))
            res = asyncio.run(
                run_load(
                    "127.0.0.1",
                    cluster.spec.http_port,
                    reqs,
                    concurrency=c,
                    duration=args.duration,
                    max_requests=args.max_requests,
                )
            )
        if profiler is not None:
            PROFILES.append((f"{label}, c={c}, {res.requests} requests",
                             profiler.report(res.requests)))
        results[c] = res
        print(
            f"  {label:<22} c={c:<3} {res.throughput:8.0f} req/s  p50 {res.percentile(50):6.2f}"
            f" ms  p99 {res.percentile(99):6.2f} ms  statuses {res.statuses}"
            f" errors {res.errors}",
            file=sys.stderr,
        )
    return results


PROFILES: list[tuple[str, str]] = []


def _pid(process: object) -> int:
    pid = getattr(process, "pid", None)
    if not isinstance(pid, int):
        raise RuntimeError("a cluster process is not running")
    return pid


def _run_mode(
    url: str, key: str, args: argparse.Namespace, workdir: Path, inprocess: bool
) -> dict[int, LoadResult]:
    nodes = 0 if inprocess else args.nodes
    spec = LocalClusterSpec(
        database_url=url,
        secret=secrets.token_hex(16),
        workdir=workdir,
        http_port=free_port(),
        coordinator_nng_port=free_port(),
        node_ports=[free_port() for _ in range(nodes)],
        replication=1 if inprocess else min(2, nodes),
        coordinator_command=(
            ("-m", "bench.inprocess_coordinator")
            if inprocess
            else ("-m", "coordinator.cli", "coordinator")
        ),
        extra_env={"RECKON_LOG_LEVEL": "warning"},
    )
    cluster = LocalCluster(spec)
    try:
        if nodes:
            cluster.start(timeout=120)
        else:  # the in-process coordinator is its own (single) member
            cluster.start_coordinator()
            cluster.wait_ready(1, 120)
        label = "in-process (no hop)" if inprocess else f"cluster ({nodes} nodes)"
        return _measure(cluster, key, args, label)
    finally:
        cluster.stop()


def main(argv: list[str] | None = None) -> int:
    """Run both modes and print a comparison table (markdown) on stdout."""
    p = argparse.ArgumentParser(
        prog="python -m bench.http_load",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    p.add_argument("--max-requests", type=int, default=200_000, help="cap per measurement")
    p.add_argument("--concurrency", default="1,16", type=lambda s: [int(x) for x in s.split(",")])
    p.add_argument("--nodes", type=int, default=2)
    p.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    p.add_argument("--profile", type=Path, metavar="DIR",
                   help="profile the processes at the highest concurrency (needs py-spy)")
    args = p.parse_args(argv)
    if args.profile is not None:
        try:
            py_spy()
        except RuntimeError as e:
            print(f"python -m bench.http_load: {e}", file=sys.stderr)
            return 2
    results = {}
    with scratch_dir(args.keep) as tmp, postgres(tmp) as admin:
        if args.keep:
            print(f"work directory kept: {tmp}", file=sys.stderr)
        for inprocess in (False, True):
            url, key = anyio.run(prepare_database, admin)
            results[inprocess] = _run_mode(
                url, key, args, tmp / ("inproc" if inprocess else "cluster"), inprocess
            )
    print(
        f"\n## Single estimates through HTTP ({time.strftime('%Y-%m-%d')}, "
        f"{platform.processor() or platform.machine()}, {_cores()} cores, "
        f"Python {platform.python_version()})\n"
    )
    print(
        "| setup | concurrency | req/s | p50 ms | p99 ms | req/s vs in-process | "
        "p50 vs in-process |"
    )
    print("|---|---|---|---|---|---|---|")
    for c in args.concurrency:
        base = results[True][c]
        for inprocess in (False, True):
            r = results[inprocess][c]
            name = "in-process (no hop)" if inprocess else f"cluster, {args.nodes} nodes"
            print(
                f"| {name} | {c} | {r.throughput:.0f} | {r.percentile(50):.2f} | "
                f"{r.percentile(99):.2f} | {r.throughput / base.throughput:.2f} | "
                f"{r.percentile(50) / base.percentile(50):.2f} |"
            )
    for title, table in PROFILES:
        print(f"\n### Where the time goes: {title}\n")
        print(table)
    return 0


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0))


if __name__ == "__main__":
    sys.exit(main())
