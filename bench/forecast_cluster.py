"""Wall time of a large forecast through HTTP on 1 node against N nodes.

    python -m bench.forecast_cluster [--trials 1000000] [--tasks 200] [--nodes 1,2] [--repeat 3]

For each node count, starts a coordinator and that many node processes (embedded PostgreSQL
unless $RECKON_DATABASE_URL is set), posts the same random project with the same seed, and
reports the best wall time, trials per second, and the speed-up against one node. The answers
are checked to be identical (the same seed gives the same forecast whatever the split).
"""

from __future__ import annotations

import argparse
import secrets
import sys
import time

import anyio
import httpx
import numpy as np

from bench.cluster_setup import free_port, postgres, prepare_database, scratch_dir
from coordinator.launcher import LocalCluster, LocalClusterSpec


def random_project(n_tasks: int, trials: int, seed: int = 0) -> dict:
    """A random acyclic project: three-point and fixed tasks, a few risks, correlation."""
    rng = np.random.default_rng(seed)
    tasks = []
    for i in range(n_tasks):
        task: dict = {"id": f"t{i}"}
        deps = sorted({int(j) for j in rng.integers(0, i, size=rng.integers(0, 4))}) if i else []
        if deps:
            task["depends_on"] = [f"t{j}" for j in deps]
        if rng.random() < 0.85:
            o, m, p = np.sort(rng.uniform(1.0, 20.0, size=3))
            task.update(optimistic=round(o, 2), likely=round(m, 2), pessimistic=round(p, 2))
        else:
            task["effort"] = round(float(rng.uniform(1, 10)), 2)
        tasks.append(task)
    risks = [{"probability": 0.1, "extra_effort": 15,
              "tasks": [f"t{int(j)}" for j in rng.integers(0, n_tasks, size=3)]}
             for _ in range(max(1, n_tasks // 100))]
    return {"tasks": tasks, "risks": risks, "correlation": 0.3, "trials": trials,
            "seed": 2024}


def main(argv: list[str] | None = None) -> int:
    """Run the comparison and print a markdown table."""
    p = argparse.ArgumentParser(prog="python -m bench.forecast_cluster", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trials", type=int, default=1_000_000)
    p.add_argument("--tasks", type=int, default=200)
    p.add_argument("--nodes", default="1,2", type=lambda s: [int(x) for x in s.split(",")])
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    project = random_project(args.tasks, args.trials)
    rows = []
    answers = []
    with scratch_dir() as tmp, postgres(tmp) as admin:
        for n in args.nodes:
            url, key = anyio.run(prepare_database, admin)
            spec = LocalClusterSpec(
                database_url=url, secret=secrets.token_hex(16), workdir=tmp / f"n{n}",
                http_port=free_port(), coordinator_nng_port=free_port(),
                node_ports=[free_port() for _ in range(n)], replication=min(2, n),
                extra_env={"RECKON_LOG_LEVEL": "warning"})
            cluster = LocalCluster(spec)
            try:
                cluster.start(timeout=120)
                times, served = [], []
                for _ in range(args.repeat):
                    t0 = time.perf_counter()
                    r = httpx.post(cluster.url + "/v1/forecasts", json=project, timeout=900,
                                   headers={"Authorization": f"Bearer {key}"})
                    times.append(time.perf_counter() - t0)
                    r.raise_for_status()
                    served.append(r.json()["elapsed_ms"] / 1000.0)
                body = r.json()
                answers.append((body["duration"]["percentiles"], body["effort"]["histogram"]))
                best = min(times)
                rows.append((n, best, args.trials / best, body["parts"]))
                print(f"  {n} node(s): best {best:.2f} s of {[round(t, 2) for t in times]}; "
                      f"the coordinator's simulation and merge took "
                      f"{[round(t, 2) for t in served]} s", file=sys.stderr)
            finally:
                cluster.stop()
    same = all(a == answers[0] for a in answers)
    print(f"\n## {args.trials:,}-trial forecast, {args.tasks} tasks, through HTTP\n")
    print("| nodes | parts | best wall s | trials/s | speed-up vs 1 node | efficiency |")
    print("|---|---|---|---|---|---|")
    for n, best, tps, parts in rows:
        speedup = rows[0][1] / best
        print(f"| {n} | {parts} | {best:.2f} | {tps:,.0f} | {speedup:.2f} | "
              f"{speedup / (n / rows[0][0]):.0%} |")
    print(f"\nidentical answers across node counts: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
